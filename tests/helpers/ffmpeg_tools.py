"""FFmpeg and ffprobe as the media index's scan uses them, for tests and measurements.

Each runs at low priority (``nice -n 10 ionice -c3``, util-linux), from an argument list,
reading only ``file:`` inputs with ``-protocol_whitelist file``, under a timeout.
``scan_pass`` runs a whole library pass with them, as the scanner actor would.
"""
from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

from actors.media.index import MediaIndex
from actors.media.keyframes import read_keyframes
from actors.media.scan import ScanProgress, Work, begin_pass, finish_pass, visit_file

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"
LOW_PRIORITY = [shutil.which("nice") or "nice", "-n", "10",
                shutil.which("ionice") or "ionice", "-c3"]
TIMEOUT = 60.0


def _run(command: list[str], timeout: float = TIMEOUT) -> str:
    done = subprocess.run([*LOW_PRIORITY, *command], check=True, timeout=timeout,
                          capture_output=True, text=True)
    return done.stdout


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON of ``path``: format and streams."""
    return json.loads(_run([FFPROBE, "-v", "error", "-protocol_whitelist", "file",
                            "-show_format", "-show_streams", "-of", "json", f"file:{path}"]))


def packet_keyframes(path: Path) -> tuple[float, ...]:
    """The first video stream's keyframe ``pts_time`` values, from a whole-file packet pass."""
    out = _run([FFPROBE, "-v", "error", "-protocol_whitelist", "file", "-select_streams",
                "v:0", "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0",
                f"file:{path}"])
    times = []
    for line in out.split():
        pts, _, flags = line.partition(",")
        if "K" in flags and pts not in ("", "N/A"):
            times.append(float(pts))
    return tuple(sorted(times))


def keyframes(path: Path) -> tuple[float, ...]:
    """From the container's own index where it has one, else the packet pass."""
    found = read_keyframes(path)
    return found if found is not None else packet_keyframes(path)


def poster(path: Path, at: float, target: Path) -> None:
    """A 320 px wide JPEG of the frame at ``at`` seconds."""
    _run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
          "-protocol_whitelist", "file", "-ss", f"{at:.3f}", "-i", f"file:{path}",
          "-frames:v", "1", "-vf", "scale=320:-2", "-q:v", "5", "-f", "image2",
          "-update", "1", str(target)])


def scan_pass(root: Path, index: MediaIndex, work: Work | None = None) -> ScanProgress:
    """One whole library pass in one call, as the scanner actor runs it one file per
    message: ``begin_pass``, ``visit_file`` for each file (``work.progress`` told after
    each), ``finish_pass``. ``work`` defaults to the tools above, telling no one."""
    work = work or Work(probe, keyframes, poster, lambda progress: None)
    files, state = begin_pass(root, index)
    for media_id, status in files:
        state = visit_file(index, root, media_id, status, state, work)
        work.progress(state)
    state = finish_pass(state)
    work.progress(state)
    return state


def remux(source: Path, target: Path, *options: str) -> Path:
    """Copy ``source``'s streams into ``target`` (container from its suffix)."""
    _run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
          "-protocol_whitelist", "file", "-i", f"file:{source}", "-map", "0", "-c", "copy",
          *options, str(target)])
    return target


def counting_ffprobe(folder: Path, delay: float = 0.0) -> tuple[Path, Path]:
    """An ffprobe in ``folder`` that logs each run as one line, ``<niceness> <arguments>``,
    then (after ``delay`` s, so that callers can overlap) runs the real one: the script
    and its log."""
    log = folder / "ffprobe-runs.log"
    script = folder / "ffprobe-counting"
    script.write_text(f'#!/bin/sh\necho "$(nice) $*" >> "{log}"\nsleep {delay:g}\n'
                      f'exec {FFPROBE} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log
