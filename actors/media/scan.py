"""The library scan: bring the media index up to date with the files under a root.

A pass is ``begin_pass`` (list the media files, forget the entries of files that are
gone), ``visit_file`` for each file, one at a time, then ``finish_pass``. A file whose
stamp (size, mtime, inode) matches its entry costs one indexed lookup; a new or changed
one is probed, gets its keyframes and a poster frame (from about 10 % in). It starts no
process itself: ``probe``, ``keyframes`` and ``poster`` are given by the caller, which
decides how they run (nice, ionice, timeouts) - and since calls are made one at a time,
a scan never has more than one of them running.

A callable that raises counts as an error for that file and the scan goes on; the file
is tried again on the next scan.

hlsd scans from the ``actors.scanner.Scanner`` actor, one file per message, so the actor
answers stops and tree dumps between files.
"""
from __future__ import annotations

import logging
import os
import stat as stat_mode
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from actors.media.index import Entry, MediaIndex, Stamp

log = logging.getLogger(__name__)

MEDIA_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".m2ts",
                            ".mpg", ".mpeg", ".flv", ".wmv", ".ogv", ".3gp"})
POSTER_FRACTION = 0.10

Probe = Callable[[Path], dict[str, Any]]
KeyframeReader = Callable[[Path], tuple[float, ...]]
PosterMaker = Callable[[Path, float, Path], None]


@dataclass(frozen=True)
class ScanProgress:
    """Where a scan is: files and bytes visited of the total, the file being indexed."""

    done: int
    total: int
    bytes_done: int
    bytes_total: int
    current: str | None
    started: float  # wall clock, for display
    errors: int
    indexed: int = 0  # files probed or completed by this scan
    removed: int = 0
    finished: bool = False
    # Trick play (thumbnails, I-frames): files queued and done, film seconds done of them
    thumbnails_done: int = 0
    thumbnails_total: int = 0
    thumbnail_seconds: float = 0.0
    thumbnail_seconds_total: float = 0.0
    thumbnails_current: str | None = None

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 1.0

    @property
    def thumbnail_fraction(self) -> float:
        """The trick play work done: film seconds of the files queued so far."""
        total = self.thumbnail_seconds_total
        return min(self.thumbnail_seconds / total, 1.0) if total else 1.0


@dataclass(frozen=True)
class Work:
    """The callables a scan uses; ``progress`` is told after every file."""

    probe: Probe
    keyframes: KeyframeReader
    poster: PosterMaker
    progress: Callable[[ScanProgress], None]


def media_ids(root: Path) -> dict[str, os.stat_result]:
    """Every visible media file under ``root`` (symlinks not followed): id -> stat."""
    found: dict[str, os.stat_result] = {}
    for folder, dirs, files in os.walk(root):  # os.walk does not enter symlinked folders
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        for name in files:
            path = os.path.join(folder, name)
            if name.startswith(".") or Path(name).suffix.lower() not in MEDIA_SUFFIXES:
                continue
            stat = os.lstat(path)
            if stat_mode.S_ISREG(stat.st_mode):
                found[os.path.relpath(path, root).replace(os.sep, "/")] = stat
    return found


def _index_file(index: MediaIndex, path: Path, media_id: str, stamp: Stamp,
                entry: Entry | None, work: Work) -> None:
    """Fill in what ``entry`` lacks: probe, then keyframes and poster for video."""
    if entry is None or entry.probe is None:
        index.put_probe(media_id, stamp, work.probe(path))
        entry = index.get(media_id, stamp)
        assert entry is not None
    if not entry.keyframes_complete and entry.video_codec is not None:
        index.put_keyframes(media_id, stamp, tuple(work.keyframes(path)), complete=True)
    if entry.poster is None and entry.video_codec is not None:
        target = index.poster_path(media_id, stamp)
        target.parent.mkdir(parents=True, exist_ok=True)
        work.poster(path, (entry.duration or 0.0) * POSTER_FRACTION, target)
        index.set_poster(media_id, stamp, target)


def _needs_work(entry: Entry | None) -> bool:
    if entry is None or entry.probe is None:
        return True
    return entry.video_codec is not None and not (entry.keyframes_complete and entry.poster)


def begin_pass(root: Path, index: MediaIndex) -> tuple[list[tuple[str, os.stat_result]],
                                                       ScanProgress]:
    """List ``root``, forget the entries of files that are gone: the files to visit, in
    order, and the pass's first progress. For callers that visit one file at a time."""
    files = media_ids(root)
    removed = len(index.forget_missing(files))
    state = ScanProgress(0, len(files), 0, sum(s.st_size for s in files.values()), None,
                         time.time(), 0, removed=removed)
    return list(files.items()), state


def visit_file(index: MediaIndex, root: Path, media_id: str, stat: os.stat_result,
               state: ScanProgress, work: Work) -> ScanProgress:
    """Index one file if it needs it (errors are counted, not raised); the next progress."""
    stamp = Stamp.of(stat)
    entry = index.get(media_id, stamp)
    indexed, errors = state.indexed, state.errors
    if _needs_work(entry):
        work.progress(replace(state, current=media_id))
        try:
            _index_file(index, root / media_id, media_id, stamp, entry, work)
            indexed += 1
        except Exception as error:  # one bad file must not stop the scan
            log.warning("indexing %s failed: %s", media_id, error)
            errors += 1
    return replace(state, done=state.done + 1, bytes_done=state.bytes_done + stat.st_size,
                   current=media_id, indexed=indexed, errors=errors)


def finish_pass(state: ScanProgress) -> ScanProgress:
    """The last progress of a pass that visited every file."""
    return replace(state, current=None, finished=True)
