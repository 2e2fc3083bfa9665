"""Test clips made with FFmpeg's synthetic sources, fast enough to build per test module.

``make_clip(path, seconds, ...)`` writes a clip whose container follows ``path``'s suffix
(``.mp4``, ``.mkv``, ``.mov``, ``.ts``, ...): a moving test pattern (``testsrc2``) and a
440 Hz tone, encoded with x264 ``ultrafast``. Keyframes come every ``gop`` seconds and
nowhere else, so tests can predict where a remux may cut.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"

VIDEO_CODECS = {
    "h264": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "mpeg4": ["-c:v", "mpeg4", "-q:v", "5"],
}
AUDIO_CODECS = {
    "aac": ["-c:a", "aac", "-b:a", "96k"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "96k"],
}


def make_clip(path: Path, seconds: float, *, width: int = 1280, height: int = 720,
              fps: float = 30, audio: str | None = "aac", video: str | None = "h264",
              gop: float = 2.0, bframes: int = 0, noise: bool = False,
              sample_rate: int = 48000, channels: int = 1, timeout: float = 120) -> Path:
    """Write a ``seconds`` long clip to ``path`` and return ``path``.

    ``video``: ``"h264"``, ``"mpeg4"`` or None (audio only); ``audio``: ``"aac"``,
    ``"mp3"`` or None. ``bframes`` > 0 gives the reordering delay real files have;
    ``noise`` makes the picture hard to compress, for bit rate tests.
    """
    inputs: list[str] = []
    codecs: list[str] = []
    if video is not None:
        pattern = f"testsrc2=size={width}x{height}:rate={fps}"
        if noise:
            pattern += ",noise=alls=60:allf=t+u"
        inputs += ["-f", "lavfi", "-i", pattern]
        keyint = str(max(1, round(gop * fps)))
        codecs += [*VIDEO_CODECS[video], "-g", keyint, "-sc_threshold", "0"]
        if video == "h264":
            codecs += ["-bf", str(bframes), "-keyint_min", keyint]
    if audio is not None:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={sample_rate}"]
        codecs += [*AUDIO_CODECS[audio], "-ac", str(channels)]
    command = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *inputs,
               "-t", str(seconds), *codecs, str(path)]
    subprocess.run(command, check=True, timeout=timeout, capture_output=True)
    return path
