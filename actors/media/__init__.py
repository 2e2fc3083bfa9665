"""Media: what a file holds and how hlsd plays it. Pure where it can be, no actors.

- ``library``: media ids and the files they name (``resolve_media``, ``list_media``).
- ``probe``: ``Prober`` (ffprobe once per file version) and ``MediaInfo``.
- ``plan``: ``Plan`` and ``make_plan``: the renditions and their segment grids; the one
  owner of those facts.
- ``playlists``: the master and media playlists of a plan.
- ``recipe``: FFmpeg's arguments for one run, and how to read what it reports.
"""
from actors.media.library import MEDIA_EXTENSIONS, list_media, resolve_media
from actors.media.plan import (
    Plan,
    copies_audio,
    make_plan,
    needs_keyframes,
    output_size,
    renditions,
    segment_boundaries,
    segment_for_time,
)
from actors.media.playlists import PlaylistCache, master_playlist, media_playlist
from actors.media.probe import AudioStream, MediaInfo, Prober, VideoStream
from actors.media.recipe import (
    TIMELINE_OFFSET,
    ListedSegment,
    ffmpeg_args,
    parse_segment_list_line,
    reaches_its_boundary,
)

__all__ = [
    "MEDIA_EXTENSIONS", "TIMELINE_OFFSET",
    "AudioStream", "ListedSegment", "MediaInfo", "Plan", "PlaylistCache", "Prober", "VideoStream",
    "copies_audio", "ffmpeg_args", "list_media", "make_plan", "master_playlist",
    "media_playlist", "needs_keyframes", "output_size", "parse_segment_list_line",
    "reaches_its_boundary", "renditions", "resolve_media", "segment_boundaries",
    "segment_for_time",
]
