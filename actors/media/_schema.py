"""The media index's SQL: schema, migrations and the queries the library page runs.

``MIGRATIONS[n]`` is the list of statements that takes ``PRAGMA user_version`` n to n + 1;
a new column or index is a new list at the end, never an edit of an old one.
"""
from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE media (
            path TEXT PRIMARY KEY,          -- media id: relative to the media root
            folder TEXT NOT NULL,           -- the id's folder, '' at the root
            name TEXT NOT NULL,             -- the id's last part
            search_key TEXT NOT NULL,       -- casefolded id, for the search box
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            probe TEXT,                     -- ffprobe's JSON
            duration REAL,
            width INTEGER,
            height INTEGER,
            video_codec TEXT,
            audio_codec TEXT,
            keyframes BLOB,                 -- packed float64 seconds
            keyframes_complete INTEGER NOT NULL DEFAULT 0,
            poster TEXT,
            indexed_at REAL NOT NULL
        )""",
        "CREATE INDEX media_folder ON media (folder, name)",
        """CREATE TABLE positions (
            path TEXT PRIMARY KEY,
            seconds REAL NOT NULL,
            updated REAL NOT NULL
        )""",
    ),
    (  # 2: a probe holds the file's chapters (ffprobe -show_chapters, "chapters": [...]);
       # one made before lacks the key and is read again, once, by the next scan or play
        "UPDATE media SET probe = NULL WHERE probe IS NOT NULL"
        " AND json_type(probe, '$.chapters') IS NULL",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

ENTRY_COLUMNS = ("path, size, mtime_ns, inode, probe, duration, width, height, video_codec, "
                 "audio_codec, keyframes IS NOT NULL, keyframes_complete, poster, indexed_at")
LISTING_COLUMNS = ("media.path, media.duration, media.width, media.height, "
                   "media.video_codec, media.audio_codec, media.poster, positions.seconds")
STATS_QUERY = ("SELECT count(*), count(probe), count(keyframes), count(poster), sum(size), "
               "(SELECT count(*) FROM positions) FROM media")


class SchemaTooNew(sqlite3.DatabaseError):
    """The file was written by a newer schema than this code knows."""


def migrate(connection: sqlite3.Connection) -> None:
    """Bring the schema to ``SCHEMA_VERSION``; safe when several nodes start at once."""
    connection.execute("BEGIN IMMEDIATE")  # re-read the version under the write lock
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(f"schema version {version} is newer than {SCHEMA_VERSION}")
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def summarize(probe: dict[str, Any]) -> tuple[float | None, int | None, int | None,
                                               str | None, str | None]:
    """(duration, width, height, video codec, audio codec) of ffprobe's JSON."""
    streams = probe.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    try:
        duration: float | None = float((probe.get("format") or {})["duration"])
    except (KeyError, TypeError, ValueError):
        duration = None
    return (duration,
            video.get("width") if video else None,
            video.get("height") if video else None,
            video.get("codec_name") if video else None,
            audio.get("codec_name") if audio else None)


def _subtree_bounds(folder: str) -> tuple[str, str]:
    """Bounds of every folder under ``folder``: '0' is the character after '/'."""
    return f"{folder}/", f"{folder}0"


def listing_query(folder: str, query: str, limit: int,
                  offset: int) -> tuple[str, tuple[Any, ...]]:
    """SQL and parameters of ``MediaIndex.listing``."""
    select = f"SELECT {LISTING_COLUMNS} FROM media LEFT JOIN positions USING (path)"
    page = (max(0, int(limit)), max(0, int(offset)))
    if not query:
        return f"{select} WHERE media.folder = ? ORDER BY media.name LIMIT ? OFFSET ?", (
            folder, *page)
    needle = query.casefold()
    if not folder:
        sql = f"{select} WHERE instr(media.search_key, ?) > 0 ORDER BY media.path"
        return f"{sql} LIMIT ? OFFSET ?", (needle, *page)
    low, high = _subtree_bounds(folder)
    sql = (f"{select} WHERE (media.folder = ? OR (media.folder >= ? AND media.folder < ?))"
           " AND instr(media.search_key, ?) > 0 ORDER BY media.path")
    return f"{sql} LIMIT ? OFFSET ?", (folder, low, high, needle, *page)


def subfolder_query(folder: str) -> tuple[str, tuple[Any, ...]]:
    """SQL and parameters giving every distinct folder below ``folder``."""
    if not folder:
        return "SELECT DISTINCT folder FROM media WHERE folder != ''", ()
    return ("SELECT DISTINCT folder FROM media WHERE folder >= ? AND folder < ?",
            _subtree_bounds(folder))


def poster_name(media_id: str, stamp: tuple[int, int, int]) -> str:
    """A file name unique to one version of one file."""
    key = "\0".join([media_id, *map(str, stamp)]).encode("utf-8", "surrogateescape")
    return hashlib.sha256(key).hexdigest()[:24]
