"""The web threads' way to the sessions: tokens in, session actors out.

``SessionGateway`` owns the rules of sessions as a whole, which no one session actor can
own: a token is verified once per request (``claims``: altered, foreign and expired are
the same 404); at most ``hls.max_sessions`` run at once; a valid token this node does not
run is re-created from its claims, one at a time, and only if the media still plays the
same way (``resume``); a crashed session being restarted is a 503, a gone one a 404; a
stop is waited for, bounded; a viewer's position is saved. With accounts
(``actors.viewers``), a token names its user: a removed user's tokens are 404 and their
sessions stop, each user has their own ``max_sessions`` and sees only their own sessions.

Its methods run on the caller's thread (a waitress thread); every wait has a deadline.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any, Callable, NoReturn

import pykka

from actors import media, tokens, viewers
from actors.accounts import Accounts, User
from actors.errors import NotFound, Unavailable
from actors.kernel import ChildSpec, Restart, StartChild, WhichChildren
from actors.messages import StopSession
from actors.runtime import Runtime
from actors.session import Session
from actors.tree import SESSIONS

log = logging.getLogger(__name__)

ASK_TIMEOUT = 5.0
Planner = Callable[[str, "str | None", float, "int | None"], media.Plan]
RootChild = Callable[[str, str], pykka.ActorRef[Any]]  # (child id, what) -> ref, or Unavailable


class SessionGateway:
    """See the module docstring."""

    def __init__(self, runtime: Runtime, secret: bytes, planner: Planner, root_child: RootChild,
                 accounts: Accounts | None, positions: viewers.Positions) -> None:
        self.runtime, self.settings = runtime, runtime.settings
        self.secret = secret
        self.accounts, self.positions = accounts, positions  # accounts None: hls.auth = none
        self._verified = tokens.Verified(secret, self.settings.resume_window)
        self._planner, self._root_child = planner, root_child
        # One re-creation at a time: two requests of an unknown session must not both start it.
        self._resume_lock = threading.Lock()

    # --- tokens and creation ----------------------------------------------------------------

    def issue(self, media_id: str, plan: media.Plan, burn: int | None, viewer: User | None) -> str:
        """A token for a new session of ``viewer`` (within their ``max_sessions``)."""
        if viewer is not None:  # every open token is read only where a quota applies
            viewers.check_quota(viewer, (claims for claims, _ in self.open_claims().values()))
        claims = tokens.SessionClaims(media_id, plan.profile, plan.names, None, None, burn,
                                      plan.start_segment, int(time.time()), tokens.new_nonce(),
                                      *viewers.token_owner(viewer))
        return tokens.issue(claims, self.secret)

    def claims(self, session_id: str) -> tokens.SessionClaims:
        """The claims of a token signed with this secret and within ``hls.resume_window``,
        whose user (with accounts) is still there; anything else is a 404 (the same answer
        for altered, foreign, expired and a removed user's)."""
        try:
            claims = self._verified(session_id, time.time())
        except tokens.InvalidToken:
            raise NotFound("no such session") from None
        if viewers.holder_gone(self.accounts, claims):
            viewers.stop_sessions_of(claims.user, self.open_claims())
            raise NotFound("no such session")
        return claims

    def open_claims(self) -> dict[str, tuple[tokens.SessionClaims, pykka.ActorRef[Any]]]:
        """The claims and actor of every session this node runs, by token."""
        return viewers.open_claims(self.runtime.directory, lambda t: self._verified(t, time.time()))

    def check_owner(self, session_id: str, viewer: User | None) -> None:
        """A session ``viewer`` may list, stop and steer; else a 404, as if absent."""
        viewers.check_may_manage(viewer, self.claims(session_id))

    def spawn(self, session_id: str, plan: media.Plan) -> None:
        if len(self.runtime.directory) >= self.settings.max_sessions:
            raise Unavailable(f"at most {self.settings.max_sessions} sessions", retry_in=10)
        runtime = self.runtime
        # Started on the sessions supervisor's thread, the first time and at each restart.
        spec = ChildSpec(session_id, lambda link: Session.start(link, runtime, session_id, plan),
                         restart=Restart.TRANSIENT, shutdown=self.settings.kill_grace + 5)
        # The supervisor starts sessions one after another, each a thread or two: a crowd
        # pressing play queues behind the others' starts, so the ask waits as a segment may.
        self.ask_sessions(StartChild(spec), timeout=self.settings.segment_wait)

    def resume(self, session_id: str) -> None:
        """Re-create a session this node does not run from its token (after a restart, or
        one another node ran): same media, same renditions; it waits for a request."""
        claims = self.claims(session_id)
        with self._resume_lock:
            if self.runtime.directory.lookup(session_id) is not None:
                return
            plan = self._planner(claims.media, claims.profile, 0.0, claims.burn)
            if plan.names != claims.renditions or not 0 <= claims.start < plan.segment_count(plan.profile):
                raise NotFound(f"session {tokens.short_id(session_id)}: the media changed")
            self.spawn(session_id, dataclasses.replace(plan, start_segment=claims.start))
            self.runtime.metrics.sessions_resumed.inc()
            log.info("session %s resumed from its token (%s)", tokens.short_id(session_id), claims.media)

    # --- reaching a session -----------------------------------------------------------------

    def ask_sessions(self, message: Any, timeout: float = ASK_TIMEOUT) -> Any:
        """Ask the sessions supervisor; one that crashed or is busy stopping its children
        (its restart is under way) is a 503, not a 500."""
        try:
            return self._root_child(SESSIONS, "the sessions supervisor").ask(message, timeout=timeout)
        except (pykka.ActorDeadError, pykka.Timeout):
            raise Unavailable("the sessions supervisor is restarting", retry_in=1) from None

    def ref(self, session_id: str, resume: bool = True) -> pykka.ActorRef[Any]:
        """The running session of a valid token; one this node does not run is re-created
        (``resume``) or a 404."""
        self.claims(session_id)
        ref = self.runtime.directory.lookup(session_id)
        if ref is None and resume:
            self.resume(session_id)
            ref = self.runtime.directory.lookup(session_id)
        if ref is None:
            raise NotFound(f"no session {tokens.short_id(session_id)}")
        if not ref.is_alive():
            self._restarting_or_gone(session_id, ref)
        return ref

    def plan(self, session_id: str) -> tuple[pykka.ActorRef[Any], media.Plan]:
        """The running session of a valid token (re-created if need be) and its plan."""
        ref = self.ref(session_id)
        plan = self.runtime.directory.plan(session_id)
        if plan is None:
            raise NotFound(f"no session {tokens.short_id(session_id)}")
        return ref, plan

    def tell(self, session_id: str, message: Any, resume: bool = True,
             ref: pykka.ActorRef[Any] | None = None) -> None:
        """``ref``: the session's, when the caller has just looked it up (and checked the token)."""
        if ref is None:
            ref = self.ref(session_id, resume)
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self._restarting_or_gone(session_id, ref)

    def ask(self, session_id: str, message: Any, timeout: float = ASK_TIMEOUT) -> Any:
        """Asks a session this node runs: a state or a fault never re-creates one."""
        ref = self.ref(session_id, resume=False)
        try:
            return ref.ask(message, timeout=timeout)
        except pykka.ActorDeadError:
            self._restarting_or_gone(session_id, ref)
        except pykka.Timeout:
            raise Unavailable(f"session {tokens.short_id(session_id)} is busy", retry_in=1) from None

    def _restarting_or_gone(self, session_id: str, ref: pykka.ActorRef[Any]) -> NoReturn:
        """A crashed session keeps its entry while its supervisor restarts it."""
        children = self.ask_sessions(WhichChildren())
        if any(child_id == session_id for child_id, *_ in children):
            raise Unavailable(f"session {tokens.short_id(session_id)} is restarting", retry_in=1)
        self.runtime.directory.unregister(session_id, ref)
        raise NotFound(f"no session {tokens.short_id(session_id)}")

    def save_position(self, session_id: str, position: float) -> None:
        """Where the viewer is, for their "continue watching"."""
        if (plan := self.runtime.directory.plan(session_id)) is not None:
            self.positions.set(self.claims(session_id).user, plan.media_id, position)

    # --- stopping ---------------------------------------------------------------------------

    def stop(self, session_id: str, cause: str) -> None:
        """Returns once the session's FFmpeg is gone and its files are deleted, or once it
        is known not to run here. Never "try again": a beacon is sent once, so a session
        whose supervisor restarts under the stop is waited for (bounded), and a session
        that is not running (any more) is stopped already."""
        self.claims(session_id)
        deadline = time.monotonic() + self.settings.kill_grace + 5.0
        while True:
            try:
                return self._stop_once(session_id, cause, deadline)
            except NotFound:
                return
            except Unavailable:
                if time.monotonic() >= deadline:
                    log.warning("session %s still stopping after %g s", tokens.short_id(session_id),
                                self.settings.kill_grace + 5.0)
                    return
                time.sleep(0.05)

    def _stop_once(self, session_id: str, cause: str, deadline: float) -> None:
        reply: pykka.ThreadingFuture[Any] = pykka.ThreadingFuture()
        self.tell(session_id, StopSession(cause, reply), resume=False)
        try:
            reply.get(timeout=max(0.1, deadline - time.monotonic()))
        except pykka.Timeout:
            raise Unavailable("still stopping", retry_in=1) from None
