"""The running hlsd: its actor tree, the runtime its actors share, and the facade the web
layer calls.

```
root (one_for_one, 5 restarts in 60 s)
├─ timers     the TimerService's thread
├─ reaper     start-up and periodic sweeps of orphaned FFmpeg and work dirs
└─ sessions   dynamic; one temporary Session per playback
   └─ session ─ transcoder (under the session's own supervisor, transient)
```

``HlsSystem`` methods run on the caller's thread (a waitress thread): they validate,
probe media (blocking work stays out of the actors), then send one message and wait
for its reply with a deadline. They raise ``HlsError`` subclasses that carry the HTTP
status; the web layer renders them.
"""
from __future__ import annotations

import itertools
import logging
import secrets
import signal
import threading
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NoReturn
from urllib.parse import quote

import pykka

from actors import media, procs
from actors.errors import BadRequest, HlsError, NotFound, Unavailable
from actors.link import Link
from actors.messages import (
    Crash,
    GetState,
    Heartbeat,
    InjectFault,
    RequestSegment,
    StartChild,
    StopSession,
    WhichChildren,
)
from actors.metrics import Metrics
from actors.reaper import Reaper, sweep_once
from actors.session import Session
from actors.settings import Profile, Settings
from actors.supervisor import (
    ChildSpec,
    Restart,
    Strategy,
    Supervisor,
    SupervisorFlags,
    stop_child,
)
from actors.timers import Timers, TimerService
from actors.tree import render_text, snapshot

log = logging.getLogger(__name__)

ROOT_FLAGS = SupervisorFlags(Strategy.ONE_FOR_ONE, intensity=5, period=60.0)
# Sessions restart (transient) after a crash; many crashes at once restart the lot.
SESSIONS_FLAGS = SupervisorFlags(Strategy.DYNAMIC, intensity=20, period=10.0)
SESSION_FAULTS = ("kill_ffmpeg", "term_ffmpeg", "stop_ffmpeg", "crash_transcoder", "crash_session")
FAULTS = (*SESSION_FAULTS, "crash_supervisor")
ASK_TIMEOUT = 5.0


@dataclass(frozen=True)
class Plan:
    """Everything a session needs to know about its media, worked out before it starts."""

    media_id: str
    info: media.MediaInfo
    profiles: tuple[Profile, ...]
    boundaries: dict[str, tuple[float, ...]]
    profile: str
    start_segment: int


@dataclass
class SessionDirectory:
    """Session id -> (ActorRef, Plan), for the web threads (like Pykka's ActorRegistry: a
    lock, no messages). A session registers itself when created (a restarted one replaces
    its predecessor) and leaves in its cleanup."""

    _refs: dict[str, tuple[pykka.ActorRef[Any], Plan]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, session_id: str, ref: pykka.ActorRef[Any], plan: Plan) -> None:
        with self._lock:
            self._refs[session_id] = (ref, plan)

    def unregister(self, session_id: str, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            if session_id in self._refs and self._refs[session_id][0] is ref:
                del self._refs[session_id]

    def lookup(self, session_id: str) -> pykka.ActorRef[Any] | None:
        with self._lock:
            entry = self._refs.get(session_id)
        return entry[0] if entry else None

    def plan(self, session_id: str) -> Plan | None:
        with self._lock:
            entry = self._refs.get(session_id)
        return entry[1] if entry else None

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._refs)

    def __len__(self) -> int:
        with self._lock:
            return len(self._refs)


@dataclass
class LiveRuns:
    """Run ids of live transcoders and pids of their running FFmpeg: the reaper's truth."""

    _runs: set[str] = field(default_factory=set)
    _pids: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_run(self, run: str) -> None:
        with self._lock:
            self._runs.add(run)

    def discard_run(self, run: str) -> None:
        with self._lock:
            self._runs.discard(run)

    def add_pid(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)

    def discard_pid(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def runs(self) -> set[str]:
        with self._lock:
            return set(self._runs)

    def pid_count(self) -> int:
        with self._lock:
            return len(self._pids)


@dataclass
class Runtime:
    """What every actor of one hlsd instance shares; each part is thread-safe."""

    settings: Settings
    timers: TimerService
    watcher: procs.ProcessWatcher
    prober: media.Prober
    directory: SessionDirectory
    live: LiveRuns
    metrics: Metrics


class HlsSystem:
    """Starts and stops the actor tree; the web layer's only way into it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        directory, live = SessionDirectory(), LiveRuns()
        metrics = Metrics(lambda: len(directory), lambda: len(live.runs()), live.pid_count)
        self.runtime = Runtime(settings, TimerService(), procs.ProcessWatcher(),
                               media.Prober(settings.ffprobe), directory, live, metrics)
        self.root: pykka.ActorRef[Any] | None = None

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> HlsSystem:
        settings = self.settings
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        procs.claim_instance_dir(settings.work_dir, settings.instance)
        # Before serving: kill what a killed hlsd left running, remove its dirs (invariant 3).
        sweep_once(self.runtime)
        self.runtime.watcher.start()
        self.root = Supervisor.start(Link(None, "root"), ROOT_FLAGS, self._root_specs())
        log.info("hlsd instance %s started (media %s, work %s)", settings.instance,
                 settings.media_root, settings.work_dir)
        return self

    def _root_specs(self) -> tuple[ChildSpec, ...]:

        runtime = self.runtime
        return (
            ChildSpec("timers", lambda link: Timers.start(link, runtime.timers)),
            ChildSpec("reaper", lambda link: Reaper.start(link, runtime),
                      shutdown=self.settings.kill_grace + 2),  # a sweep may be under way
            ChildSpec("sessions", lambda link: Supervisor.start(link, SESSIONS_FLAGS, timers=runtime.timers),
                      shutdown=self.settings.kill_grace + 10, kind="supervisor"),
        )

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the tree in order (sessions first, timers last); every wait bounded."""
        if self.root is not None:
            stop_child(self.root, timeout, "root")
            self.root = None
        self.runtime.watcher.stop(timeout=5.0)
        self.runtime.timers.stop()
        procs.release_instance_dir(self.settings.work_dir, self.settings.instance)
        log.info("hlsd instance %s stopped", self.settings.instance)

    def alive(self) -> bool:
        return self.root is not None and self.root.is_alive()

    def install_signal_handlers(self) -> None:
        """SIGUSR1 writes the text tree to the log (from a short-lived thread: the handler
        itself must not block the server's main loop)."""
        def dump(signum: int, frame: Any) -> None:
            threading.Thread(target=self.log_tree, name="hlsd-tree-dump").start()

        signal.signal(signal.SIGUSR1, dump)

    def log_tree(self) -> None:
        log.warning("actor tree:\n%s", self.tree_text())

    # --- operators -------------------------------------------------------------------------

    def tree(self) -> dict[str, Any]:
        return snapshot(self.root)

    def tree_text(self) -> str:
        return render_text(self.tree())

    def inject_fault(self, fault: str, session_id: str | None) -> dict[str, Any]:
        if fault not in FAULTS:
            raise BadRequest(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if fault == "crash_supervisor" and not session_id:
            return self._crash_supervisor()
        return {"fault": fault, **self._ask(session_id or self._any_session(), InjectFault(fault))}

    def _any_session(self) -> str:
        ids = self.runtime.directory.ids()
        if not ids:
            raise NotFound("no session to inject the fault into")
        return ids[0]

    def _crash_supervisor(self) -> dict[str, Any]:
        try:
            self._sessions_supervisor().tell(Crash("injected crash_supervisor"))
        except pykka.ActorDeadError:
            raise Unavailable("the sessions supervisor is restarting", retry_after=1) from None
        return {"fault": "crash_supervisor", "target": "sessions",
                "did": "raised an exception inside the sessions supervisor"}

    # --- the library -------------------------------------------------------------------------

    def library(self) -> list[dict[str, Any]]:
        """Every media file the prober accepts, as SPEC's ``GET /media`` entries."""
        entries = []
        for media_id in media.list_media(self.settings.media_root):
            try:
                info = self.runtime.prober.probe(media.resolve_media(self.settings.media_root, media_id))
            except media.MediaError:
                continue
            entries.append(library_entry(media_id, info))
        return entries

    def plan(self, media_id: str, profile: str | None, start: float) -> Plan:
        """Resolve, probe and plan a playback; raises before anything is spawned."""
        path = media.resolve_media(self.settings.media_root, media_id)
        info = self.runtime.prober.probe(path)
        profiles = media.renditions(info, self.settings.profiles)
        if any(p.is_copy for p in profiles):
            info = self.runtime.prober.probe(path, keyframes=True)
        names = [p.name for p in profiles]
        if profile is not None and profile not in names:
            raise NotFound(f"profile {profile!r} does not fit this media; one of {', '.join(names)}")
        chosen = profile or names[0]
        boundaries = {p.name: media.segment_boundaries(info, p, self.settings.segment_seconds)
                      for p in profiles}
        if not 0 <= start < info.duration:
            raise BadRequest(f"start must be within 0..{info.duration:.3f} s")
        return Plan(media_id, info, profiles, boundaries, chosen,
                    media.segment_for_time(boundaries[chosen], start))

    # --- sessions ------------------------------------------------------------------------------

    def open_session(self, media_id: str, profile: str | None = None, start: float = 0.0) -> dict[str, Any]:
        plan = self.plan(media_id, profile, start)
        if len(self.runtime.directory) >= self.settings.max_sessions:
            raise Unavailable(f"at most {self.settings.max_sessions} sessions", retry_after=10)
        session_id = secrets.token_hex(8)
        runtime = self.runtime
        starts = itertools.count()

        def start(link: Link) -> pykka.ActorRef[Any]:
            # Called on the sessions supervisor's thread, the first time and at each restart.
            return Session.start(link, runtime, session_id, plan, restarted=next(starts) > 0)

        spec = ChildSpec(session_id, start, restart=Restart.TRANSIENT,
                         shutdown=self.settings.kill_grace + 5)
        self._ask_sessions(StartChild(spec))
        runtime.metrics.sessions_created.inc()
        return self.session_state(session_id)

    def _sessions_supervisor(self) -> pykka.ActorRef[Any]:
        if self.root is None:
            raise Unavailable("hlsd is not running", retry_after=5)
        children = {cid: ref for cid, ref, _, _ in self.root.ask(WhichChildren(), timeout=ASK_TIMEOUT)}
        if children.get("sessions") is None:
            raise Unavailable("the sessions supervisor is restarting", retry_after=1)
        return children["sessions"]

    def _ask_sessions(self, message: Any) -> Any:
        """Ask the sessions supervisor; one that crashed or is busy stopping its children
        (its restart is under way) is a 503, not a 500."""
        try:
            return self._sessions_supervisor().ask(message, timeout=ASK_TIMEOUT)
        except (pykka.ActorDeadError, pykka.Timeout):
            raise Unavailable("the sessions supervisor is restarting", retry_after=1) from None

    def _session_ref(self, session_id: str) -> pykka.ActorRef[Any]:
        ref = self.runtime.directory.lookup(session_id)
        if ref is None:
            raise NotFound(f"no session {session_id!r}")
        if not ref.is_alive():
            self._restarting_or_gone(session_id, ref)
        return ref

    def _tell(self, session_id: str, message: Any) -> None:
        ref = self._session_ref(session_id)
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self._restarting_or_gone(session_id, ref)

    def _restarting_or_gone(self, session_id: str, ref: pykka.ActorRef[Any]) -> NoReturn:
        """A crashed session keeps its entry while its supervisor restarts it."""
        children = self._ask_sessions(WhichChildren())
        if any(child_id == session_id for child_id, *_ in children):
            raise Unavailable(f"session {session_id!r} is restarting", retry_after=1)
        self.runtime.directory.unregister(session_id, ref)
        raise NotFound(f"no session {session_id!r}")

    def _ask(self, session_id: str, message: Any, timeout: float = ASK_TIMEOUT) -> Any:
        ref = self._session_ref(session_id)
        try:
            return ref.ask(message, timeout=timeout)
        except pykka.ActorDeadError:
            self._restarting_or_gone(session_id, ref)
        except pykka.Timeout:
            raise Unavailable(f"session {session_id!r} is busy", retry_after=1) from None

    def master_playlist(self, session_id: str) -> str:
        """The session's master playlist (a heartbeat too); variants under /hls/{id}/."""
        plan = self._plan(session_id)
        self.heartbeat(session_id)
        return media.master_playlist(plan.info, plan.profiles,
                                     lambda p: f"/hls/{session_id}/{p.name}/index.m3u8",
                                     self.settings.segment_seconds)

    def media_playlist(self, session_id: str, profile: str) -> str:
        """The VOD playlist of the whole file for one rendition (a heartbeat too)."""
        boundaries = self._plan(session_id).boundaries.get(profile)
        if boundaries is None:
            raise NotFound(f"session {session_id!r} has no profile {profile!r}")
        self.heartbeat(session_id)
        return media.media_playlist(boundaries, lambda n: f"/hls/{session_id}/{profile}/{n}.ts")

    def _plan(self, session_id: str) -> Plan:
        plan = self.runtime.directory.plan(session_id)
        if plan is None:
            raise NotFound(f"no session {session_id!r}")
        return plan

    def session_state(self, session_id: str) -> dict[str, Any]:
        return self._ask(session_id, GetState())

    def sessions(self) -> list[dict[str, Any]]:
        states = []
        for session_id in self.runtime.directory.ids():
            try:
                states.append(self.session_state(session_id))
            except HlsError:
                continue
        return states

    def heartbeat(self, session_id: str, position: float | None = None,
                  paused: bool | None = None) -> None:
        self._tell(session_id, Heartbeat(position, paused))

    def segment(self, session_id: str, profile: str, number: int) -> BinaryIO:
        """An open file of a complete segment; waits at most ``segment_wait`` (+1 s)."""
        reply: pykka.ThreadingFuture[Any] = pykka.ThreadingFuture()
        self._tell(session_id, RequestSegment(profile, number, reply))
        try:
            return reply.get(timeout=self.settings.segment_wait + 1.0)
        except pykka.Timeout:
            raise Unavailable(f"segment {number} is not ready yet", retry_after=2) from None

    def stop_session(self, session_id: str, cause: str = "client") -> None:
        """Returns once the session's FFmpeg is gone and its files are deleted."""
        reply: pykka.ThreadingFuture[Any] = pykka.ThreadingFuture()
        self._tell(session_id, StopSession(cause, reply))
        try:
            reply.get(timeout=self.settings.kill_grace + 5.0)
        except pykka.Timeout:
            raise Unavailable(f"session {session_id!r} is still stopping", retry_after=1) from None


def library_entry(media_id: str, info: media.MediaInfo) -> dict[str, Any]:
    return {
        "id": media_id,
        "duration": round(info.duration, 3),
        "video": info.video.codec,
        "audio": info.audio.codec if info.audio else None,
        "width": info.video.width,
        "height": info.video.height,
        "master": f"/media/{quote(media_id)}/master.m3u8",
    }
