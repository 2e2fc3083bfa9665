"""The users file (actors.accounts) and what accounts change in tokens (actors.tokens)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from actors import accounts, tokens, viewers
from actors.accounts import Accounts
from actors.errors import Invalid, NotFound, NotSignedIn, TooMany

PASSWORD = "correct horse battery"
# Real argon2id, cheaper than the default so the file runs in seconds; the default's
# parameters are asserted once below.
CHEAP = dict(time_cost=1, memory_cost=8192, parallelism=1)


class CountingHasher(PasswordHasher):
    """argon2-cffi's hasher, counting the verifications it does."""

    def __init__(self) -> None:
        super().__init__(**CHEAP)
        self.verified = 0

    def verify(self, hash: Any, password: Any) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def store(tmp_path: Path) -> Accounts:
    made = Accounts(tmp_path / "users.sqlite3", CountingHasher())
    yield made
    made.close()


def test_the_default_hasher_is_argon2id_with_rfc_9106_low_memory_parameters(tmp_path):
    store = Accounts(tmp_path / "users.sqlite3")
    hasher = store.hasher
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (3, 65536, 4)
    store.add("ann", PASSWORD)
    stored = store._run(lambda c: c.execute("SELECT hash FROM users").fetchone()[0])
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert (tmp_path / "users.sqlite3").stat().st_mode & 0o077 == 0
    store.close()


def test_a_user_signs_in_with_their_password_only(store):
    user = store.add("ann", PASSWORD, "viewer", ["movies"], 2)
    assert (user.name, user.role, user.folders, user.max_sessions) == ("ann", "viewer", ("movies",), 2)
    assert store.sign_in("ann", PASSWORD, "192.0.2.1") == user
    with pytest.raises(NotSignedIn):
        store.sign_in("ann", PASSWORD + "x", "192.0.2.1")


def test_an_unknown_name_costs_the_same_verification_as_a_wrong_password(store):
    store.add("ann", PASSWORD)
    hasher = store.hasher
    for name in ("ann", "nobody", "bad\x00name", "../etc"):
        before = hasher.verified
        with pytest.raises((NotSignedIn, Invalid)):
            store.sign_in(name, "wrong password", f"192.0.2.{len(name)}")
        assert hasher.verified - before == (1 if accounts.NAME.fullmatch(name) else 0), name
    before = hasher.verified
    store.sign_in("ann", PASSWORD, "192.0.2.99")
    assert hasher.verified - before == 1


def test_more_than_five_failures_per_name_or_address_are_throttled_before_hashing(store):
    store.add("ann", PASSWORD)
    store.add("bob", PASSWORD)
    for attempt in range(accounts.MAX_FAILURES):
        with pytest.raises(NotSignedIn):
            store.sign_in("ann", "wrong password", f"198.51.100.{attempt}")
    before = store.hasher.verified
    with pytest.raises(TooMany) as throttled:
        store.sign_in("ann", PASSWORD, "198.51.100.200")  # the right password, too late
    assert 0 < throttled.value.retry_in <= accounts.FAILURE_WINDOW
    assert store.hasher.verified == before
    for attempt in range(accounts.MAX_FAILURES):  # one address trying many names
        with pytest.raises(NotSignedIn):
            store.sign_in(f"guess{attempt}", "wrong password", "203.0.113.7")
    with pytest.raises(TooMany):
        store.sign_in("bob", PASSWORD, "203.0.113.7")
    assert store.sign_in("bob", PASSWORD, "203.0.113.8").name == "bob"


def test_names_passwords_and_folders_are_checked(store):
    for name in ("", "a" * 65, "../x", "a/b", "nul\x00", ".hidden", "sp ace"):
        with pytest.raises(Invalid):
            store.add(name, PASSWORD)
    for password in ("short", "x" * (accounts.MAX_PASSWORD_CHARS + 1)):
        with pytest.raises(Invalid):
            store.add("ann", password)
    for folders in (["../etc"], ["a/../b"], [""], ["x\x00"]):
        with pytest.raises(Invalid):
            store.add("ann", PASSWORD, folders=folders)
    store.add("ann", PASSWORD)
    with pytest.raises(Invalid):
        store.add("ann", PASSWORD)
    with pytest.raises(Invalid):
        store.sign_in("ann", "x" * 10_000, "192.0.2.1")


def test_folders_bound_what_a_user_sees():
    user = accounts.User("ann", "viewer", ("movies/kids", "shows"), None, 1)
    assert user.may_see("shows/a.mp4") and user.may_see("movies/kids/b.mkv")
    assert not user.may_see("movies/adult.mp4") and not user.may_see("showsx/a.mp4")
    assert not user.may_see("clip.mp4")
    assert user.may_enter("movies") and user.may_enter("movies/kids") and not user.may_enter("music")


def test_removing_a_user_ends_their_sign_ins_key_and_tokens(store, monkeypatch):
    user = store.add("ann", PASSWORD)
    sid = store.open_login(user)
    key = store.new_key("ann")
    assert store.login_user(sid, "ann") == user and store.by_key(key) == user
    assert store.holder("ann", user.generation) == user
    store.remove("ann")
    monkeypatch.setattr(accounts, "CACHE_SECONDS", 0.0)
    assert store.login_user(sid, "ann") is None and store.by_key(key) is None
    assert store.holder("ann", user.generation) is None
    again = store.add("ann", PASSWORD)  # the same name again is another account
    assert store.holder("ann", user.generation) is None
    assert store.holder("ann", again.generation) == again
    with pytest.raises(NotFound):
        store.remove("nobody")


def test_a_new_password_ends_every_sign_in_and_token(store):
    user = store.add("ann", PASSWORD)
    sid = store.open_login(user)
    store.set_password("ann", "another password")
    assert store.login_user(sid, "ann") is None
    assert store.holder("ann", user.generation) is None
    assert store.sign_in("ann", "another password", "192.0.2.1").name == "ann"


def test_positions_are_per_user(store):
    store.set_position("ann", "a.mp4", 42.0)
    store.set_position("bob", "a.mp4", 7.0)
    assert store.position("ann", "a.mp4") == 42.0 and store.positions("bob") == {"a.mp4": 7.0}
    assert store.position("carl", "a.mp4") is None


def test_a_token_names_its_user_and_tokens_without_one_are_as_before():
    secret = bytes(range(32))
    plain = tokens.SessionClaims("a.mp4", "copy", ("copy",), None, None, None, 0,
                                 int(time.time()), b"12345678")
    token = tokens.issue(plain, secret)
    assert tokens._split(token)[1][0] == tokens.VERSION  # a v1 payload, as before accounts
    mine = tokens.SessionClaims(*[getattr(plain, f) for f in ("media", "profile", "renditions",
                                 "audio", "subtitles", "burn", "start", "created", "nonce")],
                                user="ann", generation=2 ** 61)
    back = tokens.verify(tokens.issue(mine, secret), secret, 60, time.time())
    assert back == mine and (back.user, back.generation) == ("ann", 2 ** 61)
    assert tokens.verify(token, secret, 60, time.time()).user == ""


def test_with_accounts_a_token_of_no_user_or_of_a_gone_one_is_refused(store):
    user = store.add("ann", PASSWORD, folders=["movies"])
    claims = tokens.SessionClaims("movies/a.mp4", "copy", ("copy",), None, None, None, 0, 0,
                                  b"12345678", *viewers.token_owner(user))
    assert not viewers.holder_gone(store, claims)
    assert viewers.holder_gone(store, tokens.SessionClaims(*list(vars(claims).values())[:9]))
    elsewhere = tokens.SessionClaims("clip.mp4", *list(vars(claims).values())[1:])
    assert viewers.holder_gone(store, elsewhere)
    assert not viewers.holder_gone(None, elsewhere)


def test_a_user_has_at_most_max_sessions():
    user = accounts.User("ann", "viewer", None, 2, 1)
    mine = tokens.SessionClaims("a", "copy", (), None, None, None, 0, 0, b"", "ann", 1)
    theirs = tokens.SessionClaims("a", "copy", (), None, None, None, 0, 0, b"", "bob", 1)
    viewers.check_quota(user, [mine, theirs, theirs])
    with pytest.raises(TooMany):
        viewers.check_quota(user, [mine, mine])
    viewers.check_quota(None, [mine] * 10)
