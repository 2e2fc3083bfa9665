"""The media index: probe results, keyframes, posters and play positions in SQLite.

``MediaIndex(path)`` owns one SQLite file (``hls.index``). Every entry is keyed by media
id (the path relative to the media root) and carries the file's ``Stamp`` (size, mtime
in ns, inode) from when it was indexed: a lookup with a different stamp finds nothing
(stale), and the next write for the new stamp replaces the old entry whole. Keyframes
are one BLOB of packed float64 per file. Play positions live in their own table, keyed
by media id alone, so re-indexing a file keeps where its viewer stopped.

Threads: one connection per index, used by one thread at a time (a lock): a server's
open files then stay the same whichever of its threads read or write (entries are read
in microseconds, so the lock is never held long). WAL mode lets readers run while one
writer writes in another node sharing the file, and ``busy_timeout`` makes a writer wait
for the lock instead of failing. ``close()`` closes the connection, from any thread.

Never fatal: a file that is not a database, fails ``PRAGMA quick_check``, or was written
by a newer schema is moved aside to ``<name>.corrupt`` and rebuilt empty, with one log
line; the same happens when a query finds corruption later. When the file cannot be
opened at all (an unwritable folder), the index lives in memory for this run. Schema
versions are ``PRAGMA user_version``; ``MIGRATIONS[n]`` takes version n to n + 1.
"""
from __future__ import annotations

import array
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from actors.media import _schema
from actors.media._schema import ENTRY_COLUMNS

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
T = TypeVar("T")


class Stamp(NamedTuple):
    """What identifies one version of a file: (size, mtime_ns, inode)."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, stat: os.stat_result) -> Stamp:
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ino)


@dataclass(frozen=True)
class Entry:
    """One file's indexed facts; ``keyframes`` are read separately (``keyframes()``)."""

    media_id: str
    stamp: Stamp
    probe: dict[str, Any] | None
    duration: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    has_keyframes: bool
    keyframes_complete: bool
    poster: str | None
    indexed_at: float


@dataclass(frozen=True)
class ListingRow:
    """One file as the library page shows it."""

    media_id: str
    duration: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    poster: str | None
    position: float | None


@dataclass(frozen=True)
class IndexStats:
    """Counts over the whole index."""

    files: int
    probed: int
    with_keyframes: int
    with_posters: int
    media_bytes: int
    positions: int
    database_bytes: int


class MediaIndex:
    """The SQLite media index at ``path`` (created if absent); safe to use from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.poster_dir = self.path.parent / f"{self.path.stem}-posters"
        self._shared: tuple[int, sqlite3.Connection] | None = None
        self._lock = threading.Lock()
        self._use = threading.RLock()  # one thread at a time on the connection
        self._connections: list[sqlite3.Connection] = []
        self._generation = 0
        self._target = str(self.path)
        self._keeper: sqlite3.Connection | None = None
        self._open_checked()

    # -- connections ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        uri = self._target.startswith("file:")
        connection = sqlite3.connect(self._target, uri=uri, timeout=BUSY_TIMEOUT_MS / 1000,
                                     isolation_level=None, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # With WAL, NORMAL never corrupts; a power cut may lose the last writes: re-scanned.
        connection.execute("PRAGMA synchronous = NORMAL")
        with self._lock:
            self._connections.append(connection)
        return connection

    def _connection(self) -> sqlite3.Connection:
        with self._lock:
            cached = self._shared
            if cached is not None and cached[0] == self._generation:
                return cached[1]
        connection = self._connect()
        with self._lock:
            self._shared = (self._generation, connection)
        return connection

    def _open_checked(self) -> None:
        """Open, check and migrate the file; rebuild it if it is corrupt or too new."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._prepare(self._connection())
            return
        except (_schema.SchemaTooNew, sqlite3.OperationalError) as error:
            if isinstance(error, _schema.SchemaTooNew) or _is_contention(error):
                self._in_memory(str(error))  # the file is healthy: never move it aside
                return
            reason = str(error)
        except (sqlite3.DatabaseError, OSError) as error:
            reason = str(error)
        self._rebuild(reason)

    def _prepare(self, connection: sqlite3.Connection) -> None:
        connection.execute("PRAGMA journal_mode = WAL")
        check = connection.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {check}")
        _schema.migrate(connection)

    def _rebuild(self, reason: str) -> None:
        """Move the broken file aside and start an empty one (in memory if that fails)."""
        self._close_all()
        aside = self.path.with_name(self.path.name + ".corrupt")
        log.error("media index %s is unusable (%s): moved to %s and rebuilt",
                  self.path, reason, aside.name)
        try:
            if self.path.exists():
                os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            self._prepare(self._connection())
        except (OSError, sqlite3.DatabaseError) as error:
            self._in_memory(str(error))

    def _in_memory(self, reason: str) -> None:
        """Keep the index in memory for this run, leaving the file alone."""
        log.error("media index %s cannot be used (%s): kept in memory for this run",
                  self.path, reason)
        self._close_all()
        self._target = f"file:hlsd-index-{id(self)}?mode=memory&cache=shared"
        self._keeper = self._connection()  # a shared memory database lives while open
        _schema.migrate(self._keeper)

    def _close_all(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
            self._generation += 1
        for connection in connections:
            connection.close()

    def close(self) -> None:
        """Close the connection; the index must not be used afterwards."""
        with self._use:
            self._close_all()

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)``; corruption found on the way rebuilds and retries once."""
        with self._use:
            try:
                return work(self._connection())
            except (sqlite3.OperationalError, sqlite3.IntegrityError):
                raise  # busy, locked, or a bug: not corruption
            except sqlite3.DatabaseError as error:
                self._rebuild(str(error))
                return work(self._connection())

    # -- entries -------------------------------------------------------------------

    def get(self, media_id: str, stamp: Stamp) -> Entry | None:
        """The entry for this version of the file, or None (absent or stale)."""
        row = self._run(lambda c: c.execute(
            f"SELECT {ENTRY_COLUMNS} FROM media WHERE path = ? AND size = ? AND mtime_ns = ?"
            " AND inode = ?", (media_id, *stamp)).fetchone())
        return None if row is None else _entry(row)

    def _write(self, media_id: str, stamp: Stamp, assignments: str,
               values: tuple[Any, ...]) -> None:
        def work(connection: sqlite3.Connection) -> None:
            connection.execute("BEGIN IMMEDIATE")
            try:
                self._claim(connection, media_id, stamp)
                connection.execute(f"UPDATE media SET {assignments}, indexed_at = ? "
                                   "WHERE path = ?", (*values, time.time(), media_id))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        self._run(work)

    def _claim(self, connection: sqlite3.Connection, media_id: str, stamp: Stamp) -> None:
        """Make the row of ``media_id`` belong to ``stamp``, dropping a stale one."""
        stale = connection.execute(
            "SELECT poster FROM media WHERE path = ? AND NOT (size = ? AND mtime_ns = ? AND "
            "inode = ?)", (media_id, *stamp)).fetchone()
        if stale is not None:
            connection.execute("DELETE FROM media WHERE path = ?", (media_id,))
            self._remove_poster(stale[0])
        folder, _, name = media_id.rpartition("/")
        connection.execute(
            "INSERT OR IGNORE INTO media (path, folder, name, search_key, size, mtime_ns, "
            "inode, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (media_id, folder, name, media_id.casefold(), *stamp, time.time()))

    def put_probe(self, media_id: str, stamp: Stamp, probe_json: dict[str, Any]) -> None:
        """Store ffprobe's JSON (``-show_format -show_streams -show_chapters``) for this
        file version."""
        summary = _schema.summarize(probe_json)
        self._write(media_id, stamp, "probe = ?, duration = ?, width = ?, height = ?, "
                    "video_codec = ?, audio_codec = ?",
                    (json.dumps(probe_json, separators=(",", ":")), *summary))

    def put_keyframes(self, media_id: str, stamp: Stamp, keyframes: tuple[float, ...],
                      complete: bool) -> None:
        """Store keyframe times; ``complete`` says they cover the whole file."""
        blob = array.array("d", keyframes).tobytes()
        self._write(media_id, stamp, "keyframes = ?, keyframes_complete = ?",
                    (blob, int(complete)))

    def keyframes(self, media_id: str, stamp: Stamp) -> tuple[float, ...] | None:
        """The stored keyframe times of this file version, or None."""
        row = self._run(lambda c: c.execute(
            "SELECT keyframes FROM media WHERE path = ? AND size = ? AND mtime_ns = ? AND "
            "inode = ?", (media_id, *stamp)).fetchone())
        if row is None or row[0] is None:
            return None
        times = array.array("d")
        times.frombytes(row[0])
        return tuple(times)

    def poster_path(self, media_id: str, stamp: Stamp) -> Path:
        """Where the poster of this file version belongs (in the index's folder)."""
        return self.poster_dir / f"{_schema.poster_name(media_id, stamp)}.jpg"

    def set_poster(self, media_id: str, stamp: Stamp, poster_file: Path) -> None:
        """Record ``poster_file`` as the poster of this file version."""
        self._write(media_id, stamp, "poster = ?", (str(poster_file),))

    def _remove_poster(self, poster: str | None) -> None:
        if poster and Path(poster).parent == self.poster_dir:  # never delete others' files
            Path(poster).unlink(missing_ok=True)

    # -- positions -----------------------------------------------------------------

    def set_position(self, media_id: str, seconds: float) -> None:
        """Keep where a viewer of ``media_id`` got to."""
        self._run(lambda c: c.execute(
            "INSERT INTO positions (path, seconds, updated) VALUES (?, ?, ?) ON CONFLICT(path)"
            " DO UPDATE SET seconds = excluded.seconds, updated = excluded.updated",
            (media_id, float(seconds), time.time())))

    def position(self, media_id: str) -> float | None:
        """The last position kept for ``media_id``, or None."""
        row = self._run(lambda c: c.execute(
            "SELECT seconds FROM positions WHERE path = ?", (media_id,)).fetchone())
        return None if row is None else float(row[0])

    # -- the library ---------------------------------------------------------------

    def listing(self, folder: str = "", query: str = "", limit: int = 200,
                offset: int = 0) -> list[ListingRow]:
        """Files directly in ``folder`` by name; with ``query``, every file under
        ``folder`` whose id contains it (case-insensitive), by id."""
        sql, params = _schema.listing_query(folder.strip("/"), query, limit, offset)
        rows = self._run(lambda c: c.execute(sql, params).fetchall())
        return [ListingRow(*row) for row in rows]

    def subfolders(self, folder: str = "") -> list[str]:
        """Names of the folders directly inside ``folder`` that hold indexed files."""
        sql, params = _schema.subfolder_query(folder.strip("/"))
        rows = self._run(lambda c: c.execute(sql, params).fetchall())
        depth = len(folder.strip("/").split("/")) if folder.strip("/") else 0
        return sorted({row[0].split("/")[depth] for row in rows})

    def media_ids(self) -> set[str]:
        """Every indexed media id."""
        return {row[0] for row in self._run(
            lambda c: c.execute("SELECT path FROM media").fetchall())}

    def forget_missing(self, existing_paths: Iterable[str]) -> list[str]:
        """Drop entries (their posters and positions too) of ids not in ``existing_paths``."""
        existing = set(existing_paths)
        gone = sorted(self.media_ids() - existing)
        def work(connection: sqlite3.Connection) -> list[str | None]:
            posters = []
            for media_id in gone:
                row = connection.execute("DELETE FROM media WHERE path = ? RETURNING poster",
                                         (media_id,)).fetchone()
                connection.execute("DELETE FROM positions WHERE path = ?", (media_id,))
                posters.append(row[0] if row else None)
            return posters
        for poster in self._run(work):
            self._remove_poster(poster)
        return gone

    def stats(self) -> IndexStats:
        """Counts of entries, of what they hold, and the database's size."""
        counts = self._run(lambda c: c.execute(_schema.STATS_QUERY).fetchone())
        size = sum(os.path.getsize(p) for p in (self.path, Path(f"{self.path}-wal"))
                   if p.exists())
        return IndexStats(*(value or 0 for value in counts), database_bytes=size)


def _is_contention(error: sqlite3.OperationalError) -> bool:
    return any(word in str(error) for word in ("locked", "busy"))


def _entry(row: tuple[Any, ...]) -> Entry:
    (media_id, size, mtime_ns, inode, probe, duration, width, height, video_codec,
     audio_codec, has_keyframes, complete, poster, indexed_at) = row
    return Entry(media_id, Stamp(size, mtime_ns, inode),
                 json.loads(probe) if probe else None, duration, width, height,
                 video_codec, audio_codec, bool(has_keyframes), bool(complete), poster,
                 indexed_at)


__all__ = ["Entry", "IndexStats", "ListingRow", "MediaIndex", "Stamp"]
