"""Short clips in the codecs the passthrough variant copies: HEVC (Main 10 PQ, Main 10
HLG, 8-bit portrait "phone video" without a rotation tag), AV1 10-bit, VP9. Each is a
moving test pattern with a 440 Hz tone, a keyframe every ``GOP`` seconds and nowhere
else, so the copy grid has several segments.

``make_modern_clip(directory, kind)`` writes ``<kind><suffix>`` and returns its path.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.media import FFMPEG

GOP = 2.0
FPS = 25
PQ = ["-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc"]
HLG = ["-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc"]
X265_GOP = (f"keyint={round(GOP * FPS)}:min-keyint={round(GOP * FPS)}:scenecut=0:open-gop=0"
            ":log-level=error")
KINDS: dict[str, tuple[str, str, list[str]]] = {  # kind -> suffix, size, codec arguments
    "hevc_pq": (".mkv", "320x180", [
        "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le",
        "-x265-params", f"{X265_GOP}:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
        *PQ]),
    "hevc_hlg": (".mp4", "320x180", [
        "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-tag:v", "hvc1",
        "-x265-params", f"{X265_GOP}:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
        *HLG]),
    "hevc_phone": (".mp4", "180x320", [
        "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-tag:v", "hvc1",
        "-x265-params", X265_GOP]),
    "av1": (".mkv", "320x180", [
        "-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p10le",
        "-g", str(round(GOP * FPS)), "-svtav1-params", "keyint=50:scd=0"]),
    "vp9": (".webm", "320x180", [
        "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k",
        "-g", str(round(GOP * FPS)), "-keyint_min", str(round(GOP * FPS))]),
}
AUDIO = {".mkv": ["-c:a", "aac", "-b:a", "96k"], ".mp4": ["-c:a", "aac", "-b:a", "96k"],
         ".webm": ["-c:a", "libopus", "-b:a", "64k"]}


def make_modern_clip(directory: Path, kind: str, seconds: float = 8.0) -> Path:
    suffix, size, codec = KINDS[kind]
    path = directory / f"{kind}{suffix}"
    command = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}",
               "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
               "-t", str(seconds), *codec, *AUDIO[suffix], "-ac", "2", str(path)]
    subprocess.run(command, check=True, timeout=120, capture_output=True)
    return path
