"""The sample clip that an empty library gets, so the player works out of the box."""
from __future__ import annotations

import subprocess
from pathlib import Path

TIMEOUT = 300


def write_sample(ffmpeg: str, path: Path, seconds: float) -> None:
    """``seconds`` of a moving test pattern and a tone, H.264/AAC 720p, written through a
    hidden temporary name so a half-written file is never listed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial.mp4")
    subprocess.run([
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:beep_factor=4",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-g", "60", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-movflags", "+faststart",
        str(partial),
    ], check=True, timeout=TIMEOUT)
    partial.replace(path)
