"""The session: one playback of one media file by one player.

Owns: a supervisor of its own (dynamic, transient children, ``hls.restart_intensity``)
holding the current transcoder; the segments that transcoder has announced; the
requests waiting for a segment (deferred replies, each bounded by a "wait" timer); the
idle deadline (a timer re-armed by every request).

Takes: ``RequestSegment``, ``Heartbeat``, ``StopSession``, ``GetState``, ``InjectFault``
from the web; ``TranscoderReady``, ``SegmentReady``, ``RunFinished`` from transcoders;
``ChildExited`` from its supervisor; timeouts ``idle``, ``expire`` and ``wait:P:N``.

Playback rules: a ready segment is answered at once (with an open file, so a later
delete cannot tear it); one the running FFmpeg will reach soon is waited for; any
other is a seek: a new run (a new transcoder actor, a new FFmpeg, a new dir) starts at
it while the old run stops by itself. Requests arriving together for nearby segments
join the new run rather than start more. Idle for ``hls.idle_timeout``: the run stops,
the session stays resumable for ``hls.resume_window``. A transcoder far ahead of the
player is suspended and resumed when the player catches up.

Guarantees when it dies, whatever the cause: its supervisor, hence every transcoder and
FFmpeg and run dir of the session, is stopped before ``cleanup`` returns; every waiting
request gets an answer; the session leaves the directory.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import pykka

from actors import media
from actors.errors import HlsError, NotFound, SessionFailed, Unavailable
from actors.link import Link, LinkedActor
from actors.messages import (
    NORMAL,
    Begin,
    ChildExited,
    Crash,
    Exit,
    FfmpegStarted,
    GetState,
    Heartbeat,
    InjectFault,
    RequestSegment,
    Resume,
    RunFinished,
    SegmentReady,
    SignalFfmpeg,
    StartChild,
    StopRun,
    StopSession,
    Suspend,
    TranscoderReady,
)
from actors.supervisor import (GAVE_UP, ChildSpec, Restart, Strategy, Supervisor,
                               SupervisorFlags, stop_child)

if TYPE_CHECKING:
    from actors.system import Plan, Runtime

log = logging.getLogger(__name__)

# A segment at most this many segments past the one being written is waited for; one
# further ahead starts a new run (a seek) rather than waiting for FFmpeg to get there.
REACH_AHEAD = 3
SIGNALS = {"kill_ffmpeg": 9, "term_ffmpeg": 15, "stop_ffmpeg": 19}


@dataclass
class Run:
    """The current FFmpeg run as the session sees it."""

    id: str
    child_id: str
    profile: str
    start: int
    ref: pykka.ActorRef[Any] | None = None
    ready: dict[int, str] = field(default_factory=dict)
    next: int = 0
    finished: bool = False
    suspended: bool = False
    pid: int | None = None

    def reaches_soon(self, number: int) -> bool:
        return self.start <= number <= self.next + REACH_AHEAD and not self.finished


class Session(LinkedActor):
    """See the module docstring."""

    kind = "session"

    def __init__(self, link: Link, runtime: Runtime, session_id: str, plan: Plan,
                 restarted: bool = False) -> None:
        super().__init__(link, runtime.timers)
        self.runtime = runtime
        self.settings = runtime.settings
        self.id = session_id
        self.plan = plan
        self.restarted = restarted
        self.state = "starting"
        self.created = time.time()
        self.last_activity = time.monotonic()
        self.transcoders: pykka.ActorRef[Any] | None = None
        self.run: Run | None = None
        self.runs_started = 0
        # Run ids must be unique in the instance, across restarts of this session too.
        self.run_prefix = f"{session_id}-{self.actor_urn[-6:]}"
        self.restarts = 0
        self.read_head = plan.start_segment
        self.position: float | None = None
        self.paused = False
        self.waiters: dict[tuple[str, int], list[pykka.ThreadingFuture[Any]]] = {}
        self.stop_replies: list[pykka.ThreadingFuture[Any]] = []
        self.stop_cause = "shutdown"
        runtime.directory.register(session_id, self.actor_ref, plan)

    # --- life ---------------------------------------------------------------------------

    def started(self) -> None:
        self._start_transcoders()
        if self.restarted:
            self.state = "idle"  # a restarted session resumes at the next request
        else:
            self._start_run(self.plan.profile, self.plan.start_segment)
        self.arm("idle", self.settings.idle_timeout)

    def _start_transcoders(self) -> None:
        intensity = self.settings.restart_intensity
        flags = SupervisorFlags(Strategy.DYNAMIC, intensity.restarts, intensity.period)
        self.transcoders = Supervisor.start(Link(self.actor_ref, "transcoders"), flags,
                                            timers=self.runtime.timers)

    def cleanup(self, exit: Exit) -> None:
        if self.transcoders is not None:
            stop_child(self.transcoders, self.settings.kill_grace + 3, "transcoders")
        # A crashed session is restarted (transient): its players retry rather than give up.
        ended = (Unavailable(f"session {self.id} is restarting", retry_after=1) if exit.abnormal
                 else NotFound(f"session {self.id} has ended"))
        for futures in self.waiters.values():
            for future in futures:
                _fail(future, ended)
        self._answer_queued(ended)
        if not exit.abnormal:  # a crashed session is restarted and takes over its entry
            self.runtime.directory.unregister(self.id, self.actor_ref)
        cause = "crash" if exit.abnormal else self.stop_cause
        self.runtime.metrics.stops.labels(cause).inc()
        for reply in self.stop_replies:
            reply.set(None)
        log.info("session %s ended (%s %s)", self.id, exit.kind, exit.detail)

    def _answer_queued(self, ended: HlsError) -> None:
        """Requests still in the mailbox carry their own reply, which Pykka does not know
        of: answer them now, or their callers would wait out their whole deadline."""
        others = []
        while not self.actor_inbox.empty():
            envelope = self.actor_inbox.get_nowait()
            match envelope.message:
                case RequestSegment(reply=reply):
                    _fail(reply, ended)
                case StopSession(reply=reply):
                    self.stop_replies.append(reply)
                case _:
                    others.append(envelope)
        for envelope in others:  # Pykka answers the asks among them when the thread ends
            self.actor_inbox.put(envelope)

    def handle(self, message: Any) -> Any:
        match message:
            case RequestSegment(profile=profile, number=number, reply=reply):
                self._activity()
                self._request(profile, number, reply)
            case Heartbeat(position=position, paused=paused):
                self._activity()
                self._heartbeat(position, paused)
            case StopSession(cause=cause, reply=reply):
                self.stop_replies.append(reply)
                self.stop_cause = cause
                self.exit(NORMAL)
            case TranscoderReady(child_id=child_id, ref=ref):
                self._transcoder_ready(child_id, ref)
            case SegmentReady(run=run, number=number, path=path):
                self._segment_ready(run, number, path)
            case FfmpegStarted(run=run, pid=pid):
                if self.run is not None and self.run.id == run:
                    self.run.pid = pid
            case RunFinished(run=run):
                if self.run is not None and self.run.id == run:
                    self.run.finished, self.run.pid = True, None  # FFmpeg exited and was reaped
            case ChildExited(child_id="transcoders", exit=exit):
                self._transcoders_exited(exit)
            case GetState():
                return self.state_json()
            case InjectFault(fault=fault):
                return self._inject(fault)
            case _:
                return super().handle(message)
        return None

    def timeout(self, name: str, payload: Any) -> None:
        if name == "idle":
            self._go_idle()
        elif name == "expire":
            self.stop_cause = "expired"
            self.exit(NORMAL)
        elif name.startswith("wait:"):
            self._wait_expired(payload)
        else:
            super().timeout(name, payload)

    # --- requests -----------------------------------------------------------------------

    def _activity(self) -> None:
        self.last_activity = time.monotonic()
        self.arm("idle", self.settings.idle_timeout)
        if self.state == "idle":
            self.disarm("expire")

    def _request(self, profile: str, number: int, reply: pykka.ThreadingFuture[Any]) -> None:
        boundaries = self.plan.boundaries.get(profile)
        if boundaries is None or not 0 <= number < len(boundaries) - 1:
            _fail(reply, NotFound(f"no segment {number} of profile {profile!r}"))
            return
        self.read_head = number
        run = self.run
        if run is not None and run.profile == profile and number in run.ready:
            self._answer(reply, number, run.ready[number])
        else:
            if run is None or run.profile != profile or not run.reaches_soon(number):
                self._start_run(profile, number)
            self._wait(profile, number, reply)
        self._pace()

    def _answer(self, reply: pykka.ThreadingFuture[Any], number: int, path: str) -> None:
        try:
            segment: BinaryIO = open(path, "rb")  # noqa: SIM115 (the web layer closes it)
        except OSError as error:
            _fail(reply, Unavailable(f"segment {number} vanished: {error}", retry_after=1))
            return
        self.runtime.metrics.segments.labels("served").inc()
        reply.set(segment)

    def _wait(self, profile: str, number: int, reply: pykka.ThreadingFuture[Any]) -> None:
        key = (profile, number)
        if key not in self.waiters:
            self.arm(f"wait:{profile}:{number}", self.settings.segment_wait, key)
        self.waiters.setdefault(key, []).append(reply)

    def _wait_expired(self, key: tuple[str, int]) -> None:
        self.runtime.metrics.segments.labels("timeout").inc()
        for reply in self.waiters.pop(key, []):
            _fail(reply, Unavailable(f"segment {key[1]} not ready within "
                                        f"{self.settings.segment_wait:g} s", retry_after=2))

    def _heartbeat(self, position: float | None, paused: bool | None) -> None:
        if paused is not None:
            self.paused = paused
        if position is not None and self.run is not None:
            self.position = position
            boundaries = self.plan.boundaries[self.run.profile]
            self.read_head = max(self.read_head, media.segment_for_time(boundaries, position))
        self._pace()

    # --- runs -----------------------------------------------------------------------------

    def _start_run(self, profile: str, start: int) -> None:
        """A new transcoder for ``start`` onwards; the old one (if any) stops by itself."""
        self._end_run()
        self.runs_started += 1
        if self.runs_started > 1:
            self.runtime.metrics.seeks.inc()
        child_id = f"transcoder-{self.runs_started}"
        self.run = Run(f"{self.run_prefix}-{self.runs_started}", child_id, profile, start, next=start)
        self.state = "starting"
        self._drop_unreachable_waiters()
        self.transcoders.ask(StartChild(self._transcoder_spec(child_id)), timeout=5)

    def _transcoder_spec(self, child_id: str) -> ChildSpec:
        from actors.transcoder import Transcoder

        runtime, session_id, owner, plan = self.runtime, self.id, self.actor_ref, self.plan
        return ChildSpec(child_id, lambda link: Transcoder.start(link, runtime, session_id, owner, plan),
                         restart=Restart.TRANSIENT, shutdown=self.settings.kill_grace + 2)

    def _end_run(self) -> None:
        if self.run is not None and self.run.ref is not None:
            _tell(self.run.ref, StopRun())
        self.run = None

    def _transcoder_ready(self, child_id: str, ref: pykka.ActorRef[Any]) -> None:
        run = self.run
        if run is None or run.child_id != child_id:
            _tell(ref, StopRun())  # an old run's transcoder, restarted after a crash
            return
        if run.ref is not None:  # the same child again: its supervisor restarted it
            self.restarts += 1
            self.runtime.metrics.restarts.inc()
            run.id = f"{self.run_prefix}-{self.runs_started}r{self.restarts}"
            run.start = self._resume_point(run)
            run.next, run.ready, run.finished, run.suspended, run.pid = run.start, {}, False, False, None
        run.ref = ref
        self.state = "playing"
        _tell(ref, Begin(run.id, run.profile, run.start))

    def _resume_point(self, run: Run) -> int:
        waiting = [number for profile, number in self.waiters if profile == run.profile]
        return min(waiting) if waiting else min(self.read_head, run.next)

    def _segment_ready(self, run_id: str, number: int, path: str) -> None:
        run = self.run
        if run is None or run.id != run_id:
            return
        run.ready[number] = path
        run.next = max(run.next, number + 1)
        for reply in self.waiters.pop((run.profile, number), []):
            self._answer(reply, number, path)
        self.disarm(f"wait:{run.profile}:{number}")
        self._forget_behind(run)
        self._pace()

    def _forget_behind(self, run: Run) -> None:
        """Bound disk use: delete segments far behind the player (a seek back re-makes them)."""
        for old in [n for n in run.ready if n < self.read_head - self.settings.keep_behind]:
            with contextlib.suppress(OSError):  # already gone is fine
                os.unlink(run.ready.pop(old))

    def _drop_unreachable_waiters(self) -> None:
        """Requests that the new run will not serve soon get a quick 'retry' answer."""
        assert self.run is not None
        for key in [k for k in self.waiters if k[0] != self.run.profile or not self.run.reaches_soon(k[1])]:
            self.disarm(f"wait:{key[0]}:{key[1]}")
            for reply in self.waiters.pop(key):
                _fail(reply, Unavailable("the player moved elsewhere", retry_after=1))

    def _pace(self) -> None:
        """Suspend a transcoder far ahead of the player; resume it when the player nears."""
        run = self.run
        if run is None or run.ref is None or run.finished:
            return
        ahead = run.next - self.read_head
        waiting = any(profile == run.profile for profile, _ in self.waiters)
        if not run.suspended and ahead > self.settings.pause_ahead and not waiting:
            run.suspended = True
            _tell(run.ref, Suspend())
        elif run.suspended and (waiting or ahead <= self.settings.pause_ahead // 2):
            run.suspended = False
            _tell(run.ref, Resume())

    def _go_idle(self) -> None:
        self._end_run()
        self.state = "idle"
        self.runtime.metrics.stops.labels("idle").inc()
        self.arm("expire", self.settings.resume_window)
        log.info("session %s idle for %g s: transcoder stopped, resumable", self.id,
                 self.settings.idle_timeout)

    def _transcoders_exited(self, exit: Exit) -> None:
        """The transcoders' supervisor died. Crashed itself: restart it and the run where
        the player is. Gave up because FFmpeg kept failing: end cleanly, with an error."""
        self.transcoders = None
        if not exit.detail.startswith(GAVE_UP):
            self.restarts += 1
            self._start_transcoders()
            if self.run is not None:
                run, self.run = self.run, None  # its transcoder went down with the supervisor
                self._start_run(run.profile, self._resume_point(run))
            return
        failure = SessionFailed(f"transcoding failed: {exit.detail}")
        for futures in self.waiters.values():
            for future in futures:
                _fail(future, failure)
        self.waiters.clear()
        self.stop_cause = "crash"
        self.exit(Exit("normal", f"failed: {exit.detail}"))

    # --- operators --------------------------------------------------------------------------

    def _inject(self, fault: str) -> dict[str, Any]:
        run = self.run
        if fault == "crash_session":
            self.actor_ref.tell(Crash("injected crash_session"))
            return {"target": f"session {self.id}", "did": "raised an exception inside the session"}
        if fault == "crash_supervisor" and self.transcoders is not None:
            self.transcoders.tell(Crash("injected crash_supervisor"))
            return {"target": f"session {self.id} transcoders supervisor", "did": "raised an exception inside it"}
        if run is None or run.ref is None:
            return {"target": f"session {self.id}", "did": "nothing: no transcoder running"}
        if fault == "crash_transcoder":
            _tell(run.ref, Crash("injected crash_transcoder"))
            return {"target": run.child_id, "did": "raised an exception inside the transcoder"}
        return run.ref.ask(SignalFfmpeg(SIGNALS[fault]), timeout=2)

    def children(self) -> list[tuple[str, pykka.ActorRef[Any] | None]]:
        return [("transcoder", self.run.ref)] if self.run is not None else []

    def facts(self) -> dict[str, Any]:
        return {"session": self.id[:6], "media": self.plan.media_id, "profile": self.plan.profile
                if self.run is None else self.run.profile, "session_state": self.state,
                "idle": round(time.monotonic() - self.last_activity, 1),
                "idle_timeout": self.settings.idle_timeout, "restarts": self.restarts}

    def state_json(self) -> dict[str, Any]:
        run = self.run
        profile = run.profile if run else self.plan.profile
        return {
            "id": self.id,
            "media": self.plan.media_id,
            "profile": profile,
            "profiles": [p.name for p in self.plan.profiles],
            "state": self.state,
            "created": self.created,
            "last_activity": time.time() - (time.monotonic() - self.last_activity),
            "idle": round(time.monotonic() - self.last_activity, 3),
            "transcoder_pid": run.pid if run else None,
            "run": run.id if run else None,
            "segments_ready": sorted(run.ready) if run else [],
            "segments": {name: len(b) - 1 for name, b in self.plan.boundaries.items()},
            "position": self.position,
            "paused": self.paused,
            "restarts": self.restarts,
            "master": f"/hls/{self.id}/master.m3u8",
        }


def _tell(ref: pykka.ActorRef[Any], message: Any) -> None:
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        log.debug("%s is already gone", ref)


def _fail(future: pykka.ThreadingFuture[Any], error: BaseException) -> None:
    future.set_exception((type(error), error, None))
