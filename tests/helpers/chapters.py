"""Clips with chapters: a short clip (``make_clip``) remuxed with an FFMETADATA file
whose ``[CHAPTER]`` blocks are the given (start, end, title) in seconds."""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.media import FFMPEG, make_clip

# (start, end, title): in Matroska the second chapter has no title (hlsd names it
# "Chapter 2"); FFmpeg's MP4 muxer drops an untitled chapter, so MP4 gets "Middle".
CHAPTERS = ((0.0, 6.0, "Opening"), (6.0, 14.0, ""), (14.0, 24.0, "The End"))
MP4_CHAPTERS = ((0.0, 6.0, "Opening"), (6.0, 14.0, "Middle"), (14.0, 24.0, "The End"))


def add_chapters(source: Path, target: Path, chapters: tuple[tuple[float, float, str], ...] = CHAPTERS,
                 timeout: float = 60) -> Path:
    """``source`` remuxed into ``target`` (its suffix picks MKV or MP4) with ``chapters``."""
    lines = [";FFMETADATA1"]
    for start, end, title in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(start * 1000)}", f"END={round(end * 1000)}"]
        if title:
            lines.append(f"title={title}")
    metadata = target.with_suffix(".ffmetadata.txt")
    metadata.write_text("\n".join(lines) + "\n")
    subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                    "-i", str(metadata), "-map", "0", "-map_metadata", "1", "-map_chapters", "1",
                    "-c", "copy", str(target)], check=True, timeout=timeout, capture_output=True)
    metadata.unlink()
    return target


def make_chaptered_clip(path: Path, seconds: float = 24, **clip: object) -> Path:
    """A clip at ``path`` with ``CHAPTERS`` (.mkv) or ``MP4_CHAPTERS`` (.mp4)."""
    plain = make_clip(path.with_name(f".plain-{path.stem}.mp4"), seconds, **clip)  # type: ignore[arg-type]
    try:
        return add_chapters(plain, path, MP4_CHAPTERS if path.suffix == ".mp4" else CHAPTERS)
    finally:
        plain.unlink()
