"""What accounts change in the session layer, each rule one function that
``SessionGateway`` or ``HlsSystem`` calls.

A *viewer* is the signed-in ``User`` a request is made for, or None: no accounts
(``hls.auth = none``) or an operator, to whom every file and session is open. Each
function here is a no-op for None, so with ``hls.auth = none`` hlsd behaves as before.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

import pykka

from actors.accounts import Accounts, User
from actors.errors import Invalid, NotFound, TooMany
from actors.media.index import MediaIndex
from actors.messages import StopSession
from actors.runtime import SessionDirectory
from actors.settings import Settings
from actors.tokens import InvalidToken, SessionClaims, short_id

log = logging.getLogger(__name__)

QUOTA_RETRY = 10  # seconds: a player may try again once the viewer stopped a session


def open_store(settings: Settings) -> Accounts | None:
    """The accounts of ``hls.auth = accounts``; None without them."""
    return Accounts(settings.users_path) if settings.accounts else None


def check_may_see(viewer: User | None, media_id: str) -> None:
    """A file outside the viewer's folders is as absent as a file that does not exist."""
    if viewer is not None and not viewer.may_see(media_id):
        raise NotFound(f"no media file {media_id!r}")


def check_may_play(store: Accounts | None, viewer: User | None) -> None:
    """With accounts, a session belongs to a user: an operator's token alone opens none."""
    if store is not None and viewer is None:
        raise Invalid("sign in as a user to open a session")


def token_owner(viewer: User | None) -> tuple[str, int]:
    """(user, generation) for a new session's claims; ("", 0) for none."""
    return ("", 0) if viewer is None else (viewer.name, viewer.generation)


def check_quota(viewer: User | None, claims_open: Iterable[SessionClaims]) -> None:
    """At most the viewer's ``max_sessions`` sessions at once."""
    if viewer is None or viewer.max_sessions is None:
        return
    mine = sum(1 for claims in claims_open if claims.user == viewer.name)
    if mine >= viewer.max_sessions:
        raise TooMany(f"you have {mine} sessions open, the most you may have at once;"
                      " stop one to start another", retry_in=QUOTA_RETRY)


def holder_gone(store: Accounts | None, claims: SessionClaims) -> bool:
    """With accounts: the token's user was removed (or re-created, or their password
    changed), or the file is no longer in their folders. Such a token is a 404."""
    if store is None:
        return False
    holder = store.holder(claims.user, claims.generation)
    return holder is None or not holder.may_see(claims.media)


def open_claims(directory: SessionDirectory, verify: Callable[[str], SessionClaims],
                ) -> dict[str, tuple[SessionClaims, pykka.ActorRef[Any]]]:
    """The claims (``verify(token)``) and actor of every session in ``directory``."""
    found = {}
    for session_id in directory.ids():
        ref = directory.lookup(session_id)
        try:
            claims = verify(session_id)
        except InvalidToken:
            continue
        if ref is not None:
            found[session_id] = (claims, ref)
    return found


def stop_sessions_of(user: str,
                     sessions: dict[str, tuple[SessionClaims, pykka.ActorRef[Any]]]) -> None:
    """A removed user's sessions end: told, not waited for (seen at their next request)."""
    for session_id, (claims, ref) in sessions.items():
        if claims.user == user:
            try:
                ref.tell(StopSession("user removed", pykka.ThreadingFuture()))
            except pykka.ActorDeadError:
                continue
            log.info("session %s of removed user %r stopped", short_id(session_id), user)


def may_manage(viewer: User | None, claims: SessionClaims) -> bool:
    """A viewer lists, stops and steers only their own sessions; an admin, every one."""
    return viewer is None or viewer.is_admin or (
        claims.user == viewer.name and claims.generation == viewer.generation)


def check_may_manage(viewer: User | None, claims: SessionClaims) -> None:
    if not may_manage(viewer, claims):
        raise NotFound("no such session")


class Positions:
    """Where each viewer stopped: per user in the accounts, else one per file in the index."""

    def __init__(self, store: Accounts | None, index: MediaIndex) -> None:
        self.store, self.index = store, index

    def set(self, user: str, media_id: str, seconds: float) -> None:
        if self.store is None:
            self.index.set_position(media_id, seconds)
        elif user:
            self.store.set_position(user, media_id, seconds)

    def get(self, viewer: User | None, media_id: str) -> float | None:
        if self.store is None or viewer is None:
            return self.index.position(media_id) if self.store is None else None
        return self.store.position(viewer.name, media_id)

    def of(self, viewer: User) -> dict[str, float] | None:
        """Every position of ``viewer`` by media id; None: the index's own (no accounts)."""
        return None if self.store is None else self.store.positions(viewer.name)
