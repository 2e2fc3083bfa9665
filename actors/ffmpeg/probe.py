"""Running ffprobe, and FFmpeg for one poster frame: bounded, ``file:`` inputs only, a
whitelist of demuxers.

``run_ffprobe`` returns ffprobe's standard output, or raises ``ProbeTimedOut`` (it was
killed and reaped at its deadline) or ``ProbeFailed`` (with ffprobe's last error line).
``write_poster`` writes a small JPEG of one frame, with the same errors; ``run_ffmpeg_output``
returns what an FFmpeg run writes to its standard output (an fMP4 init segment). With
``low_priority`` (the library scan) the process runs under ``nice -n 10 ionice -c3``
(util-linux): it gets CPU and disk only when playback does not want them.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

# The only demuxers opened: a "movie" that is really an HLS playlist or a concat script
# would otherwise make FFprobe or FFmpeg read files outside the media root.
DEMUXERS = "mov,matroska,avi,mpegts,mpeg,mpegvideo,flv,asf,ogg"
LOW_PRIORITY = (shutil.which("nice") or "nice", "-n", "10",
                shutil.which("ionice") or "ionice", "-c3")
POSTER_WIDTH = 320


class ProbeFailed(Exception):
    """ffprobe could not read the file; the message is its last error line."""


class ProbeTimedOut(Exception):
    """ffprobe ran past its deadline and was killed."""


def run_ffprobe(ffprobe: str, args: list[str], path: Path, timeout: float, *,
                low_priority: bool = False) -> str:
    command = [ffprobe, "-v", "error", "-protocol_whitelist", "file",
               "-format_whitelist", DEMUXERS, *args, f"file:{path}"]
    return _run(command, path, timeout, low_priority)


def write_poster(ffmpeg: str, path: Path, at: float, target: Path, timeout: float, *,
                 low_priority: bool = True) -> None:
    """A ``POSTER_WIDTH`` px wide JPEG of the frame at ``at`` s (media timeline) in ``target``."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-protocol_whitelist", "file", "-format_whitelist", DEMUXERS,
               "-ss", f"{max(at, 0.0):.3f}", "-i", f"file:{path}", "-map", "0:V:0",
               "-frames:v", "1", "-vf", f"scale={POSTER_WIDTH}:-2", "-q:v", "5",
               "-f", "image2", "-update", "1", f"file:{target}"]
    _run(command, path, timeout, low_priority)


def run_ffmpeg_output(ffmpeg: str, args: list[str], path: Path, timeout: float) -> bytes:
    """FFmpeg's standard output for ``args`` (after argv[0]; they name ``file:{path}``)."""
    return _run_bytes([ffmpeg, *args], path, timeout)


def _run(command: list[str], path: Path, timeout: float, low_priority: bool) -> str:
    if low_priority:
        command = [*LOW_PRIORITY, *command]
    return _run_bytes(command, path, timeout).decode(errors="replace")


def _run_bytes(command: list[str], path: Path, timeout: float) -> bytes:
    name = Path(command[0]).name
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:  # run() has killed and reaped the process
        raise ProbeTimedOut(f"{name} took longer than {timeout:.1f} s") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace")
        reason = stderr.strip().splitlines()[-1:] or [f"{name} failed"]
        raise ProbeFailed(reason[0].replace(f"file:{path}: ", ""))
    return done.stdout


def ffmpeg_version(ffmpeg: str, timeout: float = 10.0) -> str:
    """FFmpeg's version line (``ffmpeg version 5.1.6-0+deb12u1 ...``): what an upgrade
    changes. Asked once per executable file version (path, mtime) in this process; one
    that does not answer is named by its path and mtime."""
    try:
        stamp = Path(ffmpeg).stat().st_mtime_ns
    except OSError:
        stamp = -1
    return _version_line(ffmpeg, stamp, timeout)


@functools.lru_cache(maxsize=16)
def _version_line(ffmpeg: str, stamp: int, timeout: float) -> str:
    try:
        done = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True,
                              errors="replace", timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
        first = done.stdout.strip().splitlines()[:1]
        if done.returncode == 0 and first:
            return first[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return f"{ffmpeg} {stamp}"
