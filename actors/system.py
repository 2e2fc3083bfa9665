"""The running hlsd: starts and stops its actor tree (``actors.tree``) on the runtime its
actors share (``actors.runtime``), and is the facade the web layer calls.

``HlsSystem`` methods run on the caller's thread (a waitress thread): they validate,
probe media (blocking work stays out of the actors), then send one message and wait
for its reply with a deadline (a segment already made is opened from the session's
``ReadyBoard`` instead, and the session told). They raise the ``actors.errors`` family;
the web layer turns each kind into a status. URLs are the web layer's: playlists take
URI builders. The tree and faults: ``actors.operators``.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any, BinaryIO, Callable, NoReturn

import pykka

from actors import accel, ffmpeg, media, tokens, viewers
from actors.accounts import User
from actors.errors import HlsError, NotFound, Unavailable
from actors.kernel import ChildSpec, Link, Restart, StartChild, Supervisor, WhichChildren, stop_child
from actors.messages import (GetState, Heartbeat, RequestSegment, RunKind, ScanNow, SegmentServed,
                             StopSession)
from actors.reaper import sweep_once
from actors.runtime import Runtime
from actors.session import Session
from actors.settings import Settings
from actors.tree import ROOT_FLAGS, SESSIONS, root_specs
from actors.library_view import LibraryView
from actors.operators import Operators

log = logging.getLogger(__name__)

ASK_TIMEOUT = 5.0
# A segment already made is answered within this, even on a busy machine; only a request
# still unanswered then must wait for FFmpeg, and takes one of the caller's wait slots.
READY_WITHIN = 0.1


class HlsSystem(Operators):
    """Starts and stops the actor tree; the web layer's only way into it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime = Runtime.build(settings)
        self.root: pykka.ActorRef[Any] | None = None
        self.secret = settings.session_secret  # the work dir's own one when not set (start)
        self._verified = tokens.Verified(self.secret, settings.resume_window)
        # One re-creation at a time: two requests of an unknown session must not both start it.
        self._resume_lock = threading.Lock()
        self.accounts = viewers.open_store(settings)  # None: hls.auth = none
        self.positions = viewers.Positions(self.accounts, self.runtime.index)
        self.library_view = LibraryView(self.runtime, self.positions)
        self.playlists = media.PlaylistCache()

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> HlsSystem:
        settings = self.settings
        ffmpeg.raise_open_files_limit()
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        ffmpeg.claim_instance_dir(settings.work_dir, settings.instance)
        if not self.secret:
            self.secret = tokens.load_or_create_secret(settings.work_dir)
        self._verified = tokens.Verified(self.secret, settings.resume_window)
        # Before serving: kill what a killed hlsd left running, remove its dirs (invariant 3).
        sweep_once(self.runtime)
        self.runtime.start()
        self.root = Supervisor.start(Link(None, "root"), ROOT_FLAGS, root_specs(self.runtime))
        log.info("hlsd instance %s started (media %s, work %s)", settings.instance,
                 settings.media_root, settings.work_dir)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the tree in order (sessions first, timers last); every wait bounded."""
        if self.root is not None:
            stop_child(self.root, timeout, "root")
            self.root = None
        self.runtime.stop(timeout=5.0)
        ffmpeg.release_instance_dir(self.settings.work_dir, self.settings.instance)
        log.info("hlsd instance %s stopped", self.settings.instance)

    def alive(self) -> bool:
        return self.root is not None and self.root.is_alive()

    # --- the library (its listing and page: ``library_view``) ---------------------------------

    def plan(self, media_id: str, profile: str | None, start: float,
             burn: int | None = None, viewer: User | None = None) -> media.Plan:
        """Resolve, probe and plan a playback; raises before anything is spawned."""
        viewers.check_may_see(viewer, media_id)
        path = media.resolve_media(self.settings.media_root, media_id)
        info = self.runtime.prober.probe(path)
        if media.needs_keyframes(info, self.settings.profiles):
            info = self.runtime.prober.probe(path, keyframes=True)
        sidecars = tuple(media.find_sidecars(path, info.stream_count))
        return media.make_plan(media_id, info, self.settings.profiles,
                               self.settings.segment_seconds, profile, start,
                               burn=burn, sidecars=sidecars)

    # --- sessions ------------------------------------------------------------------------------

    def open_session(self, media_id: str, profile: str | None = None, start: float = 0.0,
                     burn: int | None = None, viewer: User | None = None) -> dict[str, Any]:
        """A new session: its token, and an actor that starts FFmpeg at the first segment
        request (the request that creates a session and its later ones may reach
        different nodes: none may keep an FFmpeg for requests it will never see).
        ``viewer``: the signed-in user it is for (the token names them)."""
        viewers.check_may_play(self.accounts, viewer)
        plan = self.plan(media_id, profile, start, burn, viewer)
        viewers.check_quota(viewer, (claims for claims, _ in self._open_claims().values()))
        claims = tokens.SessionClaims(media_id, plan.profile, plan.names, None, None, burn,
                                      plan.start_segment, int(time.time()), tokens.new_nonce(),
                                      *viewers.token_owner(viewer))
        session_id = tokens.issue(claims, self.secret)
        self._spawn(session_id, plan)
        self.runtime.metrics.sessions_created.inc()
        return self.session_state(session_id)

    def _spawn(self, session_id: str, plan: media.Plan) -> None:
        if len(self.runtime.directory) >= self.settings.max_sessions:
            raise Unavailable(f"at most {self.settings.max_sessions} sessions", retry_in=10)
        runtime = self.runtime
        starts = itertools.count()

        def start(link: Link) -> pykka.ActorRef[Any]:
            # Called on the sessions supervisor's thread, the first time and at each restart.
            return Session.start(link, runtime, session_id, plan, restarted=next(starts) > 0)

        spec = ChildSpec(session_id, start, restart=Restart.TRANSIENT,
                         shutdown=self.settings.kill_grace + 5)
        self._ask_sessions(StartChild(spec))

    def _claims(self, session_id: str) -> tokens.SessionClaims:
        """The claims of a token signed with this secret and within ``hls.resume_window``;
        anything else is a 404 (the same answer for altered, foreign and expired)."""
        try:
            claims = self._verified(session_id, time.time())
        except tokens.InvalidToken:
            raise NotFound("no such session") from None
        if viewers.holder_gone(self.accounts, claims):
            viewers.stop_sessions_of(claims.user, self._open_claims())
            raise NotFound("no such session")
        return claims

    def _open_claims(self) -> dict[str, tuple[tokens.SessionClaims, pykka.ActorRef[Any]]]:
        """The claims and actor of every session this node runs, by token."""
        return viewers.open_claims(self.runtime.directory, lambda t: self._verified(t, time.time()))

    def check_owner(self, session_id: str, viewer: User | None) -> None:
        """A session ``viewer`` may list, stop and steer; else a 404, as if absent."""
        viewers.check_may_manage(viewer, self._claims(session_id))

    def _resume(self, session_id: str) -> None:
        """Re-create a session this node does not run from its token (after a restart, or
        one another node ran): same media, same renditions; it waits for a request."""
        claims = self._claims(session_id)
        with self._resume_lock:
            if self.runtime.directory.lookup(session_id) is not None:
                return
            plan = self.plan(claims.media, claims.profile, 0.0, claims.burn)
            if plan.names != claims.renditions or not 0 <= claims.start < plan.segment_count(plan.profile):
                raise NotFound(f"session {tokens.short_id(session_id)}: the media changed")
            self._spawn(session_id, dataclasses.replace(plan, start_segment=claims.start))
            self.runtime.metrics.sessions_resumed.inc()
            log.info("session %s resumed from its token (%s)", tokens.short_id(session_id), claims.media)

    def _root_child(self, child_id: str, what: str) -> pykka.ActorRef[Any]:
        if self.root is None:
            raise Unavailable("hlsd is not running", retry_in=5)
        children = {cid: ref for cid, ref, _, _ in self.root.ask(WhichChildren(), timeout=ASK_TIMEOUT)}
        if children.get(child_id) is None:
            raise Unavailable(f"{what} is restarting", retry_in=1)
        return children[child_id]

    def _ask_sessions(self, message: Any) -> Any:
        """Ask the sessions supervisor; one that crashed or is busy stopping its children
        (its restart is under way) is a 503, not a 500."""
        try:
            return self._root_child(SESSIONS, "the sessions supervisor").ask(message, timeout=ASK_TIMEOUT)
        except (pykka.ActorDeadError, pykka.Timeout):
            raise Unavailable("the sessions supervisor is restarting", retry_in=1) from None

    def _session_ref(self, session_id: str, resume: bool = True) -> pykka.ActorRef[Any]:
        """The running session of a valid token; one this node does not run is re-created
        (``resume``) or a 404."""
        self._claims(session_id)
        ref = self.runtime.directory.lookup(session_id)
        if ref is None and resume:
            self._resume(session_id)
            ref = self.runtime.directory.lookup(session_id)
        if ref is None:
            raise NotFound(f"no session {tokens.short_id(session_id)}")
        if not ref.is_alive():
            self._restarting_or_gone(session_id, ref)
        return ref

    def _tell(self, session_id: str, message: Any, resume: bool = True,
              ref: pykka.ActorRef[Any] | None = None) -> None:
        """``ref``: the session's, when the caller has just looked it up (and checked the token)."""
        if ref is None:
            ref = self._session_ref(session_id, resume)
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self._restarting_or_gone(session_id, ref)

    def _restarting_or_gone(self, session_id: str, ref: pykka.ActorRef[Any]) -> NoReturn:
        """A crashed session keeps its entry while its supervisor restarts it."""
        children = self._ask_sessions(WhichChildren())
        if any(child_id == session_id for child_id, *_ in children):
            raise Unavailable(f"session {tokens.short_id(session_id)} is restarting", retry_in=1)
        self.runtime.directory.unregister(session_id, ref)
        raise NotFound(f"no session {tokens.short_id(session_id)}")

    def _ask(self, session_id: str, message: Any, timeout: float = ASK_TIMEOUT) -> Any:
        """Asks a session this node runs: a state or a fault never re-creates one."""
        ref = self._session_ref(session_id, resume=False)
        try:
            return ref.ask(message, timeout=timeout)
        except pykka.ActorDeadError:
            self._restarting_or_gone(session_id, ref)
        except pykka.Timeout:
            raise Unavailable(f"session {tokens.short_id(session_id)} is busy", retry_in=1) from None

    def master_playlist(self, session_id: str, variant_uri: Callable[[str], str],
                        track_uri: Callable[[RunKind, int], str] | None = None) -> str:
        """The session's master playlist (a heartbeat too); ``variant_uri(rendition name)``,
        ``track_uri(kind, track index)`` for the audio and subtitle renditions."""
        ref, plan = self._plan(session_id)
        self._beat(session_id, ref, Heartbeat())
        track_uri = track_uri or (lambda kind, n: f"{kind.value}/{n}/index.m3u8")
        return media.plan_master_playlist(
            plan, lambda p: variant_uri(p.name), lambda n: track_uri(RunKind.AUDIO, n),
            lambda n: track_uri(RunKind.SUBTITLES, n), self.settings.segment_seconds)

    def track_playlist(self, session_id: str, kind: RunKind, track: int,
                       segment_name: Callable[[int], str]) -> bytes:
        """The VOD playlist of an audio or subtitle rendition, on the video's grid (a
        heartbeat too); ``segment_name(n)``: segment n's URI relative to the playlist."""
        ref, plan = self._plan(session_id)
        if kind is RunKind.AUDIO:
            plan.audio_track(track)
        else:
            plan.subtitle_track(track)
        self._beat(session_id, ref, Heartbeat())
        key = (plan.media_id, kind.value, track, plan.grid)
        return self.playlists.media_playlist(key, plan.grid, segment_name)

    def media_playlist(self, session_id: str, profile: str,
                       segment_name: Callable[[int], str]) -> bytes:
        """The VOD playlist of the whole file for one rendition (a heartbeat too), the
        same bytes for every session of this file version; ``segment_name`` as above."""
        ref, plan = self._plan(session_id)
        boundaries = plan.boundaries.get(profile)
        if boundaries is None:
            raise NotFound(f"session {tokens.short_id(session_id)} has no profile {profile!r}")
        self._beat(session_id, ref, Heartbeat())
        # The grid is in the key: a file version's keyframes may come from two sources.
        key = (plan.media_id, RunKind.VIDEO.value, profile, boundaries)
        return self.playlists.media_playlist(key, boundaries, segment_name)

    def _plan(self, session_id: str) -> tuple[pykka.ActorRef[Any], media.Plan]:
        """The running session of a valid token (re-created if need be) and its plan."""
        ref = self._session_ref(session_id)
        plan = self.runtime.directory.plan(session_id)
        if plan is None:
            raise NotFound(f"no session {tokens.short_id(session_id)}")
        return ref, plan

    def session_state(self, session_id: str) -> dict[str, Any]:
        return self._ask(session_id, GetState())

    def sessions(self, viewer: User | None = None) -> list[dict[str, Any]]:
        """The state of every session this node runs that ``viewer`` may manage."""
        states = []
        for session_id in self.runtime.directory.ids():
            try:
                viewers.check_may_manage(viewer, self._claims(session_id))
                states.append(self.session_state(session_id))
            except HlsError:
                continue
        return states

    def heartbeat(self, session_id: str, position: float | None = None,
                  paused: bool | None = None) -> None:
        self._beat(session_id, self._session_ref(session_id), Heartbeat(position, paused))

    def _beat(self, session_id: str, ref: pykka.ActorRef[Any], beat: Heartbeat) -> None:
        self._tell(session_id, beat, ref=ref)
        if beat.position is not None and (plan := self.runtime.directory.plan(session_id)):
            self.positions.set(self._claims(session_id).user, plan.media_id, beat.position)

    def scan_now(self) -> dict[str, Any]:
        """Start a library scan (unless one is under way); the progress so far."""
        self._root_child("scanner", "the scanner").tell(ScanNow())
        return self.library_view.progress()

    def segment(self, session_id: str, profile: str, number: int,
                kind: RunKind = RunKind.VIDEO,
                waits: AbstractContextManager[Any] | None = None) -> BinaryIO | str:
        """An open file of a complete segment (the text of a WebVTT one); waits at most
        ``segment_wait`` (+1 s). Audio and subtitle renditions are named by track index.
        A segment not answered within ``READY_WITHIN`` (FFmpeg has not made it yet) waits
        inside ``waits``, the caller's bound on requests waiting at once."""
        ref, plan = self._plan(session_id)
        if kind is not RunKind.VIDEO:
            _check_track(plan, kind, int(profile), number)
        elif (opened := self._made(session_id, ref, profile, number)) is not None:
            return opened
        reply: pykka.ThreadingFuture[Any] = pykka.ThreadingFuture()
        self._tell(session_id, RequestSegment(profile, number, reply, kind), ref=ref)
        try:
            return reply.get(timeout=READY_WITHIN)
        except pykka.Timeout:
            pass
        with waits or nullcontext():
            try:
                return reply.get(timeout=self.settings.segment_wait + 1.0 - READY_WITHIN)
            except pykka.Timeout:
                raise Unavailable(f"segment {number} is not ready yet", retry_in=2) from None

    def _made(self, session_id: str, ref: pykka.ActorRef[Any], profile: str, number: int) -> BinaryIO | None:
        """A segment the session's board shows, opened on this thread (the session hears of
        the request by a tell); None if it is not made, or deleted since: the session answers."""
        path = self.runtime.directory.ready(session_id, ref, profile, number)
        if path is None:
            return None
        self._tell(session_id, SegmentServed(profile, number), ref=ref)
        try:
            opened = open(path, "rb")  # noqa: SIM115 (the caller closes it)
        except OSError:
            return None
        self.runtime.metrics.segments.labels("served").inc()
        return opened

    def segment_redirect(self, opened: BinaryIO) -> str | None:
        """With ``hls.accel_redirect``: the X-Accel-Redirect target of an open segment (a
        short-lived hard link, see ``actors.accel``), closing the file; else None."""
        prefix = self.settings.accel_redirect
        if not prefix:
            return None
        relative = accel.link_for_proxy(self.settings.work_dir, self.settings.instance, opened)
        return None if relative is None else prefix + relative

    def stop_session(self, session_id: str, cause: str = "client") -> None:
        """Returns once the session's FFmpeg is gone and its files are deleted, or once it
        is known not to run here. Never "try again": a beacon is sent once, so a session
        whose supervisor restarts under the stop is waited for (bounded), and a session
        that is not running (any more) is stopped already."""
        self._claims(session_id)
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
        self._tell(session_id, StopSession(cause, reply), resume=False)
        try:
            reply.get(timeout=max(0.1, deadline - time.monotonic()))
        except pykka.Timeout:
            raise Unavailable("still stopping", retry_in=1) from None


def _check_track(plan: media.Plan, kind: RunKind, track: int, number: int) -> None:
    """Refuse a track or segment the plan does not have before the session sees it."""
    if kind is RunKind.AUDIO:
        plan.audio_track(track)
    else:
        plan.subtitle_track(track)
    if not 0 <= number < len(plan.grid) - 1:
        raise NotFound(f"no segment {number} of track {track}")
