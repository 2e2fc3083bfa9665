"""The library as its page shows it: read from the media index, never waiting for a scan.

``LibraryView(runtime).page(folder, query)`` is one folder of the index (or, with a
query, every file under it whose id contains the query), its subfolders, where each
viewer stopped and the scan's progress: a few indexed SQLite reads, whatever the size of
the library. Files the scan has not reached yet appear once it has. ``poster(media_id)``
is the poster file of the current version of a file, or None. ``listing()`` is the flat
``GET /media`` list. Each takes the ``viewer`` (``actors.viewers``): with accounts, a user
sees only their folders, and their own positions.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from actors import media
from actors.accounts import User
from actors.errors import HlsError
from actors.media.index import Stamp
from actors.media.scan import ScanProgress
from actors.runtime import Runtime
from actors.viewers import Positions

PAGE_SIZE = 500
RESUME_MIN = 5.0  # seconds: a viewer who left earlier than this starts from the beginning


class LibraryView:
    """Read-only queries of the index for the web threads; thread-safe."""

    def __init__(self, runtime: Runtime, positions: Positions | None = None) -> None:
        self.runtime = runtime
        self.positions = positions or Positions(None, runtime.index)

    def listing(self, viewer: User | None = None) -> list[dict[str, Any]]:
        """Every media file the prober accepts, as SPEC's ``GET /media`` entries (less
        the URLs, which are the web layer's); probes what the index does not hold."""
        entries, root = [], self.runtime.settings.media_root
        for media_id in media.list_media(root):
            if viewer is not None and not viewer.may_see(media_id):
                continue
            try:
                info = self.runtime.prober.probe(media.resolve_media(root, media_id))
            except HlsError:
                continue
            entries.append(library_entry(media_id, info))
        return entries

    def page(self, folder: str = "", query: str = "", viewer: User | None = None) -> dict[str, Any]:
        folder, query = folder.strip("/"), query.strip()
        index = self.runtime.index
        rows = index.listing(folder, query, limit=PAGE_SIZE)
        folders = [] if query else index.subfolders(folder)
        mine: dict[str, float] | None = None
        if viewer is not None:
            rows = [row for row in rows if viewer.may_see(row.media_id)]
            folders = [f for f in folders if viewer.may_enter(f)]
            mine = self.positions.of(viewer)
        return {
            "folder": folder,
            "query": query,
            "parents": _parents(folder),
            "folders": folders,
            "entries": [{
                "id": row.media_id, "duration": row.duration, "width": row.width,
                "height": row.height, "video": row.video_codec, "audio": row.audio_codec,
                "poster": row.poster is not None,
                "position": _resume(row.position if mine is None else mine.get(row.media_id)),
            } for row in rows if row.video_codec is not None],
            "progress": self.progress(),
        }

    def progress(self) -> dict[str, Any]:
        """The scan's latest progress as JSON: ``pass`` counts passes begun (0: none yet);
        ``running`` is False before the first pass and once a pass finished;
        ``thumbnails``: the pass's trick play work (files, film seconds, the current file)."""
        latest, passes = self.runtime.scan.latest(), self.runtime.scan.passes()
        if latest is None:
            return {"running": False, "pass": 0, "done": 0, "total": 0, "bytes_done": 0,
                    "bytes_total": 0, "fraction": 0.0, "current": None, "errors": 0,
                    "elapsed": 0.0, "thumbnails": _thumbnails(None)}
        return {"running": not latest.finished, "pass": passes, "done": latest.done, "total": latest.total,
                "bytes_done": latest.bytes_done, "bytes_total": latest.bytes_total,
                "fraction": round(latest.fraction, 4), "current": latest.current,
                "errors": latest.errors, "indexed": latest.indexed,
                "elapsed": round(time.time() - latest.started, 3),
                "thumbnails": _thumbnails(latest)}

    def poster(self, media_id: str, viewer: User | None = None) -> Path | None:
        """The JPEG of the current version of ``media_id``, if the scan made one."""
        if viewer is not None and not viewer.may_see(media_id):
            return None
        try:
            path = media.resolve_media(self.runtime.settings.media_root, media_id)
            entry = self.runtime.index.get(media_id, Stamp.of(os.stat(path)))
        except (HlsError, OSError):
            return None
        if entry is None or entry.poster is None or not Path(entry.poster).is_file():
            return None
        return Path(entry.poster)

    def position(self, media_id: str, viewer: User | None = None) -> float | None:
        """Where the viewer (without accounts: the last one) of ``media_id`` stopped, if
        worth resuming."""
        return _resume(self.positions.get(viewer, media_id))


def _resume(seconds: float | None) -> float | None:
    return seconds if seconds is not None and seconds >= RESUME_MIN else None


def _parents(folder: str) -> list[tuple[str, str]]:
    """(name, folder) of each step from the root down to ``folder``."""
    parts = folder.split("/") if folder else []
    return [(part, "/".join(parts[:i + 1])) for i, part in enumerate(parts)]


def library_entry(media_id: str, info: media.MediaInfo) -> dict[str, Any]:
    """One entry of ``GET /media`` (less its URL, which is the web layer's)."""
    return {
        "id": media_id,
        "duration": round(info.duration, 3),
        "video": info.video.codec,
        "width": info.video.width,
        "height": info.video.height,
        "audio": media.audio_json(info.tracks) if info.tracks else [],
        "subtitles": media.subtitle_json(info.tracks) if info.tracks else [],
        "chapters": media.chapter_json(info.chapters),
    }


def _thumbnails(latest: ScanProgress | None) -> dict[str, Any]:
    if latest is None:
        return {"done": 0, "total": 0, "seconds": 0.0, "seconds_total": 0.0, "fraction": 1.0,
                "current": None}
    return {"done": latest.thumbnails_done, "total": latest.thumbnails_total,
            "seconds": round(latest.thumbnail_seconds, 1),
            "seconds_total": round(latest.thumbnail_seconds_total, 1),
            "fraction": round(latest.thumbnail_fraction, 4), "current": latest.thumbnails_current}
