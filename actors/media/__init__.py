"""Media: what a file holds and how hlsd plays it. Pure where it can be, no actors.

- ``profiles``: ``Profile`` (a rendition as ``hls.profiles`` names it) and its parser.
- ``library``: media ids and the files they name (``resolve_media``, ``list_media``).
- ``probe``: ``Prober`` (ffprobe once per file version) and ``MediaInfo``.
- ``plan``: ``Plan`` and ``make_plan``: the renditions and their segment grids; the one
  owner of those facts.
- ``playlists``: the master and media playlists of a plan.
- ``codecs``, ``fmp4``: CODECS read from an init segment; the init segments of fMP4
  renditions (``InitSegments``) and the fragments served after them.
- ``recipe``: FFmpeg's arguments for one run, and how to read what it reports.
- ``runs``: what one FFmpeg run makes (``RenditionKey``, ``RunKind``) and its recipe
  (``recipe_for(plan, key, start)``), asking the plan, whole.
- ``tracks``, ``sidecars``, ``filters``, ``track_recipes``: every stream of a file, the
  subtitle files beside it, what a source needs, the audio and subtitle recipes.
"""
from actors.media.fmp4 import InitSegments
from actors.media.library import MEDIA_EXTENSIONS, list_media, resolve_media
from actors.media.plan import (
    AAC_FRAME_SAMPLES,
    Container,
    Plan,
    audio_channels,
    copies_audio,
    make_plan,
    needs_keyframes,
    output_size,
    renditions,
    segment_boundaries,
    segment_for_time,
    with_inits,
)
from actors.media.playlists import PlaylistCache, master_playlist, media_playlist, plan_master_playlist
from actors.media.probe import AudioStream, MediaInfo, Prober, VideoStream
from actors.media.profiles import DEFAULT_PROFILES, Profile, parse_profiles
from actors.media.recipe import (
    TIMELINE_OFFSET,
    ListedSegment,
    ffmpeg_args,
    parse_segment_list_line,
    reaches_its_boundary,
)
from actors.media.runs import (SUBTITLE_FILE, Recipe, RenditionKey, RunKind,
                               check_rendition, recipe_for)
from actors.media.sidecars import find_sidecars
from actors.media.track_recipes import (
    audio_rendition_args,
    parse_webvtt,
    webvtt_conversion_args,
    webvtt_segments,
)
from actors.media.chapters import Chapter, chapter_json
from actors.media.tracks import audio_json, subtitle_json

__all__ = [
    "AAC_FRAME_SAMPLES", "DEFAULT_PROFILES", "MEDIA_EXTENSIONS", "TIMELINE_OFFSET", "audio_channels",
    "Chapter", "chapter_json",
    "audio_json", "audio_rendition_args", "find_sidecars", "parse_webvtt",
    "plan_master_playlist", "subtitle_json", "webvtt_conversion_args", "webvtt_segments",
    "AudioStream", "ListedSegment", "MediaInfo", "Plan", "PlaylistCache", "Profile", "Prober", "VideoStream",
    "copies_audio", "ffmpeg_args", "list_media", "make_plan", "master_playlist",
    "media_playlist", "needs_keyframes", "parse_profiles", "output_size", "parse_segment_list_line",
    "reaches_its_boundary", "renditions", "resolve_media", "segment_boundaries",
    "segment_for_time", "SUBTITLE_FILE", "Recipe", "RenditionKey", "RunKind", "check_rendition",
    "recipe_for", "Container", "InitSegments", "with_inits",
]
