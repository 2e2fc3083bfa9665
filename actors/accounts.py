"""Accounts (SPEC "Accounts"): users, their sign-ins, API keys, resume positions and the
sign-in throttle, in one SQLite file beside the media index (``Settings.users_path``).

``Accounts`` owns that file; ``hlsctl users`` opens the same file from another process,
with hlsd running or not (WAL mode, every change one short transaction). No HTTP here:
it raises the ``actors.errors`` family and the web layer says it as HTTP.

Guarantees:
- Passwords are kept as argon2id hashes (argon2-cffi's ``PasswordHasher()``, RFC 9106's
  low-memory parameters); API keys, random 256-bit strings, as their SHA-256.
- ``sign_in`` does one hash verification whatever the name: an unknown name verifies a
  dummy hash, so a name cannot be probed by timing (a name no account can have, or a
  password over ``MAX_PASSWORD_CHARS``, is refused with none). More than
  ``MAX_FAILURES`` failures per name or per address within ``FAILURE_WINDOW`` are
  ``TooMany`` before any hashing.
- A user has a ``generation``, new at ``add`` and at each ``passwd``: session tokens carry
  it, so a removed (or re-created) user's tokens match no account; removing a user also
  drops their sign-ins, so their cookies stop on the next request. Reads of a user are
  cached for at most ``CACHE_SECONDS``.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from actors.errors import Invalid, NotFound, NotSignedIn, TooMany

T = TypeVar("T")

ROLES = ("admin", "viewer")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_PASSWORD_CHARS = 1024  # longer is refused before any hashing (argon2 would take it)
MIN_PASSWORD_CHARS = 8
MAX_FAILURES = 5
FAILURE_WINDOW = 900.0  # seconds
CACHE_SECONDS = 1.0  # how stale a user read may be: bounds how late a removal is seen
BUSY_TIMEOUT_MS = 5000
HASHING_AT_ONCE = 2  # each argon2 verification holds 64 MiB: bounded, on 2 cores
KEY_PREFIX = "hlsd_"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users (
        name TEXT PRIMARY KEY,
        hash TEXT NOT NULL,             -- argon2id, PHC string
        role TEXT NOT NULL,             -- admin | viewer
        folders TEXT,                   -- JSON list of media folders; NULL: all
        max_sessions INTEGER,           -- NULL: only hls.max_sessions bounds them
        key_hash TEXT UNIQUE,           -- SHA-256 hex of the API key; NULL: none
        generation INTEGER NOT NULL,    -- new at add and passwd; in session tokens
        created REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS logins (
        sid TEXT PRIMARY KEY,           -- in the signed cookie; dropped at sign-out
        name TEXT NOT NULL,
        created REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS failures (
        key TEXT NOT NULL,              -- 'name:<name>' or 'address:<ip>'
        at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS failures_key ON failures (key, at)",
    """CREATE TABLE IF NOT EXISTS positions (
        name TEXT NOT NULL,
        path TEXT NOT NULL,             -- media id
        seconds REAL NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (name, path)
    )""",
)
USER_COLUMNS = "name, role, folders, max_sessions, generation"


@dataclass(frozen=True)
class User:
    """A signed-in person as the rest of hlsd sees them."""

    name: str
    role: str
    folders: tuple[str, ...] | None  # None: every folder of the library
    max_sessions: int | None
    generation: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_see(self, media_id: str) -> bool:
        """A media id (or folder) inside one of this user's folders."""
        if self.folders is None:
            return True
        return any(media_id == f or media_id.startswith(f + "/") for f in self.folders)

    def may_enter(self, folder: str) -> bool:
        """A folder this user may see, or one on the way to one of theirs."""
        return self.may_see(folder) or self.folders is None or any(
            f.startswith(folder + "/") for f in self.folders) or folder == ""


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise Invalid("a user name is 1-64 letters, digits, '.', '_' or '-', starting with"
                      " a letter or digit")
    return name


def check_password(password: Any) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise Invalid(f"a password is {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    return password


def check_folders(folders: Iterable[str] | None) -> tuple[str, ...] | None:
    """Media folders as ids are written (``movies/kids``), or None for all."""
    if folders is None:
        return None
    cleaned = tuple(f.strip().strip("/") for f in folders if f.strip().strip("/"))
    for folder in cleaned:
        if "\0" in folder or any(part in ("", ".", "..") for part in folder.split("/")):
            raise Invalid(f"bad folder {folder!r}: a path inside the media root")
    if not cleaned:
        raise Invalid("name at least one folder, or leave --folders out for all")
    return cleaned


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class Accounts:
    """The users file at ``path`` (created if absent); safe to use from any thread."""

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = Path(path)
        self.hasher = hasher or PasswordHasher()
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)
        self._cache: dict[str, tuple[float, User | None]] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                           isolation_level=None, check_same_thread=False)
        self._connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._connection.execute("PRAGMA journal_mode = WAL")
        self.path.chmod(0o600)  # password hashes and key digests: the owner's only
        for statement in SCHEMA:
            self._connection.execute(statement)
        self._dummy: str | None = None

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """One transaction; the lock keeps the shared connection to one thread at a time."""
        with self._lock, self._connection:
            return work(self._connection)

    def _hash(self, work: Callable[[], T]) -> T:
        with self._hashing:
            return work()

    # -- managing users (hlsctl users) -----------------------------------------------

    def add(self, name: str, password: str, role: str = "viewer",
            folders: Iterable[str] | None = None, max_sessions: int | None = None) -> User:
        check_name(name)
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}")
        if max_sessions is not None and max_sessions < 1:
            raise Invalid("max sessions must be a positive whole number")
        granted = check_folders(folders)
        digest = self._hash(lambda: self.hasher.hash(check_password(password)))
        try:
            self._run(lambda c: c.execute(
                "INSERT INTO users (name, hash, role, folders, max_sessions, generation, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, digest, role, None if granted is None else json.dumps(granted),
                 max_sessions, _generation(), time.time())))
        except sqlite3.IntegrityError:
            raise Invalid(f"user {name} exists already") from None
        return self._user_row(name)

    def set_password(self, name: str, password: str) -> None:
        """A new password; every sign-in and session token of the user stops."""
        digest = self._hash(lambda: self.hasher.hash(check_password(password)))
        self._change(name, "UPDATE users SET hash = ?, generation = ? WHERE name = ?",
                     (digest, _generation(), name))

    def remove(self, name: str) -> None:
        """The user, their sign-ins and positions; their tokens match no one after."""
        self._change(name, "DELETE FROM users WHERE name = ?", (name,))
        self._run(lambda c: c.execute("DELETE FROM positions WHERE name = ?", (name,)))

    def new_key(self, name: str) -> str:
        """A new API key for ``name`` (the old one stops); only its digest is kept."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self._change(name, "UPDATE users SET key_hash = ? WHERE name = ?", (key_digest(key), name))
        return key

    def _change(self, name: str, sql: str, parameters: tuple[Any, ...]) -> None:
        def work(connection: sqlite3.Connection) -> int:
            changed = connection.execute(sql, parameters).rowcount
            if changed and not sql.startswith("UPDATE users SET key_hash"):
                connection.execute("DELETE FROM logins WHERE name = ?", (name,))
            return changed

        if not self._run(work):
            raise NotFound(f"no user {name}")
        self._cache.pop(name, None)

    def users(self) -> list[User]:
        rows = self._run(lambda c: c.execute(
            f"SELECT {USER_COLUMNS} FROM users ORDER BY name").fetchall())
        return [_user(row) for row in rows]

    # -- who is asking ----------------------------------------------------------------

    def user(self, name: str) -> User | None:
        """The account ``name``, read at most ``CACHE_SECONDS`` ago."""
        now = time.monotonic()
        cached = self._cache.get(name)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        row = self._run(lambda c: c.execute(
            f"SELECT {USER_COLUMNS} FROM users WHERE name = ?", (name,)).fetchone())
        found = None if row is None else _user(row)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[name] = (now, found)
        return found

    def holder(self, name: str, generation: int) -> User | None:
        """The account a session token names, if it still exists in that generation."""
        user = self.user(name) if name else None
        return user if user is not None and user.generation == generation else None

    def by_key(self, key: str) -> User | None:
        """The owner of an API key, or None."""
        row = self._run(lambda c: c.execute(
            f"SELECT {USER_COLUMNS} FROM users WHERE key_hash = ?", (key_digest(key),)).fetchone())
        return None if row is None else _user(row)

    def _user_row(self, name: str) -> User:
        self._cache.pop(name, None)
        user = self.user(name)
        assert user is not None
        return user

    # -- signing in -------------------------------------------------------------------

    def sign_in(self, name: str, password: str, address: str) -> User:
        """The user whose password this is; ``NotSignedIn`` (after one verification
        whatever the name) or ``TooMany`` (after none) otherwise."""
        keys = (f"name:{name}", f"address:{address}")
        self._throttle(keys, time.time())
        if not NAME.fullmatch(name) or len(password) > MAX_PASSWORD_CHARS:
            # No account can have it: no hashing (the rule is public), but a failure.
            self._failed(keys)
            raise Invalid("a user name is 1-64 letters, digits, '.', '_' or '-'; a password"
                          f" at most {MAX_PASSWORD_CHARS} characters")
        row = self._run(lambda c: c.execute(
            "SELECT hash FROM users WHERE name = ?", (name,)).fetchone())
        stored = row[0] if row is not None else self._dummy_hash()
        if not self._verify(stored, password) or row is None:
            self._failed(keys)
            raise NotSignedIn("wrong name or password")
        self._run(lambda c: c.execute("DELETE FROM failures WHERE key = ?", (keys[0],)))
        if self.hasher.check_needs_rehash(stored):
            self._rehash(name, password)
        return self._user_row(name)

    def _dummy_hash(self) -> str:
        """What an unknown name is checked against: a hash made with the same parameters."""
        if self._dummy is None:
            self._dummy = self._hash(lambda: self.hasher.hash(secrets.token_urlsafe(16)))
        return self._dummy

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hash(lambda: self.hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False

    def _rehash(self, name: str, password: str) -> None:
        digest = self._hash(lambda: self.hasher.hash(password))
        self._run(lambda c: c.execute("UPDATE users SET hash = ? WHERE name = ?", (digest, name)))

    def _throttle(self, keys: tuple[str, ...], now: float) -> None:
        since = now - FAILURE_WINDOW
        for key in keys:
            count, oldest = self._run(lambda c: c.execute(
                "SELECT count(*), min(at) FROM failures WHERE key = ? AND at > ?",
                (key, since)).fetchone())
            if count >= MAX_FAILURES:
                raise TooMany("too many failed sign-ins; try again later",
                              retry_in=max(1.0, oldest + FAILURE_WINDOW - now))

    def _failed(self, keys: tuple[str, ...]) -> None:
        now = time.time()

        def work(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM failures WHERE at <= ?", (now - FAILURE_WINDOW,))
            connection.executemany("INSERT INTO failures (key, at) VALUES (?, ?)",
                                   [(key, now) for key in keys])

        self._run(work)

    def open_login(self, user: User) -> str:
        """A new sign-in of ``user``: the id its cookie carries."""
        sid = secrets.token_urlsafe(24)
        self._run(lambda c: c.execute("INSERT INTO logins (sid, name, created) VALUES (?, ?, ?)",
                                      (sid, user.name, time.time())))
        return sid

    def login_user(self, sid: str, name: str) -> User | None:
        """The user of a sign-in still open (never cached: a sign-out is at once)."""
        row = self._run(lambda c: c.execute(
            "SELECT 1 FROM logins WHERE sid = ? AND name = ?", (sid, name)).fetchone())
        return None if row is None else self.user(name)

    def close_login(self, sid: str) -> None:
        self._run(lambda c: c.execute("DELETE FROM logins WHERE sid = ?", (sid,)))

    # -- positions --------------------------------------------------------------------

    def set_position(self, name: str, media_id: str, seconds: float) -> None:
        self._run(lambda c: c.execute(
            "INSERT INTO positions (name, path, seconds, updated) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(name, path) DO UPDATE SET seconds = excluded.seconds,"
            " updated = excluded.updated", (name, media_id, float(seconds), time.time())))

    def position(self, name: str, media_id: str) -> float | None:
        row = self._run(lambda c: c.execute(
            "SELECT seconds FROM positions WHERE name = ? AND path = ?", (name, media_id)).fetchone())
        return None if row is None else float(row[0])

    def positions(self, name: str) -> dict[str, float]:
        """Every position of ``name``, by media id."""
        rows = self._run(lambda c: c.execute(
            "SELECT path, seconds FROM positions WHERE name = ?", (name,)).fetchall())
        return {path: float(seconds) for path, seconds in rows}


def _generation() -> int:
    return secrets.randbits(62)


def _user(row: tuple[Any, ...]) -> User:
    name, role, folders, max_sessions, generation = row
    return User(name, role, None if folders is None else tuple(json.loads(folders)),
                max_sessions, generation)
