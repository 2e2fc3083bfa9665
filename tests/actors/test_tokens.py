"""Signed session tokens: what verify accepts, what it refuses, the work it does for a forgery,
and the secret file two nodes may create at the same moment."""
from __future__ import annotations

import base64
import hashlib
import hmac
import multiprocessing
import os
import re
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import tokens
from actors.tokens import InvalidToken, SessionClaims

NOW = 1_800_000_000.0
DAY = 86400.0
SECRET = bytes.fromhex("8c1f4a9e37d25b60f0e1c2d3a4b5968778695a4b3c2d1e0f1a2b3c4d5e6f7081")
OTHER_SECRET = bytes.fromhex("1f2e3d4c5b6a79880716253443526170f9e8d7c6b5a4938271605f4e3d2c1b0a")
URL_SAFE = re.compile(r"[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]+")  # media key, ".", body
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def typical(**changes: object) -> SessionClaims:
    values: dict[str, object] = {
        "media": "movies/Big Buck Bunny (2008).mkv", "profile": "720p", "renditions": ("copy", "720p", "480p"),
        "audio": 0, "subtitles": None, "burn": None, "start": 0, "created": int(NOW), "nonce": bytes(range(8))}
    values.update(changes)
    return SessionClaims(**values)  # type: ignore[arg-type]


def check(token: str, secret: bytes = SECRET, max_age: float = DAY, now: float = NOW) -> SessionClaims:
    return tokens.verify(token, secret, max_age, now)


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
small = st.integers(min_value=0, max_value=2**40)
optional = st.none() | st.integers(min_value=0, max_value=10_000)
claims_strategy = st.builds(
    SessionClaims, media=texts.filter(bool), profile=texts, renditions=st.lists(texts, max_size=6).map(tuple),
    audio=optional, subtitles=optional, burn=optional, start=small,
    created=st.integers(min_value=int(NOW - DAY), max_value=int(NOW)), nonce=st.binary(max_size=32))


@given(claims_strategy)
def test_every_claim_survives_the_round_trip_in_a_url_safe_token(claims: SessionClaims) -> None:
    token = tokens.issue(claims, SECRET)
    assert URL_SAFE.fullmatch(token)
    assert check(token) == claims


def test_typical_token_is_short_enough_for_a_log_line() -> None:
    token = tokens.issue(typical(), SECRET)
    assert len(token) <= 128
    assert tokens.short_id(token) == token_mac(token)[:4].hex()


def test_nonces_make_tokens_of_the_same_claims_distinct() -> None:
    issued = {tokens.issue(typical(nonce=tokens.new_nonce()), SECRET) for _ in range(100)}
    assert len(issued) == 100


def token_mac(token: str) -> bytes:
    return raw_bytes(token)[-tokens.MAC_SIZE:]


def raw_bytes(token: str) -> bytes:
    """The decoded body: what follows the media key."""
    body = token.rpartition(".")[2]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def encode(raw: bytes, key: str = "") -> str:
    """A token of body ``raw`` behind ``key`` (none: a bare token, as before media keys)."""
    body = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return f"{key}.{body}" if key else body


def key_of(token: str) -> str:
    return token.partition(".")[0]


def test_every_bit_of_every_byte_flipped_is_refused() -> None:
    token = tokens.issue(typical(), SECRET)
    raw = raw_bytes(token)
    for position in range(len(raw)):
        for bit in range(8):
            altered = bytearray(raw)
            altered[position] ^= 1 << bit
            with pytest.raises(InvalidToken):
                check(encode(bytes(altered), key_of(token)))


def test_every_character_replaced_by_any_other_is_refused() -> None:
    """Covers the non-canonical spellings too: the last character's spare bits."""
    token = tokens.issue(typical(), SECRET)
    for position, original in enumerate(token):
        for replacement in ALPHABET.replace(original, ""):
            with pytest.raises(InvalidToken):
                check(token[:position] + replacement + token[position + 1:])


@settings(max_examples=60)
@given(claims_strategy, st.data())
def test_a_flipped_bit_is_refused_for_any_claims(claims: SessionClaims, data: st.DataObject) -> None:
    token = tokens.issue(claims, SECRET)
    raw = bytearray(raw_bytes(token))
    raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(InvalidToken):
        check(encode(bytes(raw), key_of(token)))


@given(claims_strategy)
def test_another_secret_refuses_it(claims: SessionClaims) -> None:
    with pytest.raises(InvalidToken):
        check(tokens.issue(claims, OTHER_SECRET))


def test_age_limits_are_inclusive_of_max_age_and_of_the_skew() -> None:
    token = tokens.issue(typical(), SECRET)
    assert check(token, max_age=DAY, now=NOW + DAY) == typical()
    with pytest.raises(InvalidToken):
        check(token, max_age=DAY, now=NOW + DAY + 1)
    assert check(token, now=NOW - tokens.MAX_SKEW) == typical()
    with pytest.raises(InvalidToken):
        check(token, now=NOW - tokens.MAX_SKEW - 1)


def test_every_truncation_is_refused() -> None:
    token = tokens.issue(typical(), SECRET)
    for length in range(len(token)):
        with pytest.raises(InvalidToken):
            check(token[:length])


@pytest.mark.parametrize("garbage", [
    "", "=", "a.b", "..", "abc/def", "AAAA====", "é" * 40, "ＡＢＣＤ" * 10, "\x00" * 30,
    "A" * (tokens.MAX_TOKEN_CHARS + 1), "A" * 24,
])
def test_malformed_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        check(garbage)


@given(st.text(max_size=200))
def test_arbitrary_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidToken):
        check(text)


def test_padding_and_standard_alphabet_spellings_are_refused() -> None:
    """One string per token: the padded or ``+/`` spelling of the same bytes is not it."""
    token = next(t for t in (tokens.issue(typical(nonce=bytes([n]) * 8), SECRET) for n in range(256))
                 if "-" in t or "_" in t)
    assert check(token).media == typical().media
    for spelling in (token + "=" * (-len(token) % 4 or 4),
                     f"{key_of(token)}." + base64.b64encode(raw_bytes(token)).rstrip(b"=").decode()):
        with pytest.raises(InvalidToken):
            check(spelling)


def test_a_correctly_signed_payload_of_another_version_is_refused() -> None:
    payload = bytearray(raw_bytes(tokens.issue(typical(), SECRET))[:-tokens.MAC_SIZE])
    payload[0] = tokens.VERSION + 1
    mac = hmac.new(SECRET, tokens.CONTEXT + bytes(payload), hashlib.sha256).digest()[:tokens.MAC_SIZE]
    with pytest.raises(InvalidToken):
        check(encode(bytes(payload) + mac))


@pytest.mark.parametrize("bad", [{"media": ""}, {"start": -1}, {"audio": -2}, {"created": -5}])
def test_unencodable_claims_are_refused_at_issue(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        tokens.issue(typical(**bad), SECRET)


def forged(token: str, position: int) -> str:
    raw = bytearray(raw_bytes(token))
    raw[position] ^= 0x01
    return encode(bytes(raw), key_of(token))


def test_every_plausible_forgery_is_decided_by_one_compare_digest_of_16_bytes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", recording)
    token = tokens.issue(typical(), SECRET)
    for position in (0, 1, len(raw_bytes(token)) - tokens.MAC_SIZE - 1, len(raw_bytes(token)) - 1):
        with pytest.raises(InvalidToken):
            check(forged(token, position))
    check(token)
    assert calls == [(tokens.MAC_SIZE, tokens.MAC_SIZE)] * 5


def test_remembered_tokens_still_age_and_forgeries_of_them_get_the_full_check(
        monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[int] = []
    real = hmac.compare_digest
    monkeypatch.setattr(tokens.hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    verified = tokens.Verified(SECRET, DAY, size=2)
    token = tokens.issue(typical(), SECRET)
    assert verified(token, NOW) == verified(token, NOW + 10) == typical()
    assert len(compared) == 1  # the second request skipped the HMAC ...
    with pytest.raises(InvalidToken):
        verified(token, NOW + DAY + 1)  # ... never the age
    for position in (0, len(raw_bytes(token)) - 1):  # one byte off: a stranger to the memory
        with pytest.raises(InvalidToken):
            verified(forged(token, position), NOW)
    assert len(compared) == 3
    others = [tokens.issue(typical(nonce=bytes([n]) * 8), SECRET) for n in (1, 2)]
    for other in others:  # the memory is bounded: the oldest goes first
        verified(other, NOW)
    verified(token, NOW)
    assert len(compared) == 6
    with pytest.raises(InvalidToken):
        tokens.Verified(OTHER_SECRET, DAY)(token, NOW)


def recorded_work(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """From now on, every HMAC (with its message's length) and ``compare_digest`` (with
    its operands' lengths) that ``tokens`` does, in order."""
    work: list[tuple[object, ...]] = []
    real_new, real_compare = hmac.new, hmac.compare_digest
    monkeypatch.setattr(tokens.hmac, "new", lambda key, msg, digestmod: work.append(
        ("hmac", len(msg))) or real_new(key, msg, digestmod))
    monkeypatch.setattr(tokens.hmac, "compare_digest", lambda a, b: work.append(
        ("compare", len(a), len(b))) or real_compare(a, b))
    return work


def test_a_wrong_first_byte_costs_what_a_wrong_last_byte_costs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal work, counted rather than timed: whichever byte of a forgery is wrong (the
    version byte, the MAC's first or last), verify does the same thing, one HMAC over the
    whole payload and one ``compare_digest`` of two 16-byte MACs, and parses nothing
    before them. An early exit (a version byte checked first) would show here."""
    token = tokens.issue(typical(), SECRET)
    size = len(raw_bytes(token))
    work = recorded_work(monkeypatch)
    real_unpack = tokens._unpack
    monkeypatch.setattr(tokens, "_unpack", lambda payload: work.append(("unpack",)) or real_unpack(payload))
    payload = len(tokens.KEYED_CONTEXT) + tokens.MEDIA_KEY_CHARS + size - tokens.MAC_SIZE
    for position in (0, size - tokens.MAC_SIZE, size - 1):
        with pytest.raises(InvalidToken):
            check(forged(token, position))
        assert work == [("hmac", payload), ("compare", tokens.MAC_SIZE, tokens.MAC_SIZE)], position
        work.clear()
    check(token)
    assert work == [("hmac", payload), ("compare", tokens.MAC_SIZE, tokens.MAC_SIZE), ("unpack",)]


def test_the_media_key_names_the_media_alike_for_every_session_and_hides_its_path() -> None:
    first = tokens.issue(typical(), SECRET)
    second = tokens.issue(typical(nonce=bytes(8), profile="480p", start=7), SECRET)
    other = tokens.issue(typical(media="movies/Sintel.mkv"), SECRET)
    assert key_of(first) == key_of(second) == tokens.media_key(typical().media, SECRET)
    assert len(key_of(first)) == tokens.MEDIA_KEY_CHARS and key_of(other) != key_of(first)
    assert key_of(tokens.issue(typical(), OTHER_SECRET)) != key_of(first)  # keyed by the secret
    assert "Bunny" not in first and "movies" not in key_of(first)


def test_a_key_altered_moved_or_removed_is_refused() -> None:
    """The key is under the MAC: another media's key on a genuine body, a genuine key on
    another token's body, or the body alone (a bare token) each fail the MAC check."""
    token = tokens.issue(typical(), SECRET)
    other = tokens.issue(typical(media="movies/Sintel.mkv"), SECRET)
    for wrong in (f"{key_of(other)}.{token.partition('.')[2]}",
                  f"{key_of(token)}.{other.partition('.')[2]}",
                  token.partition(".")[2], "A" * 7 + "." + token.partition(".")[2],
                  key_of(token) + "A." + token.partition(".")[2]):
        with pytest.raises(InvalidToken):
            check(wrong)


def bare_token(claims: SessionClaims) -> str:
    """A token as hlsd issued it before media keys: base64url(payload || mac), CONTEXT."""
    payload = tokens._pack(claims)
    return encode(payload + hmac.new(SECRET, tokens.CONTEXT + payload, hashlib.sha256).digest()[:tokens.MAC_SIZE])


def test_a_bare_token_of_before_media_keys_still_resumes_but_never_under_a_key() -> None:
    bare = bare_token(typical())
    assert check(bare) == typical()
    with pytest.raises(InvalidToken):
        check(f"{tokens.media_key(typical().media, SECRET)}.{bare}")


def test_a_wrong_media_key_costs_what_a_wrong_mac_costs(monkeypatch: pytest.MonkeyPatch) -> None:
    token = tokens.issue(typical(), SECRET)
    other_key = tokens.media_key("movies/Sintel.mkv", SECRET)
    work = recorded_work(monkeypatch)
    for wrong in (f"{other_key}.{token.partition('.')[2]}", forged(token, 0)):
        with pytest.raises(InvalidToken):
            check(wrong)
    signed = len(tokens.KEYED_CONTEXT) + tokens.MEDIA_KEY_CHARS + len(raw_bytes(token)) - tokens.MAC_SIZE
    assert work == [("hmac", signed), ("compare", tokens.MAC_SIZE, tokens.MAC_SIZE)] * 2


@pytest.mark.parametrize("text", [
    "", "abc", "00" * 15, "0" * 33, "zz" * 16, "00" * 16, "deadbeef" * 4, "0123456789abcdef" + " x" * 8,
])
def test_weak_or_malformed_configured_secrets_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        tokens.parse_secret(text)


def test_configured_secret_is_hex() -> None:
    text = "3fa85f6457174562b3fc2c963f66afa6"
    assert tokens.parse_secret(f"  {text.upper()}\n") == bytes.fromhex(text)


def test_secret_file_is_made_once_private_and_read_back(tmp_path: Path) -> None:
    work = tmp_path / "work"
    secret = tokens.load_or_create_secret(work)
    path = work / tokens.SECRET_FILE
    assert len(secret) == tokens.SECRET_BYTES
    assert path.stat().st_mode & 0o777 == 0o600
    mtime = path.stat().st_mtime_ns
    assert tokens.load_or_create_secret(work) == secret
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in work.iterdir()) == [tokens.SECRET_FILE]
    assert tokens.load_or_create_secret(tmp_path / "other") != secret


def test_secret_file_readable_by_others_or_corrupt_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / tokens.SECRET_FILE
    tokens.load_or_create_secret(tmp_path)
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        tokens.load_or_create_secret(tmp_path)
    path.chmod(0o600)
    path.write_text("not hex\n")
    with pytest.raises(ValueError, match=tokens.SECRET_FILE):
        tokens.load_or_create_secret(tmp_path)


def create_together(work: Path, creators: int) -> list[bytes]:
    barrier, found = threading.Barrier(creators), []

    def create() -> None:
        barrier.wait(timeout=10)
        found.append(tokens.load_or_create_secret(work))

    threads = [threading.Thread(target=create) for _ in range(creators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return found


def test_threads_creating_the_secret_at_once_agree(tmp_path: Path) -> None:
    for round_number in range(20):
        work = tmp_path / str(round_number)
        found = create_together(work, 8)
        assert len(found) == 8 and len(set(found)) == 1
        assert sorted(p.name for p in work.iterdir()) == [tokens.SECRET_FILE]


def create_in_process(work: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:
    barrier.wait(timeout=30)
    out.put(tokens.load_or_create_secret(Path(work)).hex())


def test_processes_creating_the_secret_at_once_agree(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    barrier, out = context.Barrier(4), context.Queue()
    workers = [context.Process(target=create_in_process, args=(str(tmp_path), barrier, out)) for _ in range(4)]
    for worker in workers:
        worker.start()
    secrets_seen = {out.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0
    assert secrets_seen == {tokens.load_or_create_secret(tmp_path).hex()}
    assert os.listdir(tmp_path) == [tokens.SECRET_FILE]
