"""Values and FFmpeg runs shared by the media tests: a made-up MediaInfo for pure
planning, and FFmpeg run as the transcoder runs it (its segment list read as it comes)."""
from __future__ import annotations

import math
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from actors.media import (AudioStream, ListedSegment, MediaInfo, VideoStream, ffmpeg_args,
                          parse_segment_list_line)
from actors.media.profiles import DEFAULT_PROFILES, Profile
from tests.helpers.media import FFMPEG, FFPROBE

COPY, P720, P480 = DEFAULT_PROFILES
P360 = Profile("360p", 360, 800, 96)
SEGMENT = 4.0
RUN_TIMEOUT = 45.0


def fake_info(*, codec: str = "h264", width: int = 1280, height: int = 720,
              fps: float = 30.0, duration: float = 20.0, end: float | None = None,
              profile: str | None = "High", level: int | None = 31,
              pix_fmt: str = "yuv420p", rotation: int = 0, audio: str | None = "aac",
              keyframes: tuple[float, ...] | None = None) -> MediaInfo:
    video = VideoStream(0, codec, width, height, fps, pix_fmt, 3_000_000, profile, level,
                        duration if end is None else end, rotation)
    sound = AudioStream(1, audio, 2, 48000, 128_000, "LC") if audio else None
    sizes = None if keyframes is None else tuple(range(0, 100_000 * (len(keyframes) + 1), 100_000))
    return MediaInfo(Path("/m/x.mp4"), 10**7, 0.0, duration, video, sound, "mov",
                     keyframes=keyframes, keyframe_bytes=sizes)


@dataclass
class Run:
    out_dir: Path
    listed: list[tuple[ListedSegment, int]]  # each with its file size when it was listed
    stderr: str


def run_ffmpeg(info: MediaInfo, profile: Profile, bounds: tuple[float, ...],
               start_segment: int, out_dir: Path, *, stop_after: int | None = None,
               **options: object) -> Run:
    """Spawn FFmpeg as the transcoder will, and read its segment list as it comes;
    SIGTERM it once ``stop_after`` segments are listed. ``options``: more of
    ``ffmpeg_args``' keywords (``container``, ``muxed_audio``)."""
    out_dir.mkdir()
    progress_read, progress_write = os.pipe()
    list_read, list_write = os.pipe()
    args = ffmpeg_args(info, profile, bounds, start_segment, out_dir, progress_write, list_write,
                       **options)  # type: ignore[arg-type]
    process = subprocess.Popen([FFMPEG, *args], pass_fds=(progress_write, list_write),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    os.close(progress_write)
    os.close(list_write)
    errors: list[bytes] = []
    progress, stderr = os.fdopen(progress_read, "rb"), process.stderr
    assert stderr is not None
    drains = [threading.Thread(target=progress.read),
              threading.Thread(target=lambda: errors.append(stderr.read()))]
    watchdog = threading.Timer(RUN_TIMEOUT, process.kill)
    for thread in (*drains, watchdog):
        thread.start()
    listed = []
    try:
        with open(list_read) as segment_list:
            for line in segment_list:
                segment = parse_segment_list_line(line)
                listed.append((segment, (out_dir / segment.name).stat().st_size))
                if len(listed) == stop_after:
                    process.terminate()
        assert process.wait(RUN_TIMEOUT) == (0 if stop_after is None else 255)
    finally:
        process.kill()
        process.wait()
        watchdog.cancel()
        for thread in (*drains, watchdog):
            thread.join(RUN_TIMEOUT)
        progress.close()
        stderr.close()
    return Run(out_dir, listed, b"".join(errors).decode())


def packets(path: Path, stream: str) -> list[tuple[float, float, float]]:
    """(pts, dts, duration) of every packet of ``stream`` (``v`` or ``a``), in file order."""
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", stream, "-show_entries",
         "packet=pts_time,dts_time,duration_time", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True, timeout=30).stdout
    rows = [line.split(",") for line in out.split()]
    # MPEG-TS stores no packet duration: FFprobe derives one from the H.264 timing info,
    # which transcodes (90 kHz time base, the source's timestamps) do not give: "N/A".
    return [(float(row[0]), float(row[1]), math.nan if row[2] == "N/A" else float(row[2]))
            for row in rows]


def decode(playlist: Path) -> tuple[str, int]:
    """Play an HLS playlist with FFmpeg as the client; its error output and frames decoded."""
    done = subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-nostats", "-protocol_whitelist", "file",
         "-i", str(playlist), "-progress", "pipe:1", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60)
    frames = [line for line in done.stdout.splitlines() if line.startswith("frame=")]
    assert done.returncode == 0, done.stderr
    return done.stderr, int(frames[-1].partition("=")[2])
