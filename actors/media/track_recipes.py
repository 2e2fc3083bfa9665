"""FFmpeg recipes for the renditions beside the video: audio tracks, subtitles, burn-in.

All argument lists are FFmpeg's arguments after argv[0] (no shell), reading only
``file:`` inputs with ``-protocol_whitelist file`` and a demuxer whitelist. Times are on
the media timeline (seconds from the container's start); every output is on hlsd's
timeline, the media timeline plus ``TIMELINE_OFFSET``, the same as the video runs'.

- ``audio_rendition_args``: one audio track as its own HLS rendition, a run from segment
  ``n`` to the end, cut on the video's grid (``boundaries``), written as MPEG-TS segments
  ``out_dir/{n}.ts``. Channels are 6 (5.1) when the rendition allows surround and the
  track has at least 6, else 2. Downmixing is FFmpeg's ``-ac 2``: libswresample's matrix
  is the ITU-R BS.775 one (centre and surrounds at -3 dB, LFE left out) built for
  whatever layout the track has (5.1, 5.1(side), 6.1, 7.1, quad), where a hand-written
  ``pan`` expression names channels that only some layouts have.
  ``-muxdelay 0 -muxpreload 0``: without them the TS muxer adds 1.4 s to every timestamp,
  so media time t would not be at PTS t + 10 s.
- ``webvtt_conversion_args`` + ``parse_webvtt`` + ``webvtt_segments``: a text track
  (embedded, any text codec, or a file beside the media) is converted once by FFmpeg to
  one WebVTT file on the media timeline, then cut in Python into one WebVTT document per
  segment. Every document maps ``MPEGTS:900000`` (10 s at 90 kHz) to ``LOCAL 0``, and cue
  times stay media times, so a cue at 1.0 s lines up with the video frame at PTS 11.0 s.
  A cue that spans a boundary is in both segments (players drop the repeat). Why not
  FFmpeg's segment or HLS muxer for WebVTT: they put a cue into the one segment where it
  starts, so a cue spanning a cut is missing from the next segment after a seek, and the
  HLS muxer needs the video in the same run; the whole text of a film is a few hundred
  KB, cut in milliseconds.
- ``burn_in_graph``: the ``-filter_complex`` for an image subtitle track burned into the
  video (PGS, DVB, VobSub: browsers cannot show them), overlaid after deinterlacing and
  tone-mapping, at the coded size the bitmaps were drawn for.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from actors.ffmpeg import DEMUXERS
from actors.media.filters import finish_filters, prepare_filters
from actors.media.plan import AAC_FRAME_SAMPLES
from actors.media.timeline import MPEGTS_HZ, TIMELINE_OFFSET, seconds, segment_muxer_args
from actors.media.tracks import AudioTrack, SubtitleTrack, VideoSource

SIDECAR_DEMUXERS = {"subrip": "srt", "webvtt": "webvtt"}
AAC_SAMPLE_RATES = frozenset({44100, 48000})
SURROUND_CHANNELS = 6



def audio_channels(track: AudioTrack, surround_allowed: bool) -> int:
    """6 (5.1) when allowed and the track has that many, else 2 (mono is doubled)."""
    return SURROUND_CHANNELS if surround_allowed and track.channels >= 6 else 2


def audio_sample_rate(source_rate: int) -> int:
    """The rate an audio rendition is encoded at: the source's where AAC in HLS takes it."""
    return source_rate if source_rate in AAC_SAMPLE_RATES else 48000


def audio_rendition_args(media_path: Path, track: AudioTrack, boundaries: tuple[float, ...],
                         start_segment: int, out_dir: Path, segment_list: str, *,
                         channels: int, bitrate_kbps: int, progress: str | None = None,
                         threads: int = 0) -> list[str]:
    """One audio track, segments ``start_segment``.. of ``boundaries`` into ``out_dir``.

    ``segment_list`` is where the segment muxer lists each finished segment (csv), e.g.
    ``pipe:5``; ``progress`` is ``-progress``'s target."""
    if not 0 <= start_segment < len(boundaries) - 1:
        raise ValueError(f"no segment {start_segment} in {len(boundaries) - 1}")
    if channels not in (2, SURROUND_CHANNELS):
        raise ValueError(f"an audio rendition has 2 or 6 channels, not {channels}")
    start = boundaries[start_segment]
    rate = audio_sample_rate(track.sample_rate)
    return [
        "-nostdin", "-hide_banner", "-nostats", "-loglevel", "warning",
        *(["-progress", progress] if progress else []),
        "-protocol_whitelist", "file", "-format_whitelist", DEMUXERS,
        *(["-ss", seconds(start)] if start_segment else []), "-i", f"file:{media_path}",
        "-map", f"0:{track.index}", "-map_metadata", "-1", "-map_chapters", "-1",
        "-c:a", "aac", "-b:a", f"{bitrate_kbps}k", "-ac", str(channels), "-ar", str(rate),
        *_skip_priming(start_segment, rate), "-threads", str(threads),
        # A frame that would cross a cut starts the next segment instead: a run's segment
        # then ends at or before the cut, where the next run (from that cut) begins.
        *_segments(boundaries, start_segment, out_dir, segment_list, AAC_FRAME_SAMPLES / rate),
    ]


def _skip_priming(start_segment: int, rate: int) -> list[str]:
    """The AAC encoder's priming frame would start this run one frame before the
    boundary, over the previous run's last frame; dropping one frame's worth of input
    makes the run start on the boundary (as the video recipe does for muxed audio)."""
    if not start_segment:
        return []
    return ["-af", f"atrim=start={seconds(AAC_FRAME_SAMPLES / rate)}"]


def _segments(boundaries: tuple[float, ...], start_segment: int, out_dir: Path,
              segment_list: str, delta: float) -> list[str]:
    return segment_muxer_args(boundaries[start_segment], boundaries[start_segment + 1:-1],
                              start_segment, out_dir, segment_list, delta)


def webvtt_conversion_args(media_path: Path, track: SubtitleTrack, out_path: Path) -> list[str]:
    """FFmpeg's arguments converting a text track to one WebVTT file, media timeline."""
    if track.kind != "text":
        raise ValueError(f"track {track.index} is {track.codec}, an image subtitle")
    if track.path is None:
        # No -copyts: FFmpeg subtracts the container's start time, as in the video runs.
        source = ["-format_whitelist", DEMUXERS, "-i", f"file:{media_path}",
                  "-map", f"0:{track.index}"]
    else:
        # -copyts: a file's "start" is its first cue; its times count from the media's.
        demuxer = SIDECAR_DEMUXERS[track.codec]
        source = ["-copyts", "-format_whitelist", demuxer, "-f", demuxer,
                  "-sub_charenc", "UTF-8", "-i", f"file:{track.path}", "-map", "0:s:0"]
    return ["-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
            "-protocol_whitelist", "file", *source, "-map_metadata", "-1",
            "-c:s", "webvtt", "-f", "webvtt", "-y", f"file:{out_path}"]


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    settings: str = ""


_CUE_TIMING = re.compile(
    r"^(?P<start>(?:\d+:)?\d{1,2}:\d{2}\.\d{3})[ \t]+-->[ \t]+"
    r"(?P<end>(?:\d+:)?\d{1,2}:\d{2}\.\d{3})(?P<settings>[^\n]*)$")


def parse_webvtt(text: str) -> list[Cue]:
    """The cues of a WebVTT document, by start time; identifiers, NOTE, STYLE and
    REGION blocks are dropped."""
    cues: list[Cue] = []
    blocks = re.split(r"\n[ \t]*\n", text.lstrip("\ufeff").replace("\r\n", "\n"))
    for block in blocks[1:] if blocks and blocks[0].startswith("WEBVTT") else blocks:
        lines = block.strip("\n").split("\n")
        timing = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
        match = _CUE_TIMING.match(lines[timing].strip()) if timing is not None else None
        if match and timing is not None:
            cues.append(Cue(_clock(match["start"]), _clock(match["end"]),
                            "\n".join(lines[timing + 1:]), match["settings"].strip()))
    return sorted(cues, key=lambda cue: (cue.start, cue.end))


def _clock(text: str) -> float:
    parts = [float(p) for p in text.split(":")]
    return parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) > 2 else 0)


def vtt_time(seconds: float) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def timestamp_map() -> str:
    """Media time 0 is at PTS ``TIMELINE_OFFSET`` in every run."""
    return f"X-TIMESTAMP-MAP=MPEGTS:{round(TIMELINE_OFFSET * MPEGTS_HZ)},LOCAL:{vtt_time(0)}"


def webvtt_segment(cues: list[Cue], start: float, end: float) -> str:
    """A WebVTT document for the segment [start, end): every cue shown in it."""
    lines = ["WEBVTT", timestamp_map(), ""]
    for cue in cues:
        if cue.start < end and cue.end > start and cue.end > cue.start:
            settings = f" {cue.settings}" if cue.settings else ""
            lines += [f"{vtt_time(cue.start)} --> {vtt_time(cue.end)}{settings}", cue.text, ""]
    return "\n".join(lines) + "\n"


def webvtt_segments(cues: list[Cue], boundaries: tuple[float, ...]) -> list[str]:
    """One document per segment of ``boundaries``; the last one also takes cues that
    run past the end."""
    documents = [webvtt_segment(cues, a, b) for a, b in zip(boundaries, boundaries[1:-1])]
    if len(boundaries) > 1:
        documents.append(webvtt_segment(cues, boundaries[-2], math.inf))
    return documents


def burn_in_graph(source: VideoSource, subtitle: SubtitleTrack, width: int, height: int,
                  label: str = "burned") -> str:
    """``-filter_complex`` burning ``subtitle`` into the video, output pad ``[label]``:
    map it with ``-map [label]`` instead of the video stream, and pass no ``-vf``."""
    if subtitle.kind != "image" or subtitle.path is not None:
        raise ValueError(f"track {subtitle.index} is not an embedded image subtitle")
    before = ",".join(prepare_filters(source))
    base = f"[0:{source.index}]{before}[base];[base]" if before else f"[0:{source.index}]"
    after = ",".join(finish_filters(source, width, height))
    # eof_action=pass: the picture goes on after the last subtitle.
    return f"{base}[0:{subtitle.index}]overlay=eof_action=pass,{after}[{label}]"
