"""The ramp film: its brightness is its time, so a picture of it says which second it shows.

``make_ramp(path)``: 95 s of 320x180 25 fps H.264 whose luma is 16 + ``shade`` x the whole
seconds (video range), a keyframe every 2 s; ``gray_mean`` decodes one picture the way
the tests compare them (8-bit gray, scaled down).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.media import FFMPEG

SECONDS = 95


def make_ramp(path: Path, seconds: int = SECONDS, shade: float = 2.2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([
        FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
        f"color=c=black:s=320x180:r=25,geq=lum='16+{shade}*floor(T)':cb=128:cr=128",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-force_key_frames", "expr:gte(t,n_forced*2)", str(path)], check=True, timeout=120)
    return path


def gray_mean(args: list[str], width: int, height: int, crop: str = "") -> float:
    """The mean of one picture that ``ffmpeg args`` decodes (``crop``: a crop filter's
    ``w:h:x:y`` first), as 8-bit gray."""
    graph = (f"crop={crop}," if crop else "") + f"scale={width}:{height},format=gray"
    out = subprocess.run([FFMPEG, "-nostdin", "-v", "error", *args, "-frames:v", "1",
                          "-vf", graph, "-f", "rawvideo", "-"],
                         check=True, capture_output=True, timeout=30).stdout
    assert len(out) == width * height
    return sum(out) / len(out)
