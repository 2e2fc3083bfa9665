"""The session: one playback of one media file by one player.

Owns: a supervisor of its own (dynamic, transient children, ``hls.restart_intensity``)
holding the current transcoder; the segments that transcoder has announced; the
requests waiting for a segment (deferred replies, each bounded by a ``SegmentWait``
timer); the idle deadline (a timer re-armed by every request).

Takes: ``RequestSegment``, ``SegmentServed``, ``Heartbeat``, ``StopSession``, ``GetState``,
``InjectFault`` from the web; ``TranscoderReady``, ``SegmentReady``, ``RunFinished`` from
transcoders; ``ChildExited`` from its supervisor; timeouts ``Timer.IDLE``, ``Timer.EXPIRE``,
``Timer.SWITCH``, ``SegmentWait``.

Playback rules: a ready segment is answered at once (an open file, so a later delete
cannot tear it), by the web thread itself from the session's ``ReadyBoard``, which then
tells the session (``SegmentServed``); one the running FFmpeg will reach soon is waited
for; any other is a seek: a new run (a new transcoder, FFmpeg and dir) starts at it while
the old run stops by itself. Requests arriving together for nearby segments join the new
run. Switching rendition is bounded (``SwitchHold``, timer ``switch``). Idle for
``hls.idle_timeout``: the run stops, the session stays resumable for ``hls.resume_window``.
A transcoder far ahead of the player is suspended and resumed when the player nears.

Guarantees when it dies, whatever the cause: its supervisor, hence every transcoder and
FFmpeg and run dir of the session, is stopped before ``cleanup`` returns; every waiting
request gets an answer; the session leaves the directory.

Reports and injected faults: ``actors.session_report``; audio, subtitle runs: ``actors.track_runs``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any, BinaryIO, Hashable

import pykka

from actors import media, tokens
from actors.errors import HlsError, NotFound, SessionFailed, Unavailable
from actors.kernel import (NORMAL, ChildExited, ChildSpec, Exit, ExitKind, Link,
                           LinkedActor, Restart, StartChild, StateMachine, Strategy,
                           Supervisor, SupervisorFlags, stop_child, tell_if_alive)
from actors.messages import (Begin, FfmpegStarted, GetState, Heartbeat, InjectFault,
                             RequestSegment, Resume, RunFinished, RunKind, SegmentReady,
                             SegmentServed, SegmentWait, StopRun, StopSession, Suspend, Timer,
                             TranscoderReady)
from actors.runs import TRANSITIONS, ReadyBoard, Run, SessionState, SwitchHold
from actors.runtime import Runtime
from actors.session_report import SessionReport
from actors.track_runs import TrackRuns
from actors.transcoder import Transcoder

log = logging.getLogger(__name__)


class Session(SessionReport, TrackRuns, LinkedActor):
    """See the module docstring."""

    kind = "session"

    def __init__(self, link: Link, runtime: Runtime, session_id: str, plan: media.Plan,
                 restarted: bool = False) -> None:
        super().__init__(link, runtime.timers)
        self.runtime = runtime
        self.settings = runtime.settings
        self.id, self.short = session_id, tokens.short_id(session_id)  # short: logs, dirs
        self.plan = plan
        self.machine = StateMachine(SessionState.IDLE, TRANSITIONS)  # until a segment request
        self.created = time.time()
        self.last_activity = time.monotonic()
        self.transcoders: pykka.ActorRef[Any] | None = None
        self.board = ReadyBoard()  # what ``run`` has made, for the web threads (a copy)
        self.run = None
        self.runs_started = 0
        self.hold = SwitchHold()
        # Run ids must be unique in the instance, across restarts of this session too.
        self.run_prefix = f"{self.short}-{self.actor_urn[-6:]}"
        self.restarts = 0
        self.read_head = plan.start_segment
        self.position: float | None = None
        self.paused = False
        self.waiters: dict[SegmentWait, list[pykka.ThreadingFuture[Any]]] = {}
        self.stop_replies: list[pykka.ThreadingFuture[Any]] = []
        self.stop_cause = "shutdown"
        self.failure: HlsError | None = None  # why transcoding gave up: every waiter's answer
        self._init_track_runs()
        runtime.directory.register(session_id, self.actor_ref, plan, self.board)

    @property
    def run(self) -> Run | None:
        """The current video run; the board shows it (and each change of its segments)."""
        return self._run

    @run.setter
    def run(self, run: Run | None) -> None:
        self._run = run
        self.board.show(run)

    # --- life ---------------------------------------------------------------------------

    def started(self) -> None:
        # No FFmpeg until a segment request asks (it may reach another node, which then
        # resumes the session from its token, and an FFmpeg here would run for nobody).
        self._start_transcoders()
        self.arm(Timer.IDLE, self.settings.idle_timeout)

    def _start_transcoders(self) -> None:
        intensity = self.settings.restart_intensity
        flags = SupervisorFlags(Strategy.DYNAMIC, intensity.restarts, intensity.period)
        self.transcoders = Supervisor.start(Link(self.actor_ref, "transcoders"), flags,
                                            timers=self.runtime.timers)

    def cleanup(self, exit: Exit) -> None:
        self.board.show(None)  # web threads ask (and hear the end) from now on
        if self.transcoders is not None:
            stop_child(self.transcoders, self.settings.kill_grace + 3, "transcoders")
        # Only a client's stop ends a wait for good; else retry: the token resumes the session.
        ended = self.failure or (NotFound(f"session {self.short} has ended")
                                 if self.stop_cause == "client" else
                                 Unavailable(f"session {self.short} is restarting", retry_in=1))
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
        log.info("session %s ended (%s %s)", self.short, exit.kind, exit.detail)

    def _answer_queued(self, ended: HlsError) -> None:
        """Requests still in the mailbox carry their reply: answered now, not at their deadline."""
        def take(message: Any) -> bool:
            match message:
                case RequestSegment(reply=reply):
                    _fail(reply, ended)
                case StopSession(reply=reply):
                    self.stop_replies.append(reply)
                case _:
                    return False
            return True

        self.drain_inbox(take)

    def handle(self, message: Any) -> Any:
        match message:
            case RequestSegment(profile=profile, number=number, reply=reply, kind=kind):
                self._activity()
                if kind is RunKind.VIDEO:
                    self._request(profile, number, reply)
                else:
                    self._request_track(kind, profile, number, reply)
            case SegmentServed(number=number):  # what ``_request`` does for a ready one
                self._activity()
                self.read_head = number
                self._pace()
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
            case FfmpegStarted(run=run_id, pid=pid):
                if (run := self._any_run(run_id)) is not None:
                    run.pid = pid
            case RunFinished(run=run_id, error=error):
                if self.run is not None and self.run.id == run_id:
                    self.run.finished, self.run.pid = True, None  # FFmpeg exited and was reaped
                elif (side := self._side_run(run_id)) is not None:
                    self._side_finished(side, error)
            case ChildExited(child_id="transcoders", exit=exit):
                self._transcoders_exited(exit)
            case GetState():
                return self.state_json()
            case InjectFault(fault=fault):
                return self._inject(fault)
            case _:
                return super().handle(message)
        return None

    def timeout(self, name: Hashable, payload: Any) -> None:
        match name:
            case Timer.IDLE:
                self._go_idle()
            case Timer.EXPIRE:
                self.stop_cause = "expired"
                self.exit(NORMAL)
            case SegmentWait():
                self._wait_expired(name)
            case Timer.SWITCH:
                self._switch()
            case _:
                super().timeout(name, payload)

    # --- requests -----------------------------------------------------------------------

    def _activity(self) -> None:
        self.last_activity = time.monotonic()
        self.arm(Timer.IDLE, self.settings.idle_timeout)
        if self.machine.state is SessionState.IDLE:
            self.disarm(Timer.EXPIRE)

    def _request(self, profile: str, number: int, reply: pykka.ThreadingFuture[Any]) -> None:
        boundaries = self.plan.boundaries.get(profile)
        if boundaries is None or not 0 <= number < len(boundaries) - 1:
            _fail(reply, NotFound(f"no segment {number} of profile {profile!r}"))
            return
        self.read_head = number
        run = self.run
        if run is not None and run.profile == profile and number in run.ready:
            self._answer(reply, number, run.ready[number])
        else:  # a held switch happens when the hold ends (``_switch``)
            if not self._held(profile) and (run is None or run.profile != profile
                                            or not run.reaches_soon(number)):
                self._start_run(profile, number)
            self._wait(profile, number, reply)
        self._pace()

    def _held(self, profile: str) -> bool:
        """A switch to ``profile`` that must wait: the current run is too young."""
        left = self.hold.left(profile, self.run.profile if self.run else None)
        if left > 0:
            self.arm(Timer.SWITCH, left)  # the same deadline each time: never pushed back
        return left > 0

    def _switch(self) -> None:
        """The hold ended: switch to the rendition asked for last, if anyone still waits
        for it; the other renditions' requests get a quick "retry"."""
        run, wanted = self.run, self.hold.wanted
        waited = [k.number for k in self.waiters if k.kind is RunKind.VIDEO and k.profile == wanted]
        if run is not None and wanted is not None and wanted != run.profile and waited:
            self._start_run(wanted, min(waited))
        elif run is not None:
            self._drop_unreachable_waiters()

    def _answer(self, reply: pykka.ThreadingFuture[Any], number: int, path: str) -> None:
        try:
            segment: BinaryIO = open(path, "rb")  # noqa: SIM115 (the web layer closes it)
        except OSError as error:
            _fail(reply, Unavailable(f"segment {number} vanished: {error}", retry_in=1))
            return
        self.runtime.metrics.segments.labels("served").inc()
        reply.set(segment)

    def _wait(self, profile: str, number: int, reply: pykka.ThreadingFuture[Any],
              kind: RunKind = RunKind.VIDEO) -> None:
        key = SegmentWait(profile, number, kind)
        if key not in self.waiters:
            self.arm(key, self.settings.segment_wait)
        self.waiters.setdefault(key, []).append(reply)

    def _wait_expired(self, key: SegmentWait) -> None:
        self.runtime.metrics.segments.labels("timeout").inc()
        for reply in self.waiters.pop(key, []):
            _fail(reply, Unavailable(f"segment {key.number} not ready within "
                                     f"{self.settings.segment_wait:g} s", retry_in=2))

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
        self.disarm(Timer.SWITCH)
        self.runs_started += 1
        self.hold.started()
        if self.runs_started > 1:
            self.runtime.metrics.seeks.inc()
        child_id = f"transcoder-{self.runs_started}"
        self.run = Run(f"{self.run_prefix}-{self.runs_started}", child_id, profile, start, next=start)
        self.machine.to(SessionState.STARTING)
        self._drop_unreachable_waiters()
        self.transcoders.ask(StartChild(self._transcoder_spec(child_id)), timeout=5)

    def _transcoder_spec(self, child_id: str) -> ChildSpec:
        runtime, session_id, owner, plan = self.runtime, self.short, self.actor_ref, self.plan
        return ChildSpec(child_id, lambda link: Transcoder.start(link, runtime, session_id, owner, plan),
                         restart=Restart.TRANSIENT, shutdown=self.settings.kill_grace + 2)

    def _end_run(self) -> None:
        if self.run is not None and self.run.ref is not None:
            tell_if_alive(self.run.ref, StopRun())
        self.run = None

    def _transcoder_ready(self, child_id: str, ref: pykka.ActorRef[Any]) -> None:
        run = self.run
        if (side := self._side_by_child(child_id)) is not None:
            self._side_transcoder_ready(side, ref)
            return
        if run is None or run.child_id != child_id:
            tell_if_alive(ref, StopRun())  # an old run's transcoder, restarted after a crash
            return
        if run.ref is not None:  # the same child again: its supervisor restarted it
            self.restarts += 1
            self.runtime.metrics.restarts.inc()
            run.restart(f"{self.run_prefix}-{self.runs_started}r{self.restarts}",
                        self._resume_point(run))
            self.board.show(run)
        run.ref = ref
        self.machine.to(SessionState.PLAYING)
        tell_if_alive(ref, Begin(run.id, run.profile, run.start))

    def _resume_point(self, run: Run) -> int:
        waiting = [key.number for key in self.waiters
                   if key.profile == run.profile and key.kind is run.kind]
        return min(waiting) if waiting else min(self.read_head, run.next)

    def _segment_ready(self, run_id: str, number: int, path: str) -> None:
        run = self.run
        if (side := self._side_run(run_id)) is not None:
            self._side_segment_ready(side, number, path)
            return
        if run is None or run.id != run_id:
            return
        run.ready[number] = path
        run.next = max(run.next, number + 1)
        key = SegmentWait(run.profile, number)
        for reply in self.waiters.pop(key, []):
            self._answer(reply, number, path)
        self.disarm(key)
        self._forget_behind(run)
        self.board.show(run)
        self._pace()

    def _forget_behind(self, run: Run) -> None:
        """Bound disk use: delete segments far behind the player (a seek back re-makes them)."""
        for old in [n for n in run.ready if n < self.read_head - self.settings.keep_behind]:
            with contextlib.suppress(OSError):  # already gone is fine
                os.unlink(run.ready.pop(old))

    def _drop_unreachable_waiters(self) -> None:
        """Requests that the new run will not serve soon get a quick 'retry' answer."""
        assert self.run is not None
        run = self.run
        for key in [k for k in self.waiters if k.kind is RunKind.VIDEO
                    and (k.profile != run.profile or not run.reaches_soon(k.number))]:
            self.disarm(key)
            for reply in self.waiters.pop(key):
                _fail(reply, Unavailable("the player moved elsewhere", retry_in=1))

    def _pace(self) -> None:
        """Suspend a transcoder far ahead of the player; resume it when the player nears."""
        run = self.run
        if run is None or run.ref is None:
            return
        waiting = any(key.profile == run.profile and key.kind is run.kind for key in self.waiters)
        suspend = run.should_suspend(self.read_head, waiting, self.settings.pause_ahead)
        if suspend is not None:
            run.suspended = suspend
            tell_if_alive(run.ref, Suspend() if suspend else Resume())

    def _go_idle(self) -> None:
        if self.waiters:  # a player waiting for a segment is not idle (FFmpeg is just slow)
            self.arm(Timer.IDLE, self.settings.idle_timeout)
            return
        if self.runs_started == 0:  # never played here: free its place, its token resumes it
            self.stop_cause = "idle"
            return self.exit(NORMAL)
        self._end_run()
        self._end_side_runs()
        self.machine.to(SessionState.IDLE)
        self.runtime.metrics.stops.labels("idle").inc()
        self.arm(Timer.EXPIRE, self.settings.resume_window)
        log.info("session %s idle for %g s: transcoder stopped, resumable", self.short,
                 self.settings.idle_timeout)

    def _transcoders_exited(self, exit: Exit) -> None:
        """The transcoders' supervisor died. Crashed itself: restart it and the run where
        the player is. Gave up because FFmpeg kept failing: end cleanly, with an error."""
        self.transcoders = None
        if exit.kind is not ExitKind.GAVE_UP:
            self.restarts += 1
            self._start_transcoders()
            if self.run is not None:
                run, self.run = self.run, None  # its transcoder went down with the supervisor
                self._start_run(run.profile, self._resume_point(run))
            self._restart_side_runs()
            return
        self.failure = SessionFailed(f"transcoding failed: {exit.detail}")
        self.stop_cause = "crash"
        self.exit(Exit(ExitKind.NORMAL, f"failed: {exit.detail}"))


def _fail(future: pykka.ThreadingFuture[Any], error: BaseException) -> None:
    future.set_exception((type(error), error, None))
