"""Running ffprobe: bounded, ``file:`` inputs only, a whitelist of demuxers.

``run_ffprobe`` returns ffprobe's standard output, or raises ``ProbeTimedOut`` (it was
killed and reaped at its deadline) or ``ProbeFailed`` (with ffprobe's last error line).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

# The only demuxers opened: a "movie" that is really an HLS playlist or a concat script
# would otherwise make FFprobe or FFmpeg read files outside the media root.
DEMUXERS = "mov,matroska,avi,mpegts,mpeg,mpegvideo,flv,asf,ogg"


class ProbeFailed(Exception):
    """ffprobe could not read the file; the message is its last error line."""


class ProbeTimedOut(Exception):
    """ffprobe ran past its deadline and was killed."""


def run_ffprobe(ffprobe: str, args: list[str], path: Path, timeout: float) -> str:
    command = [ffprobe, "-v", "error", "-protocol_whitelist", "file",
               "-format_whitelist", DEMUXERS, *args, f"file:{path}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:  # run() has killed and reaped ffprobe
        raise ProbeTimedOut(f"ffprobe took longer than {timeout:.1f} s") from None
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or ["ffprobe failed"]
        raise ProbeFailed(reason[0].replace(f"file:{path}: ", ""))
    return done.stdout
