"""Signed session tokens: a session id that carries what the session plays.

A token is ``KEY.BODY``: ``BODY`` is ``base64url(payload || mac)`` without padding, ``KEY``
the media key, 8 base64url characters naming the media (``media_key``), and ``mac`` the
first 16 bytes of HMAC-SHA256(secret, KEYED_CONTEXT || KEY || payload). Any node holding
the same secret can rebuild the session from it (SPEC "Sessions that survive restarts
and nodes"). The key is there for the front: nginx hashes on it, so every viewer of one
film reaches one node (SPEC "Work shared by viewers"). It is ``base64url`` of the first 6
bytes of HMAC-SHA256(secret, MEDIA_KEY_CONTEXT || media id): equal for equal media on
every node of one secret, and saying nothing of the media's path to anyone without it.

Guarantees:
- ``verify`` accepts only tokens ``issue`` made with the same secret, in canonical form
  (one string per payload: no padding, no stray trailing bits, alphabet ``A-Za-z0-9-_``
  and one ``.`` after the key, safe as one URL path segment), not older than ``max_age``
  and not from the future beyond ``MAX_SKEW``. Everything else raises the one exception
  ``InvalidToken``.
- The key is under the MAC: a token whose key was altered, removed or moved to another
  token's body fails the one MAC check like any altered token. So a key always names the
  media of its payload (``issue`` derives it from the claims, and only the secret signs),
  and ``verify`` never recomputes it: a mismatch costs what any bad MAC costs.
- Tokens issued before media keys (a bare ``BODY``, signed over CONTEXT || payload) are
  accepted for their resume window, so players survive the upgrade; their MAC context
  differs from the keyed one, so no keyed token verifies as a bare one or the reverse.
- For every token of plausible shape the same work is done before the decision: decode,
  one HMAC over the (key and) payload, one ``hmac.compare_digest`` of two 16-byte
  values. Only then is the payload parsed; its contents never steer the time spent
  before the MAC check.
- 16 bytes of MAC (128 bits) bound a forger's chance to 2**-128 per attempt; HMAC
  truncated to at least half the hash output is the usual rule (RFC 2104 section 5,
  NIST SP 800-107). 16 more bytes would only lengthen every URL and log line.
- ``Verified`` remembers the claims of the valid tokens it verified last (bounded),
  keyed by the whole token string: a player's next request skips the HMAC, never the
  age checks. A string that is not a remembered token, however close to one, matches
  nothing there (its hash is unrelated) and gets the full check above.

Payload v1: version byte, then unsigned LEB128 varints for created, start, audio,
subtitles, burn (the three optional ones stored as value + 1, 0 meaning None),
length-prefixed nonce, profile and renditions, and the media id as the rest (UTF-8).
Payload v2 (a session of a signed-in user, ``hls.auth = accounts``): v1 with the user's
name (length-prefixed) and account generation (varint) before the media id. A session
without a user is still issued as v1, byte for byte as before accounts existed.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

VERSION = 1
VERSION_WITH_USER = 2
CONTEXT = b"hlsd session token\x00"  # bare tokens, before media keys: verified only
KEYED_CONTEXT = b"hlsd session token with media key\x00"
MEDIA_KEY_CONTEXT = b"hlsd media key\x00"
MEDIA_KEY_CHARS = 8  # base64url of 6 bytes: 2**48 keys, far more than films
KEY_SEPARATOR = "."
MAC_SIZE = 16
NONCE_SIZE = 8
MAX_SKEW = 60.0
MAX_TOKEN_CHARS = 4096
MIN_SECRET_BYTES = 16
MIN_DISTINCT_HEX_DIGITS = 8
SECRET_FILE = "session_secret"
SECRET_BYTES = 32
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


class InvalidToken(ValueError):
    """Malformed, altered, signed with another secret, expired or from the future."""


@dataclass(frozen=True)
class SessionClaims:
    """What a session plays; ``start`` is a segment number, ``created`` unix seconds;
    ``user`` and ``generation`` name the account that opened it ("" and 0: none)."""

    media: str
    profile: str
    renditions: tuple[str, ...]
    audio: int | None
    subtitles: int | None
    burn: int | None
    start: int
    created: int
    nonce: bytes
    user: str = ""
    generation: int = 0


def new_nonce() -> bytes:
    """Random bytes that make two sessions of one media in one second distinct."""
    return secrets.token_bytes(NONCE_SIZE)


def media_key(media: str, secret: bytes) -> str:
    """The 8 characters every token of ``media`` begins with (the same on every node)."""
    digest = hmac.new(secret, MEDIA_KEY_CONTEXT + media.encode(), hashlib.sha256).digest()
    return _b64encode(digest[:MEDIA_KEY_CHARS * 3 // 4])


def issue(claims: SessionClaims, secret: bytes) -> str:
    """The token for ``claims``; ``ValueError`` when a claim cannot be encoded."""
    payload = _pack(claims)
    key = media_key(claims.media, secret)
    return f"{key}{KEY_SEPARATOR}{_b64encode(payload + _mac(payload, secret, key))}"


def verify(token: str, secret: bytes, max_age: float, now: float) -> SessionClaims:
    """The claims of a valid token, else ``InvalidToken``."""
    key, payload, given = _split(token)
    if not hmac.compare_digest(_mac(payload, secret, key), given):
        raise InvalidToken("bad signature")
    return _within_age(_unpack(payload), max_age, now)


def _within_age(claims: SessionClaims, max_age: float, now: float) -> SessionClaims:
    if claims.created > now + MAX_SKEW:
        raise InvalidToken("created in the future")
    if now - claims.created > max_age:
        raise InvalidToken("expired")
    return claims


class Verified:
    """``verify`` for one secret and age, remembering the last ``size`` valid tokens."""

    def __init__(self, secret: bytes, max_age: float, size: int = 4096) -> None:
        self._secret, self._max_age, self._size = secret, max_age, size
        self._lock = threading.Lock()
        self._claims: OrderedDict[str, SessionClaims] = OrderedDict()

    def __call__(self, token: str, now: float) -> SessionClaims:
        with self._lock:
            claims = self._claims.get(token)
            if claims is not None:
                self._claims.move_to_end(token)
        if claims is not None:
            return _within_age(claims, self._max_age, now)
        claims = verify(token, self._secret, self._max_age, now)
        with self._lock:
            self._claims[token] = claims
            while len(self._claims) > self._size:
                self._claims.popitem(last=False)
        return claims


def short_id(token: str) -> str:
    """8 hex digits naming a token in log lines and the tree dump (MAC's first 4 bytes)."""
    try:
        _, _, mac = _split(token)
    except InvalidToken:
        mac = hashlib.sha256(token.encode("utf-8", "replace")).digest()
    return mac[:4].hex()


def _mac(payload: bytes, secret: bytes, key: str) -> bytes:
    """A keyed token's MAC covers its key; a bare token's (``key`` "") is the old one."""
    signed = KEYED_CONTEXT + key.encode() + payload if key else CONTEXT + payload
    return hmac.new(secret, signed, hashlib.sha256).digest()[:MAC_SIZE]


def _split(token: str) -> tuple[str, bytes, bytes]:
    """(key, payload, mac) of a token in canonical form, key "" for a bare token; shape
    errors only, no secret used."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise InvalidToken("bad length")
    key, separator, body = token.rpartition(KEY_SEPARATOR)
    if separator and len(key) != MEDIA_KEY_CHARS:
        raise InvalidToken("bad media key")
    if not token.isascii() or not _ALPHABET.fullmatch(body) or (
            key and not _ALPHABET.fullmatch(key)):
        raise InvalidToken("not base64url")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("not base64url") from None
    if _b64encode(raw) != body or len(raw) <= MAC_SIZE + 1:
        raise InvalidToken("not canonical")
    return key, raw[:-MAC_SIZE], raw[-MAC_SIZE:]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _pack(claims: SessionClaims) -> bytes:
    version = VERSION_WITH_USER if claims.user else VERSION
    fields = [bytes([version]), _varint(claims.created), _varint(claims.start)]
    fields += [_optional(value) for value in (claims.audio, claims.subtitles, claims.burn)]
    fields += [_chunk(claims.nonce), _chunk(claims.profile.encode())]
    fields.append(_varint(len(claims.renditions)))
    fields += [_chunk(name.encode()) for name in claims.renditions]
    if claims.user:
        fields += [_chunk(claims.user.encode()), _varint(claims.generation)]
    if not claims.media:
        raise ValueError("media must not be empty")
    fields.append(claims.media.encode())
    return b"".join(fields)


def _unpack(payload: bytes) -> SessionClaims:
    """Parses a payload whose MAC matched: a failure here is a token of another version."""
    try:
        reader = _Reader(payload)
        version = reader.byte()
        if version not in (VERSION, VERSION_WITH_USER):
            raise InvalidToken("unknown version")
        created, start = reader.varint(), reader.varint()
        audio, subtitles, burn = (reader.optional() for _ in range(3))
        nonce, profile = reader.chunk(), reader.chunk().decode()
        renditions = tuple(reader.chunk().decode() for _ in range(reader.varint()))
        user, generation = "", 0
        if version == VERSION_WITH_USER:
            user, generation = reader.chunk().decode(), reader.varint()
        media = reader.rest().decode()
    except (IndexError, UnicodeDecodeError):
        raise InvalidToken("bad payload") from None
    if not media or (version == VERSION_WITH_USER and not user):
        raise InvalidToken("bad payload")
    return SessionClaims(media, profile, renditions, audio, subtitles, burn, start, created, nonce,
                         user, generation)


def _varint(value: int) -> bytes:
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"not a whole number >= 0: {value!r}")
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _optional(value: int | None) -> bytes:
    return _varint(0 if value is None else value + 1)


def _chunk(data: bytes) -> bytes:
    return _varint(len(data)) + data


class _Reader:
    """Reads a payload front to back; ``IndexError`` when it runs short."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        value = self.data[self.at]
        self.at += 1
        return value

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value
            if shift > 63:
                raise IndexError("varint too long")

    def optional(self) -> int | None:
        value = self.varint()
        return None if value == 0 else value - 1

    def chunk(self) -> bytes:
        size = self.varint()
        if self.at + size > len(self.data):
            raise IndexError("chunk runs past the end")
        value = self.data[self.at:self.at + size]
        self.at += size
        return value

    def rest(self) -> bytes:
        value, self.at = self.data[self.at:], len(self.data)
        return value


def parse_secret(text: str) -> bytes:
    """``hls.session_secret``: hex, at least 32 digits (16 bytes), not an obvious pattern.

    ``ValueError`` otherwise, so a settings table can name the key. Make one with
    ``openssl rand -hex 32``.
    """
    digits = text.strip().lower()
    if not re.fullmatch(r"(?:[0-9a-f]{2})+", digits) or len(digits) < 2 * MIN_SECRET_BYTES:
        raise ValueError(f"must be an even number of hex digits, at least {2 * MIN_SECRET_BYTES}"
                         " (make one with: openssl rand -hex 32)")
    secret = bytes.fromhex(digits)
    if len(set(digits)) < MIN_DISTINCT_HEX_DIGITS:
        raise ValueError("looks like a pattern, not random (make one with: openssl rand -hex 32)")
    return secret


def load_or_create_secret(work_dir: Path) -> bytes:
    """The secret kept in ``work_dir/session_secret`` (mode 0600), made on first use.

    The file appears complete or not at all: it is written under a unique name and then
    hard-linked into place, which fails if the name exists, so of two nodes starting at
    once one wins and both read back the winner's secret.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    return _read_secret(path)


def _create_secret(path: Path) -> None:
    scratch = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(SECRET_BYTES) + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.link(scratch, path)
    except FileExistsError:
        pass
    finally:
        scratch.unlink(missing_ok=True)


def _read_secret(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        return parse_secret(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
