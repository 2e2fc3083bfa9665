"""The timeline every run is on, and the segment muxer's arguments every kind of run uses.

Media time t is at output PTS t + ``TIMELINE_OFFSET`` in every run (video, audio,
WebVTT's ``X-TIMESTAMP-MAP``), whatever segment the run starts at; see ``recipe``'s
docstring for why the offset must be positive.
"""
from __future__ import annotations

from pathlib import Path

TIMELINE_OFFSET = 10.0  # seconds added to every run's timestamps
MPEGTS_HZ = 90000
SEGMENT_EXTENSIONS = {"ts": "ts", "fmp4": "m4s"}
# fMP4 segments: each a small fragmented MP4 (ftyp + moov + moof + mdat) whose head is
# stripped before it is served. ``frag_discont`` with ``use_editlist=0`` and
# ``avoid_negative_ts=disabled`` makes each tfdt the packet's own DTS (by default the mov
# muxer starts every segment file at 0); a fixed video timescale keeps the init the same
# whatever the muxer is given.
FMP4_MUXER_OPTIONS = (
    ("movflags", "+frag_keyframe+empty_moov+default_base_moof+frag_discont"),
    ("use_editlist", "0"), ("avoid_negative_ts", "disabled"),
    ("video_track_timescale", str(MPEGTS_HZ)),
)
FOREVER = 10 ** 7  # seconds: "no further cut" for the segment muxer


def seconds(value: float) -> str:
    """A time as FFmpeg reads it: up to microseconds, no trailing zeros."""
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def segment_muxer_args(start: float, cuts: tuple[float, ...], start_segment: int,
                       out_dir: Path, segment_list: str, delta: float,
                       offset: float = TIMELINE_OFFSET, container: str = "ts") -> list[str]:
    """Output ``out_dir/{n}.ts`` (``{n}.m4s`` for fMP4) from segment ``start_segment``,
    cut at ``cuts`` (media times), each finished segment listed (csv) on ``segment_list``.

    The segment muxer compares the cut times with output timestamps, offset included.
    Without ``-muxdelay 0 -muxpreload 0`` the TS muxer adds 1.4 s: media time t would be
    at t + offset + 1.4 s, off the timeline the other renditions are on.
    """
    times = ",".join(seconds(cut + offset) for cut in cuts)
    cutting = ["-segment_times", times] if times else ["-segment_time", str(FOREVER)]
    template = str(out_dir).replace("%", "%%") + f"/%d.{SEGMENT_EXTENSIONS[container]}"
    packing = (["-segment_format", "mp4", "-segment_format_options",
                ":".join(f"{key}={value}" for key, value in FMP4_MUXER_OPTIONS)]
               if container == "fmp4" else ["-segment_format", "mpegts"])
    return [
        "-protocol_whitelist", "file,pipe",
        "-output_ts_offset", seconds(start + offset),
        "-muxdelay", "0", "-muxpreload", "0",
        "-f", "segment", *packing,
        "-segment_list", segment_list, "-segment_list_type", "csv",
        "-segment_start_number", str(start_segment),
        *cutting, "-segment_time_delta", seconds(delta),
        f"file:{template}",
    ]
