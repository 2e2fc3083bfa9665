"""The benchmark's media, generated once into ``bench/out/media`` and reused by later runs.

All clips: H.264 (x264 ``ultrafast``, 2 B-frames, a keyframe every 2 s) and AAC, made
with ``tests.helpers.media.make_clip`` from FFmpeg's synthetic sources. A clip's name
says how it was made, so changing a recipe makes a new file rather than reusing a stale one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.media import make_clip

MEDIA = Path(__file__).resolve().parent / "out" / "media"
GENERATE_TIMEOUT = 1200.0  # the 10-minute clip takes a few minutes on 2 cores


@dataclass(frozen=True)
class Clip:
    seconds: int
    width: int
    height: int
    fps: int = 30
    bframes: int = 2

    @property
    def media_id(self) -> str:
        return f"bench-{self.height}p{self.fps}-{self.seconds}s-bf{self.bframes}.mp4"


SHORT = Clip(60, 1280, 720)  # rows 1, 3, 4, 5, 6
LONG = Clip(600, 1280, 720)  # row 2
SMALL = Clip(60, 640, 360)  # row 7: 100 sessions' segments stay a few GB in all
SERVE = Clip(12, 960, 540)  # row 8: 4 s copy segments of about 2 MB
FILM = Clip(10800, 320, 180, fps=15)  # row 10: a 3-hour film, low bit rate
TINY = Clip(10, 320, 180, fps=15)  # rows 9, 11: copied or linked into generated libraries


@dataclass(frozen=True)
class Clips:
    root: Path

    def path(self, clip: Clip) -> Path:
        return self.root / clip.media_id


def ensure(clips: tuple[Clip, ...], root: Path = MEDIA) -> Clips:
    """Generate the clips that are not cached yet; a half-written clip is never kept."""
    root.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        path = root / clip.media_id
        if path.exists():
            continue
        print(f"generating {path.name} (once; cached in {root}) ...", flush=True)
        partial = path.with_name(f".partial-{os.getpid()}-{path.name}")
        try:
            make_clip(partial, clip.seconds, width=clip.width, height=clip.height, fps=clip.fps,
                      bframes=clip.bframes, timeout=GENERATE_TIMEOUT)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return Clips(root)
