"""The running hlsd: starts and stops its actor tree (``actors.tree``) on the runtime its
actors share (``actors.runtime``), and is the facade the web layer calls.

``HlsSystem`` methods run on the caller's thread (a waitress thread): they validate,
probe media (blocking work stays out of the actors), then send one message and wait
for its reply with a deadline (a segment already made is opened from the session's
``ReadyBoard`` instead, and the session told). They raise the ``actors.errors`` family;
the web layer turns each kind into a status. URLs are the web layer's: playlists take
URI builders. It is composed of ``gateway`` (``actors.gateway``: tokens, resuming,
``max_sessions``, stops, positions), ``operators`` (``actors.operators``: the tree and
faults) and ``library_view`` (the library page).
"""
from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import Any, BinaryIO, Callable

import pykka

from actors import accel, ffmpeg, media, partial, tokens, viewers
from actors.accounts import User
from actors.errors import HlsError, NotFound, Unavailable
from actors.gateway import SessionGateway
from actors.kernel import Link, Supervisor, WhichChildren, stop_child
from actors.library_view import LibraryView
from actors.media import RenditionKey, RunKind, trickplay
from actors.media.trickplay_files import TrickplayStore
from actors.messages import GetState, Heartbeat, RequestSegment, ScanNow, SegmentServed
from actors.operators import Operators
from actors.reaper import sweep_once
from actors.runtime import Runtime
from actors.settings import Settings
from actors.tree import ROOT_FLAGS, root_specs
from actors.trickplay import made_for

log = logging.getLogger(__name__)

ASK_TIMEOUT = 5.0
# A segment already made is answered within this, even on a busy machine; only a request
# still unanswered then must wait for FFmpeg, and takes one of the caller's wait slots.
READY_WITHIN = 0.1
INIT_NAME = "init.mp4"  # an fMP4 rendition's init segment, beside its media playlist


class HlsSystem:
    """Starts and stops the actor tree; the web layer's only way into it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime = Runtime.build(settings)
        self.root: pykka.ActorRef[Any] | None = None
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        # Resolved once: the setting, else the work dir's own one (kept across restarts).
        self.secret = settings.session_secret or tokens.load_or_create_secret(settings.work_dir)
        self.accounts = viewers.open_store(settings)  # None: hls.auth = none
        self.positions = viewers.Positions(self.accounts, self.runtime.index)
        self.gateway = SessionGateway(self.runtime, self.secret, self.plan, self._root_child,
                                      self.accounts, self.positions)
        self.operators = Operators(lambda: self.root, self._root_child, self.gateway)
        self.library_view = LibraryView(self.runtime, self.positions)
        self.playlists = media.PlaylistCache()
        self.trickplay_store = TrickplayStore(settings.trickplay_path, settings.trickplay_bytes)
        self.inits = media.InitSegments(settings.ffmpeg)

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> HlsSystem:
        settings = self.settings
        ffmpeg.raise_open_files_limit()
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        ffmpeg.claim_instance_dir(settings.work_dir, settings.instance)
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
        plan = media.make_plan(media_id, info, self.settings.profiles,
                               self.settings.segment_seconds, profile, start,
                               burn=burn, sidecars=sidecars)
        return media.with_inits(plan, self.inits)  # fMP4 renditions: made once per file version

    # --- sessions ------------------------------------------------------------------------------

    def open_session(self, media_id: str, profile: str | None = None, start: float = 0.0,
                     burn: int | None = None, viewer: User | None = None) -> dict[str, Any]:
        """A new session: its token, and an actor that starts FFmpeg at the first segment
        request (the request that creates a session and its later ones may reach
        different nodes: none may keep an FFmpeg for requests it will never see).
        ``viewer``: the signed-in user it is for (the token names them)."""
        viewers.check_may_play(self.accounts, viewer)
        plan = self.plan(media_id, profile, start, burn, viewer)
        session_id = self.gateway.issue(media_id, plan, burn, viewer)
        self.gateway.spawn(session_id, plan)
        self.runtime.metrics.sessions_created.inc()
        return self.session_state(session_id)

    def _root_child(self, child_id: str, what: str) -> pykka.ActorRef[Any]:
        if self.root is None:
            raise Unavailable("hlsd is not running", retry_in=5)
        children = {cid: ref for cid, ref, _, _ in self.root.ask(WhichChildren(), timeout=ASK_TIMEOUT)}
        if children.get(child_id) is None:
            raise Unavailable(f"{what} is restarting", retry_in=1)
        return children[child_id]

    def master_playlist(self, session_id: str, variant_uri: Callable[[str], str],
                        track_uri: Callable[[RunKind, int], str] | None = None,
                        trickplay_uri: Callable[[str], str] | None = None) -> str:
        """The session's master playlist (a heartbeat too); ``variant_uri(rendition name)``,
        ``track_uri(kind, track index)`` for the audio and subtitle renditions,
        ``trickplay_uri("images" | "iframes")`` for trick play, once the scan made it."""
        ref, plan = self.gateway.plan(session_id)
        self._beat(session_id, ref, Heartbeat())
        track_uri = track_uri or (lambda kind, n: f"{kind.value}/{n}/index.m3u8")
        text = media.plan_master_playlist(
            plan, lambda p: variant_uri(p.name), lambda n: track_uri(RunKind.AUDIO, n),
            lambda n: track_uri(RunKind.SUBTITLES, n), self.settings.segment_seconds)
        made = made_for(self.trickplay_store, plan.info.path, plan.media_id) if trickplay_uri else None
        if made is None:
            return text
        return text + "".join(f"{line}\n" for line in trickplay.master_lines(
            made[1], trickplay_uri("images"), trickplay_uri("iframes")))

    def trickplay(self, session_id: str) -> tuple[Path, trickplay.Manifest]:
        """The folder and manifest of the session's film's trick play files (a heartbeat)."""
        ref, plan = self.gateway.plan(session_id)
        self._beat(session_id, ref, Heartbeat())
        made = made_for(self.trickplay_store, plan.info.path, plan.media_id)
        if made is None:
            raise NotFound("this film's thumbnails are not made yet")
        return made

    def media_playlist(self, session_id: str, key: RenditionKey,
                       segment_name: Callable[..., str]) -> bytes:
        """The VOD playlist of the whole file for one rendition (a heartbeat too), the
        same bytes for every session of this file version; ``segment_name(n)``: segment
        n's URI relative to the playlist (``segment_name(n, "m4s")`` for an fMP4
        rendition, whose playlist names its init ``INIT_NAME``). Every rendition is on
        the plan's one grid."""
        ref, plan = self.gateway.plan(session_id)
        media.check_rendition(plan, key)
        self._beat(session_id, ref, Heartbeat())
        init_uri = None
        if key.kind is RunKind.VIDEO and plan.container(key.name) == "fmp4":
            init_uri, named = INIT_NAME, segment_name
            segment_name = lambda n: named(n, "m4s")  # noqa: E731
        # The grid is in the key: a file version's keyframes may come from two sources.
        return self.playlists.media_playlist((plan.media_id, key, plan.grid), plan.grid,
                                             segment_name, init_uri)

    def init_segment(self, session_id: str, rendition: str) -> bytes:
        """The init segment of an fMP4 video rendition (a heartbeat too): the same bytes
        for every session, run and node of this file version."""
        ref, plan = self.gateway.plan(session_id)
        init = plan.init(rendition)
        self._beat(session_id, ref, Heartbeat())
        return init

    def session_state(self, session_id: str) -> dict[str, Any]:
        return self.gateway.ask(session_id, GetState())

    def check_owner(self, session_id: str, viewer: User | None) -> None:
        self.gateway.check_owner(session_id, viewer)

    def sessions(self, viewer: User | None = None) -> list[dict[str, Any]]:
        """The state of every session this node runs that ``viewer`` may manage."""
        states = []
        for session_id in self.runtime.directory.ids():
            try:
                self.gateway.check_owner(session_id, viewer)
                states.append(self.session_state(session_id))
            except HlsError:
                continue
        return states

    def heartbeat(self, session_id: str, position: float | None = None,
                  paused: bool | None = None) -> None:
        self._beat(session_id, self.gateway.ref(session_id), Heartbeat(position, paused))

    def _beat(self, session_id: str, ref: pykka.ActorRef[Any], beat: Heartbeat) -> None:
        self.gateway.tell(session_id, beat, ref=ref)
        if beat.position is not None:
            self.gateway.save_position(session_id, beat.position)

    def scan_now(self) -> dict[str, Any]:
        """Start a library scan (unless one is under way); the progress so far."""
        self._root_child("scanner", "the scanner").tell(ScanNow())
        return self.library_view.progress()

    def segment(self, session_id: str, key: RenditionKey, number: int,
                waits: AbstractContextManager[Any] | None = None,
                container: media.Container | None = None,
                follow: bool = False) -> BinaryIO | str | partial.GrowingSegment:
        """An open file of a complete segment (the text of a WebVTT one); waits at most
        ``segment_wait`` (+1 s). A segment not answered within ``READY_WITHIN`` (FFmpeg
        has not made it yet) waits inside ``waits``, the caller's bound on requests
        waiting at once. ``container``: what the URL asked for (NotFound if the
        rendition is packed otherwise). With ``follow`` (a client that tells an aborted
        body from a whole one), no ``accel_redirect`` and an MPEG-TS rendition (an fMP4
        segment's file is rewritten once whole: its head is the init), the segment a live
        video run is writing comes as a ``partial.GrowingSegment``, which holds its slot
        of ``waits`` until closed."""
        ref, plan = self.gateway.plan(session_id)
        media.check_rendition(plan, key, number, container)  # refused before the session sees it
        if (opened := self._made(session_id, ref, key, number)) is not None:
            return opened
        reply: pykka.ThreadingFuture[Any] = pykka.ThreadingFuture()
        self.gateway.tell(session_id, RequestSegment(key, number, reply), ref=ref)
        try:
            return reply.get(timeout=READY_WITHIN)
        except pykka.Timeout:
            pass
        with ExitStack() as slot:
            slot.enter_context(waits or nullcontext())
            deadline = time.monotonic() + self.settings.segment_wait + 1.0 - READY_WITHIN
            try:
                # Behind nginx (accel_redirect) nginx sends every segment's bytes, whole; an fMP4
                # segment's file loses its head (the init) once whole, so it is never followed.
                if not (follow and key.kind is RunKind.VIDEO and not self.settings.accel_redirect
                        and plan.container(key.name) == "ts"):
                    return reply.get(timeout=deadline - time.monotonic())
                answer = partial.wait_or_follow(reply, deadline,
                                                self._being_written(session_id, ref, key, number))
            except pykka.Timeout:
                raise Unavailable(f"segment {number} is not ready yet", retry_in=2) from None
            if isinstance(answer, partial.GrowingSegment):
                answer.on_close.append(slot.pop_all().close)  # the reader keeps its slot
            return answer

    def _being_written(self, session_id: str, ref: pykka.ActorRef[Any], key: RenditionKey,
                       number: int) -> Callable[[], Path | None]:
        """Where a live video run of the session writes segment ``number`` now (see
        ``partial.writing``); the segment before, if made, names the run's dir, and the
        session confirms, once per dir, that the run makes ``key`` (``_makes``)."""
        session_dir = ffmpeg.instance_dir(self.settings.work_dir, self.settings.instance) \
            / tokens.short_id(session_id)
        before = self.runtime.directory.ready(session_id, ref, key, number - 1) if number else None
        made_in = None if before is None else str(Path(before).parent)
        confirmed: dict[str, bool] = {}

        def find() -> Path | None:
            path = partial.writing(session_dir, self.runtime.live.runs(), number, made_in)
            if path is None:
                return None
            run = path.parent.name
            if run not in confirmed:
                confirmed[run] = self._makes(session_id, key, run)
            return path if confirmed[run] else None
        return find

    def _makes(self, session_id: str, key: RenditionKey, run: str) -> bool:
        """Whether the session's video run now is ``run``, making ``key`` (a player that
        asks for several renditions at once must never follow another one's file)."""
        try:
            state = self.gateway.ask(session_id, GetState(), timeout=partial.CONFIRM_TIMEOUT)
        except HlsError:
            return False
        return state.get("run") == run and state.get("profile") == key.name

    def _made(self, session_id: str, ref: pykka.ActorRef[Any], key: RenditionKey,
              number: int) -> BinaryIO | None:
        """A segment the session's board shows, opened on this thread (the session hears of
        the request by a tell); None if it is not made, or deleted since: the session answers."""
        path = self.runtime.directory.ready(session_id, ref, key, number)
        if path is None:
            return None
        self.gateway.tell(session_id, SegmentServed(key, number), ref=ref)
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
        is known not to run here (``SessionGateway.stop``)."""
        self.gateway.stop(session_id, cause)
