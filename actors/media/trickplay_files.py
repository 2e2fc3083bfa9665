"""Where trick play files live: one folder per file version, beside the media index.

``TrickplayStore(folder, cap_bytes)``: ``<folder>/<name>/`` holds one file version's
sheets (``0.jpg`` ...), ``iframes.mp4`` and ``manifest.json`` (``trickplay.Manifest``),
``<name>`` being the poster's name for that version (media id + stamp, hashed). A pass
writes into ``<folder>/.partial-<pid>-<name>/``, which ``commit`` renames into place once
the manifest is written: a folder with a name is complete, and never changes again.

Bounded: a new version is made only while the whole store is below ``cap_bytes``
(``has_room``); ``sweep(keep)`` removes every folder whose version is not in ``keep``
(the file left the library, or changed: its old version goes), and partial folders
that no live process writes (several nodes may share an index, and so this folder).
"""
from __future__ import annotations

import functools
import logging
import os
import shutil
from pathlib import Path

from actors.media import trickplay
from actors.media._schema import poster_name
from actors.media.index import Stamp

log = logging.getLogger(__name__)

PARTIAL = ".partial-"


class TrickplayStore:
    """The trick play folders under ``folder``; any thread may read, one writer (the scan)."""

    def __init__(self, folder: Path, cap_bytes: int) -> None:
        self.folder = Path(folder)
        self.cap_bytes = cap_bytes

    @staticmethod
    def name(media_id: str, stamp: Stamp) -> str:
        return poster_name(media_id, stamp)

    def path(self, media_id: str, stamp: Stamp) -> Path:
        return self.folder / self.name(media_id, stamp)

    def manifest(self, media_id: str, stamp: Stamp) -> trickplay.Manifest | None:
        """The manifest of this version's files, or None while they are not made."""
        return _read_manifest(self.path(media_id, stamp))

    def partial(self, media_id: str, stamp: Stamp) -> Path:
        """A new, empty folder for a pass to write this version's files into."""
        path = self.folder / f"{PARTIAL}{os.getpid()}-{self.name(media_id, stamp)}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def commit(self, partial: Path, shape: trickplay.Geometry) -> trickplay.Manifest:
        """Describe what the pass wrote in ``partial`` and move it into place."""
        sheets = tuple((partial / f"{n}.jpg").stat().st_size for n in range(shape.sheets))
        init, frames = trickplay.fragments(partial / trickplay.IFRAMES)
        if len(frames) != shape.ticks:
            raise ValueError(f"{len(frames)} I-frames made, {shape.ticks} expected")
        manifest = trickplay.Manifest(shape, sheets, init, frames)
        written = partial / f".{trickplay.MANIFEST}"
        written.write_text(manifest.to_json())
        written.rename(partial / trickplay.MANIFEST)
        target = self.folder / partial.name.removeprefix(PARTIAL).partition("-")[2]
        try:
            partial.rename(target)
        except OSError:  # made meanwhile (another node sharing the index): keep that one
            shutil.rmtree(partial, ignore_errors=True)
        return manifest

    def discard(self, partial: Path) -> None:
        shutil.rmtree(partial, ignore_errors=True)

    def total_bytes(self) -> int:
        total = 0
        for folder, _, files in os.walk(self.folder):
            total += sum(os.lstat(os.path.join(folder, name)).st_size for name in files)
        return total

    def has_room(self) -> bool:
        return self.total_bytes() < self.cap_bytes

    def sweep(self, keep: set[str]) -> int:
        """Remove every folder (partial ones included) whose name is not in ``keep``."""
        removed = 0
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if entry.name in keep or _written_now(entry.name):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        if removed:
            log.info("trick play: removed the files of %d file versions", removed)
        return removed


def _written_now(name: str) -> bool:
    """A partial folder that another live process (a node sharing the index) writes."""
    writer = name.removeprefix(PARTIAL).partition("-")[0] if name.startswith(PARTIAL) else ""
    if not writer.isdigit() or int(writer) == os.getpid():
        return False
    try:
        os.kill(int(writer), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_manifest(folder: Path) -> trickplay.Manifest | None:
    try:
        stat = os.stat(folder / trickplay.MANIFEST)
    except OSError:
        return None
    return _parsed(str(folder), stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _parsed(folder: str, _mtime_ns: int) -> trickplay.Manifest:
    """A committed folder never changes: its manifest is parsed once."""
    return trickplay.Manifest.from_json((Path(folder) / trickplay.MANIFEST).read_text())
