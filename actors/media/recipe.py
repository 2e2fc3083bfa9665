"""The FFmpeg recipe: the arguments of one run, and how to read what it reports.

``ffmpeg_args(plan, rendition, start_segment, out_dir, progress_fd, list_fd)``: FFmpeg's
arguments (after argv[0]) for a run that writes ``out_dir/{n}.ts`` from segment
``start_segment`` on; ``parse_segment_list_line`` reads what it reports on ``list_fd``,
one line per finished segment, in order, starting with ``start_segment``. A run that is
stopped lists the segment it was writing too: ``reaches_its_boundary`` tells.

The FFmpeg recipe, and why (each point is checked by tests/actors/media/test_recipe.py):

- Output goes through the segment muxer with ``-segment_times`` set to the playlist's
  boundaries and ``-segment_start_number``, so a run's numbering matches the playlist
  whatever segment it starts at. The muxer writes a segment's csv line to the list pipe
  only after the file is complete, so a listed segment can be served at once.
- Every run gets ``-output_ts_offset start + TIMELINE_OFFSET``, with ``-ss start`` before
  ``-i``: output timestamps are the media timeline plus a constant 10 s, whichever segment
  the run starts at. The offset must be positive: a run from 0 otherwise has negative
  DTS (B-frames, AAC priming) that the muxer shifts while a later run's are not shifted,
  and their segments no longer splice. With it, the video timestamps of a segment are
  identical in every run. The segment muxer compares ``-segment_times`` with these
  offset timestamps, so the cut times carry the offset too.
- Transcoding forces a keyframe at each cut (``-force_key_frames`` with the cut times,
  ``-sc_threshold 0``); remuxing cuts at the source keyframes the boundaries were made of.
  Transcodes keep the source's frame times (``-fps_mode passthrough``, a 90 kHz encoder
  time base): FFmpeg's default re-timing to n/fps from each run's start would move a
  source whose frames are not on that grid (a first frame at 21 ms) by up to half a
  frame, differently in runs from different segments and against ``copy`` and cues.
- Where run A's segment k-1 meets run B's segment k, A's audio stops at the video
  keyframe's DTS (the muxer interleaves by DTS). B's audio must start later, or audio
  DTS go backwards at the splice: a copied stream drops packets before the start
  (``-copypriorss 0``); an encoded one skips its first AAC frame, because the encoder's
  priming puts the first packet one frame before the first sample. The price is an audio
  gap of about the video's reorder delay (tens of ms) at a splice, never an overlap.
- fMP4 (the passthrough ``copy`` of HEVC, AV1, VP9): the same segment muxer with
  ``-segment_format mp4`` (``timeline.FMP4_MUXER_OPTIONS``) writes ``{n}.m4s``, each a
  small fragmented MP4 whose ``tfdt`` is the DTS on the one timeline; the transcoder
  strips its ``ftyp`` + ``moov`` (``fmp4.strip_to_fragments``) before it is served.
  HEVC gets ``-tag:v hvc1`` (parameter sets in the sample entry, as Apple requires).
  ``init_args`` is the same recipe cut to the init segment on standard output: the
  ``moov`` depends only on the streams and the muxer's options, so it is byte-identical
  to the head of every segment of every run (checked on every segment).
- Inputs are ``file:`` URLs with ``-protocol_whitelist file`` and a demuxer whitelist:
  a "movie" that is really an HLS playlist or a concat script would otherwise make
  FFprobe or FFmpeg read files outside the media root.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from actors.ffmpeg import DEMUXERS
from actors.media.filters import INPUT_ARGS, video_filters
from actors.media.plan import (AAC_FRAME_SAMPLES, VBV_SECONDS, Container, copies_audio,
                               h264_level, output_size)
from actors.media.probe import MediaInfo
from actors.media.profiles import Profile
from actors.media.timeline import (FMP4_MUXER_OPTIONS, SEGMENT_EXTENSIONS, TIMELINE_OFFSET,
                                   seconds, segment_muxer_args)
from actors.media.track_recipes import burn_in_graph
from actors.media.tracks import SubtitleTrack

_LISTED_SUFFIXES = tuple(f".{extension}" for extension in SEGMENT_EXTENSIONS.values())



@dataclass(frozen=True)
class ListedSegment:
    """One line of the segment list: segment ``number`` is complete in ``name``."""

    number: int
    name: str
    end: float


def parse_segment_list_line(line: str) -> ListedSegment:
    """Parse ``n.ts,start,end`` (or ``n.m4s,...``) from the list pipe; ``end`` back on the
    media timeline.

    (The ``start`` of a run's first segment reads 0, whatever it is, so it is not used.)
    """
    name, _start, end = line.strip().split(",")
    number = name.rpartition(".")[0] if name.endswith(_LISTED_SUFFIXES) else name
    return ListedSegment(int(number), name, float(end) - TIMELINE_OFFSET)


def reaches_its_boundary(segment: ListedSegment, boundaries: tuple[float, ...],
                         fps: float) -> bool:
    """Whether a listed segment that is not the file's last one is whole.

    FFmpeg that stops early (a signal, an error) still lists the segment it was writing,
    cut short. A whole one ends where the next starts (the muxer reports the cut's
    keyframe time). The last segment of the file has no next boundary: it is whole when
    FFmpeg exits with status 0.
    """
    following = segment.number + 1
    return following < len(boundaries) - 1 and segment.end >= boundaries[following] - 0.5 / fps




def ffmpeg_args(info: MediaInfo, profile: Profile, boundaries: tuple[float, ...],
                start_segment: int, out_dir: Path, progress_fd: int, list_fd: int, *,
                threads: int = 0, muxed_audio: bool = True,
                burn: SubtitleTrack | None = None, container: Container = "ts") -> list[str]:
    """FFmpeg's arguments after argv[0] for a run from ``start_segment`` to the end.

    Writes ``out_dir/{n}.ts`` (``{n}.m4s`` for ``fmp4``), lists each finished segment on
    ``list_fd`` (see ``parse_segment_list_line``) and reports progress on ``progress_fd``.
    Without ``muxed_audio`` the segments are video only (the audio is a rendition of its
    own); ``burn`` is an image subtitle track drawn into the picture.
    """
    if not 0 <= start_segment < len(boundaries) - 1:
        raise ValueError(f"no segment {start_segment} in {len(boundaries) - 1}")
    start = boundaries[start_segment]
    seek = ["-ss", seconds(start)] if start_segment > 0 else []
    return [
        "-nostdin", "-hide_banner", "-nostats", "-loglevel", "warning",
        "-progress", f"pipe:{progress_fd}",
        *_streams(info, profile, boundaries, start_segment, seek, muxed_audio, burn),
        "-threads", str(threads),
        *_segment_args(info, boundaries, start_segment, out_dir, list_fd, container),
    ]


def init_args(info: MediaInfo, profile: Profile, boundaries: tuple[float, ...], *,
              muxed_audio: bool = True) -> list[str]:
    """FFmpeg's arguments after argv[0] that write the init segment of an fMP4 rendition
    (then one fragment, which is not used) to standard output: the run's own streams
    and muxer options, so its ``ftyp`` + ``moov`` are those of every segment."""
    options = [arg for key, value in FMP4_MUXER_OPTIONS for arg in (f"-{key}", value)]
    return [
        "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
        *_streams(info, profile, boundaries, 0, [], muxed_audio, None),
        "-threads", "1", "-frames:v", "1",
        "-output_ts_offset", seconds(TIMELINE_OFFSET), "-f", "mp4", *options, "pipe:1",
    ]


def _streams(info: MediaInfo, profile: Profile, boundaries: tuple[float, ...],
             start_segment: int, seek: list[str], muxed_audio: bool,
             burn: SubtitleTrack | None) -> list[str]:
    """The input and every stream's arguments, the same for runs and init segments."""
    audio = info.audio if muxed_audio else None
    audio_map = ["-map", f"0:{audio.index}"] if audio else []
    return [
        "-protocol_whitelist", "file", "-format_whitelist", DEMUXERS,
        *INPUT_ARGS, *seek, "-i", f"file:{info.path}",
        *_video_map(info, profile, burn), *audio_map,
        "-map_metadata", "-1", "-map_chapters", "-1",
        *_video_args(info, profile, boundaries, start_segment, burn),
        *(_audio_args(info, profile, start_segment) if audio else []),
    ]


def _video_map(info: MediaInfo, profile: Profile, burn: SubtitleTrack | None) -> list[str]:
    if burn is None or info.tracks is None or info.tracks.video is None:
        return ["-map", f"0:{info.video.index}"]
    width, height = output_size(info, profile)
    graph = burn_in_graph(info.tracks.video, burn, width, height, "burned")
    return ["-filter_complex", graph, "-map", "[burned]"]


def _filter_args(info: MediaInfo, width: int, height: int, burn: SubtitleTrack | None) -> list[str]:
    """``-vf``: deinterlace, tone-map, scale, turn upright (the burn-in graph has them)."""
    if burn is not None:
        return []
    if info.tracks is not None and info.tracks.video is not None:
        return ["-vf", ",".join(video_filters(info.tracks.video, width, height))]
    return ["-vf", f"scale={width}:{height},setsar=1,format=yuv420p"]


def _video_args(info: MediaInfo, profile: Profile, boundaries: tuple[float, ...],
                start_segment: int, burn: SubtitleTrack | None = None) -> list[str]:
    if profile.is_copy:
        # Packets before the seek point belong to the previous segment of another run.
        tag = ["-tag:v", "hvc1"] if info.video.codec == "hevc" else []
        return ["-c:v", "copy", *tag, *(["-copypriorss", "0"] if start_segment > 0 else [])]
    width, height = output_size(info, profile)
    start = boundaries[start_segment]
    keyframes = ",".join(seconds(b - start) for b in boundaries[start_segment:-1])
    kbps = profile.video_kbps
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
        "-level:v", f"{h264_level(info, profile) / 10:.1f}",
        "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{round(kbps * VBV_SECONDS)}k",
        "-force_key_frames", keyframes, "-sc_threshold", "0",
        # The source's timestamps, unrounded: by default FFmpeg re-times frames to n/fps
        # (a 25 fps source starting at 0.021 s comes out at 0.000, 4.040, ...), off the
        # copy rendition's cuts and the subtitles' times by up to half a frame.
        "-fps_mode", "passthrough", "-enc_time_base", "1:90000",
        # bt709 tags: what the filters produce, and what players assume of SDR.
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
        *_filter_args(info, width, height, burn),
    ]


def _audio_args(info: MediaInfo, profile: Profile, start_segment: int) -> list[str]:
    audio = info.audio
    if audio is None:
        return []
    if copies_audio(info, profile):
        return ["-c:a", "copy"]
    args = ["-c:a", "aac", "-b:a", f"{profile.audio_kbps}k"]
    if audio.channels > 2:
        args += ["-ac", "2"]
    if start_segment > 0:
        # The encoder's priming would start this run's audio before the previous run's ends.
        args += ["-af", f"atrim=start={seconds(AAC_FRAME_SAMPLES / audio.sample_rate)}"]
    return args


def _segment_args(info: MediaInfo, boundaries: tuple[float, ...], start_segment: int,
                  out_dir: Path, list_fd: int, container: Container) -> list[str]:
    return segment_muxer_args(boundaries[start_segment], boundaries[start_segment + 1:],
                              start_segment, out_dir, f"pipe:{list_fd}",
                              0.5 / info.video.fps, TIMELINE_OFFSET, container)
