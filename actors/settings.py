"""hlsd's settings: every ``hls.*`` key parsed once, at start-up, into one frozen object.

A table of ``(key, converter, default)`` in the manner of waitress's adjustments: an
unknown key or a value that does not convert stops start-up with one line naming it.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from actors.ffmpeg.workdirs import STORE_DIR
from actors.media.profiles import DEFAULT_PROFILES, Profile, parse_profiles
from actors.tokens import parse_secret

PREFIX = "hls."

INDEX_NAME = "index.sqlite3"  # the media index, in the work dir unless hls.index says
USERS_NAME = "users.sqlite3"  # the accounts (hls.auth = accounts), beside the index
TRICKPLAY_SUFFIX = "-trickplay"  # the trick play folder: the index's stem + this
AUTH_MODES = ("none", "accounts")
# A player waits for at most a video and an audio segment at once (hls.js loads them in
# parallel); the default of hls.max_waiting is this many per session.
WAITS_PER_SESSION = 2
# Waitress threads beyond the waiting requests, for playlists, pages and operators:
# ``server_threads`` sizes ``[server:main] threads`` from these.
SPARE_THREADS = 16


class SettingsError(ValueError):
    """A bad ``hls.*`` setting; the message is one line that names the key."""


@dataclass(frozen=True)
class Intensity:
    """OTP's restart intensity: at most ``restarts`` restarts within ``period`` seconds."""

    restarts: int
    period: float


@dataclass(frozen=True)
class Settings:
    media_root: Path
    work_dir: Path
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    segment_seconds: float = 4.0
    idle_timeout: float = 60.0
    resume_window: float = 21600.0
    segment_wait: float = 20.0
    kill_grace: float = 5.0
    max_sessions: int = 50
    restart_intensity: Intensity = Intensity(3, 10.0)
    profiles: tuple[Profile, ...] = DEFAULT_PROFILES
    admin_token: str = ""
    faults_enabled: bool = False
    reap_interval: float = 30.0
    stall_timeout: float = 15.0
    pause_ahead: int = 8
    keep_behind: int = 30
    # None: WAITS_PER_SESSION per session of max_sessions (``waiting_limit``).
    max_waiting: int | None = None
    # Empty: ``tokens.load_or_create_secret(work_dir)`` at start-up (HlsSystem.start).
    session_secret: bytes = field(default=b"", repr=False)
    # Empty: waitress sends segment bytes itself; else the X-Accel-Redirect prefix.
    accel_redirect: str = ""
    instance: str = field(default="")
    index: Path | None = None  # the media index; None: INDEX_NAME in the work dir
    scan_interval: float = 600.0
    scan: bool = True  # the background library scan; off, the index fills as files play
    auth: str = "none"  # "accounts": sign-in, users in SQLite (users_path)
    users: Path | None = None  # the accounts; None: USERS_NAME beside the index
    trickplay: bool = True  # the scan makes thumbnail sheets and I-frame streams
    trickplay_bytes: int = 4 << 30  # new trick play files only while all of them are below
    segment_store_bytes: int = 4 * 1024 ** 3  # made segments kept for every session; 0: none

    @property
    def waiting_limit(self) -> int:
        """Segment requests that may wait for FFmpeg at once: ``hls.max_waiting``, or
        enough for every session's player to wait for a video and an audio segment."""
        return self.max_waiting or WAITS_PER_SESSION * self.max_sessions

    @property
    def server_threads(self) -> int:
        """The waitress ``threads`` this sizing needs: one per waiting request, and spare."""
        return self.waiting_limit + SPARE_THREADS

    @property
    def index_path(self) -> Path:
        return self.index or self.work_dir / INDEX_NAME

    @property
    def users_path(self) -> Path:
        return self.users or self.index_path.parent / USERS_NAME

    @property
    def trickplay_path(self) -> Path:
        """The trick play folder, beside the index (like its posters)."""
        return self.index_path.parent / f"{self.index_path.stem}{TRICKPLAY_SUFFIX}"

    @property
    def accounts(self) -> bool:
        return self.auth == "accounts"


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a positive number")
    return number


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def _bool(value: str) -> bool:
    lowered = str(value).strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0", ""):
        return False
    raise ValueError("must be true or false")


def _intensity(value: str) -> Intensity:
    restarts, _, period = str(value).partition("/")
    try:
        parsed = Intensity(int(restarts), float(period))
    except ValueError:
        raise ValueError("must be RESTARTS/SECONDS, like 3/10") from None
    if parsed.restarts < 0 or parsed.period <= 0:
        raise ValueError("must be RESTARTS/SECONDS with RESTARTS >= 0 and SECONDS > 0")
    return parsed


def _path(value: str) -> Path:
    if not str(value).strip():
        raise ValueError("must not be empty")
    return Path(value).expanduser().resolve()


def _executable(value: str) -> str:
    found = shutil.which(value)
    if found is None:
        raise ValueError(f"{value!r} is not an executable on PATH")
    return found


def _text(value: str) -> str:
    return str(value).strip()


def _secret(value: str) -> bytes:
    return parse_secret(value) if str(value).strip() else b""


def _auth(value: str) -> str:
    mode = str(value).strip().lower()
    if mode not in AUTH_MODES:
        raise ValueError(f"must be one of {', '.join(AUTH_MODES)}")
    return mode


_BYTE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def _byte_size(value: str) -> int:
    """A size in bytes: ``4294967296``, ``512M``, ``4G``, ``4GiB`` (binary units); 0 allowed."""
    text = str(value).strip().lower().removesuffix("b").removesuffix("i")
    number, unit = (text[:-1], text[-1]) if text[-1:].isalpha() else (text, "")
    if unit not in _BYTE_UNITS or not number.strip().isdigit():
        raise ValueError("must be a whole number of bytes, optionally with K, M, G or T")
    return int(number) * _BYTE_UNITS[unit]


def _accel_prefix(value: str) -> str:
    """A location prefix like ``/_segments/node1/``: absolute, ending in ``/``."""
    prefix = str(value).strip()
    if prefix and (not (prefix.startswith("/") and prefix.endswith("/"))
                   or any(c in prefix for c in " ?#")):
        raise ValueError("must be empty or a path that starts and ends with '/'")
    return prefix


CONVERTERS: Mapping[str, Callable[[str], Any]] = {
    "media_root": _path,
    "work_dir": _path,
    "ffmpeg": _executable,
    "ffprobe": _executable,
    "segment_seconds": _positive_float,
    "idle_timeout": _positive_float,
    "resume_window": _positive_float,
    "segment_wait": _positive_float,
    "kill_grace": _positive_float,
    "max_sessions": _positive_int,
    "restart_intensity": _intensity,
    "profiles": parse_profiles,
    "admin_token": _text,
    "faults_enabled": _bool,
    "reap_interval": _positive_float,
    "stall_timeout": _positive_float,
    "pause_ahead": _positive_int,
    "keep_behind": _positive_int,
    "max_waiting": _positive_int,
    "session_secret": _secret,
    "accel_redirect": _accel_prefix,
    "instance": _text,
    "index": _path,
    "scan_interval": _positive_float,
    "scan": _bool,
    "auth": _auth,
    "users": _path,
    "trickplay": _bool,
    "trickplay_bytes": _positive_int,
    "segment_store_bytes": _byte_size,
}
assert set(CONVERTERS) == {f.name for f in fields(Settings)}


def parse_settings(raw: Mapping[str, Any]) -> Settings:
    """Convert the ``hls.*`` keys of a PasteDeploy settings dict; other keys are ignored."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):]
        converter = CONVERTERS.get(name)
        if converter is None:
            raise SettingsError(f"unknown setting {key}")
        try:
            values[name] = converter(value)
        except (ValueError, TypeError) as error:
            raise SettingsError(f"bad setting {key} = {value!r}: {error}") from None
    for required in ("media_root", "work_dir"):
        if required not in values:
            raise SettingsError(f"missing setting {PREFIX}{required}")
    values.setdefault("ffmpeg", _executable_or_error("ffmpeg"))
    values.setdefault("ffprobe", _executable_or_error("ffprobe"))
    values.setdefault("instance", os.urandom(4).hex())
    if values["instance"] == STORE_DIR:
        raise SettingsError(f"bad setting hls.instance = {STORE_DIR!r}: the segment store's name")
    if values["media_root"] == values["work_dir"]:
        raise SettingsError("bad setting hls.work_dir: must differ from hls.media_root")
    return Settings(**values)


def _executable_or_error(name: str) -> str:
    try:
        return _executable(name)
    except ValueError as error:
        raise SettingsError(f"bad setting {PREFIX}{name}: {error}") from None
