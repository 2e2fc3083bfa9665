"""The timeline every run is on, and the segment muxer's arguments every kind of run uses.

Media time t is at output PTS t + ``TIMELINE_OFFSET`` in every run (video, audio,
WebVTT's ``X-TIMESTAMP-MAP``), whatever segment the run starts at; see ``recipe``'s
docstring for why the offset must be positive.
"""
from __future__ import annotations

from pathlib import Path

TIMELINE_OFFSET = 10.0  # seconds added to every run's timestamps
MPEGTS_HZ = 90000
FOREVER = 10 ** 7  # seconds: "no further cut" for the segment muxer


def seconds(value: float) -> str:
    """A time as FFmpeg reads it: up to microseconds, no trailing zeros."""
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def segment_muxer_args(start: float, cuts: tuple[float, ...], start_segment: int,
                       out_dir: Path, segment_list: str, delta: float,
                       offset: float = TIMELINE_OFFSET) -> list[str]:
    """Output ``out_dir/{n}.ts`` from segment ``start_segment``, cut at ``cuts`` (media
    times), each finished segment listed (csv) on ``segment_list``.

    The segment muxer compares the cut times with output timestamps, offset included.
    Without ``-muxdelay 0 -muxpreload 0`` the TS muxer adds 1.4 s: media time t would be
    at t + offset + 1.4 s, off the timeline the other renditions are on.
    """
    times = ",".join(seconds(cut + offset) for cut in cuts)
    cutting = ["-segment_times", times] if times else ["-segment_time", str(FOREVER)]
    template = str(out_dir).replace("%", "%%") + "/%d.ts"
    return [
        "-protocol_whitelist", "file,pipe",
        "-output_ts_offset", seconds(start + offset),
        "-muxdelay", "0", "-muxpreload", "0",
        "-f", "segment", "-segment_format", "mpegts",
        "-segment_list", segment_list, "-segment_list_type", "csv",
        "-segment_start_number", str(start_segment),
        *cutting, "-segment_time_delta", seconds(delta),
        f"file:{template}",
    ]
