"""A file's chapters (Matroska, MP4) as ffprobe's ``-show_chapters`` lists them.

``parse_chapters(probed, start_time, duration)`` reads the ``chapters`` of ffprobe's JSON
onto the media timeline (seconds from the container's ``start_time``, the timeline of
the playlists and of ``-ss``): sorted by start, clipped to ``[0, duration]``, empty ones
(nothing left after clipping) dropped, of several at one start the first kept (an MP4
lists its chapters twice: Nero ``chpl`` and the QuickTime text track), an untitled
chapter named ``Chapter N`` by its place in that order. ``chapter_json`` is SPEC's ``chapters: [{"title", "start", "end"}]``.
A chapter's end is its own end where the file gives one, else the next chapter's start
(else the end of the file): chapters never overlap once listed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_CHAPTERS = 1000  # a broken file's thousands of zero-length chapters help no menu
MAX_TITLE_CHARS = 200


@dataclass(frozen=True)
class Chapter:
    title: str
    start: float
    end: float


def parse_chapters(probed: dict[str, Any], start_time: float, duration: float) -> tuple[Chapter, ...]:
    found = []
    for chapter in probed.get("chapters") or []:
        start, end = _seconds(chapter.get("start_time")), _seconds(chapter.get("end_time"))
        if start is None:
            continue
        title = str((chapter.get("tags") or {}).get("title") or "").strip()[:MAX_TITLE_CHARS]
        found.append((max(0.0, start - start_time), None if end is None else end - start_time, title))
    found.sort(key=lambda item: item[0])
    found = [item for i, item in enumerate(found)  # MP4 lists its chapters twice (chpl, text)
             if i == 0 or round(item[0], 3) != round(found[i - 1][0], 3)]
    chapters: list[Chapter] = []
    for i, (start, end, title) in enumerate(found):
        following = found[i + 1][0] if i + 1 < len(found) else duration
        end = min(following if end is None or end <= start else end, following, duration)
        if start >= duration or end <= start:
            continue
        chapters.append(Chapter(title, round(start, 3), round(end, 3)))
    return tuple(Chapter(c.title or f"Chapter {n}", c.start, c.end)
                 for n, c in enumerate(chapters[:MAX_CHAPTERS], 1))


def chapter_json(chapters: tuple[Chapter, ...]) -> list[dict[str, Any]]:
    return [{"title": c.title, "start": c.start, "end": c.end} for c in chapters]


def _seconds(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
