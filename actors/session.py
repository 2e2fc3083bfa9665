"""The session: one playback of one media file by one player.

Owns: a supervisor of its own (dynamic, ``hls.restart_intensity``) holding the session's
transcoders, one per FFmpeg run; its ``Runs`` (``actors.runs``: every run, the requests
waiting for segments, the read head, the state, the ``ReadyBoard``); the idle deadline (a
timer re-armed by every request) and the resume window after it.

Takes: ``RequestSegment``, ``SegmentServed``, ``Heartbeat``, ``StopSession``, ``GetState``,
``InjectFault`` from the web; ``TranscoderReady``, ``SegmentReady``, ``FfmpegStarted``,
``RunFinished`` from transcoders; ``SegmentStored``, ``SharedRunsChanged`` from the
node's other sessions' runs (``actors.store``); ``ChildExited`` from its supervisor; timeouts
``Timer.IDLE``, ``Timer.EXPIRE``, ``Timer.SWITCH``, ``SegmentWait``. It routes each to its
runs; what is its own is the session's life: idle, expiry, stop, failure.

Idle for ``hls.idle_timeout``: every run stops, the session stays resumable for
``hls.resume_window`` (one that never played ends: its token resumes it).

Guarantees when it dies, whatever the cause: its supervisor, hence every transcoder and
FFmpeg and run dir of the session, is stopped before ``cleanup`` returns; every waiting
request gets an answer; the session leaves the directory; the node's other sessions stop
leaning on its runs (they take over) before its transcoders stop.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Hashable

import pykka

from actors import media, tokens
from actors.errors import HlsError, NotFound, SessionFailed, Unavailable, logged
from actors.faults import FFMPEG_SIGNALS
from actors.kernel import (NORMAL, ChildExited, ChildSpec, Crash, Exit, ExitKind, Link,
                           LinkedActor, StartChild, Strategy, Supervisor, SupervisorFlags,
                           stop_child, tell_if_alive)
from actors.messages import (FfmpegStarted, GetState, Heartbeat, InjectFault, RequestSegment,
                             RunFinished, SegmentReady, SegmentServed, SegmentStored, SegmentWait,
                             SharedRunsChanged, SignalFfmpeg, StopSession, Timer, TranscoderReady)
from actors.run import SessionState, children, describe_child
from actors.runs import Runs
from actors.runtime import Runtime

log = logging.getLogger(__name__)


class Session(LinkedActor):
    """See the module docstring."""

    kind = "session"

    def __init__(self, link: Link, runtime: Runtime, session_id: str, plan: media.Plan) -> None:
        super().__init__(link, runtime.timers)
        self.runtime, self.settings = runtime, runtime.settings
        self.id, self.short = session_id, tokens.short_id(session_id)  # short: logs, dirs
        self.plan = plan
        self.created = time.time()
        self.last_activity = time.monotonic()
        self.transcoders: pykka.ActorRef[Any] | None = None
        # Run ids must be unique in the instance, across restarts of this session too.
        self.runs = Runs(self, runtime, plan, self.short, self.actor_ref,
                         prefix=f"{self.short}-{self.actor_urn[-6:]}")
        self.position: float | None = None
        self.paused = False
        self.stop_replies: list[pykka.ThreadingFuture[Any]] = []
        self.stop_cause = "shutdown"
        self.failure: HlsError | None = None  # why transcoding gave up: every waiter's answer
        runtime.directory.register(session_id, self.actor_ref, plan, self.runs.board)

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

    def start_child(self, spec: ChildSpec) -> None:
        """``Runs``' way to its transcoders supervisor (it answers at once)."""
        assert self.transcoders is not None
        self.transcoders.ask(StartChild(spec), timeout=5)

    def cleanup(self, exit: Exit) -> None:
        self.runs.board.show({})  # web threads ask (and hear the end) from now on
        self.runs.sharing.leave(list(self.runs.runs.values()))  # others take over at once
        if self.transcoders is not None:
            stop_child(self.transcoders, self.settings.kill_grace + 3, "transcoders")
        # Only a client's stop ends a wait for good; else retry: the token resumes the session.
        ended = self.failure or (NotFound(f"session {self.short} has ended")
                                 if self.stop_cause == "client" else
                                 Unavailable(f"session {self.short} is restarting", retry_in=1))
        self.runs.fail_all(ended)
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
                    reply.set_exception((type(ended), ended, None))
                case StopSession(reply=reply):
                    self.stop_replies.append(reply)
                case _:
                    return False
            return True

        self.drain_inbox(take)

    def handle(self, message: Any) -> Any:
        match message:
            case RequestSegment(key=key, number=number, reply=reply):
                self._activity()
                self.runs.request(key, number, reply)
            case SegmentServed(number=number):
                self._activity()
                self.runs.served(number)
            case Heartbeat(position=position, paused=paused):
                self._activity()
                self._heartbeat(position, paused)
            case StopSession(cause=cause, reply=reply):
                self.stop_replies.append(reply)
                self.stop_cause = cause
                self.exit(NORMAL)
            case TranscoderReady(child_id=child_id, ref=ref):
                self.runs.transcoder_ready(child_id, ref)
            case SegmentReady(run=run, number=number, path=path):
                self.runs.segment_ready(run, number, path)
            case FfmpegStarted(run=run, pid=pid):
                self.runs.ffmpeg_started(run, pid)
            case RunFinished(run=run, error=error):
                self.runs.finished(run, error)
            case SegmentStored(shelf=shelf, number=number):
                self.runs.stored(shelf, number)
            case SharedRunsChanged(shelf=shelf):
                self.runs.reconsider(shelf)
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
                self.runs.wait_expired(name)
            case Timer.SWITCH:
                self.runs.switch_due()
            case _:
                super().timeout(name, payload)

    def _activity(self) -> None:
        self.last_activity = time.monotonic()
        self.arm(Timer.IDLE, self.settings.idle_timeout)
        if self.runs.machine.state is SessionState.IDLE:
            self.disarm(Timer.EXPIRE)

    def _heartbeat(self, position: float | None, paused: bool | None) -> None:
        if paused is not None:
            self.paused = paused
        if position is not None and self.runs.video is not None:
            self.position = position
            self.runs.heard_position(position)
        else:
            self.runs.pace()

    def _go_idle(self) -> None:
        if self.runs.waiters:  # a player waiting for a segment is not idle (FFmpeg is just slow)
            self.arm(Timer.IDLE, self.settings.idle_timeout)
            return
        if self.runs.started == 0:  # never played here: free its place, its token resumes it
            self.stop_cause = "idle"
            return self.exit(NORMAL)
        self.runs.idle()
        self.runtime.metrics.stops.labels("idle").inc()
        self.arm(Timer.EXPIRE, self.settings.resume_window)
        log.info("session %s idle for %g s: transcoders stopped, resumable", self.short,
                 self.settings.idle_timeout)

    def _transcoders_exited(self, exit: Exit) -> None:
        """The transcoders' supervisor died. Crashed itself: restart it and the runs where
        the player is. Gave up because FFmpeg kept failing: end cleanly, with an error."""
        self.transcoders = None
        if exit.kind is not ExitKind.GAVE_UP:
            self._start_transcoders()
            self.runs.restart_all()
            return
        what = describe_child(self.runs.runs, exit.child)
        self.failure = logged(SessionFailed(f"{what} could not be prepared" if what else "transcoding failed"),
                              f"session {self.short}: {exit.detail}", log)
        self.stop_cause = "crash"
        self.exit(Exit(ExitKind.NORMAL, f"failed: {exit.detail}"))

    # --- what operators see, and injected faults ----------------------------------------------

    def _inject(self, fault: str) -> dict[str, Any]:
        run, target = self.runs.video, f"session {self.short}"
        if fault == "crash_session":
            self.actor_ref.tell(Crash("injected crash_session"))
            return {"target": target, "did": "raised an exception inside the session"}
        if fault == "crash_supervisor" and self.transcoders is not None:
            self.transcoders.tell(Crash("injected crash_supervisor"))
            return {"target": f"{target} transcoders supervisor", "did": "raised an exception inside it"}
        if run is None or run.ref is None:
            return {"target": target, "did": "nothing: no transcoder running"}
        if fault == "crash_transcoder":
            tell_if_alive(run.ref, Crash("injected crash_transcoder"))
            return {"target": run.child_id, "did": "raised an exception inside the transcoder"}
        return run.ref.ask(SignalFfmpeg(FFMPEG_SIGNALS[fault]), timeout=2)

    def children(self) -> list[tuple[str, pykka.ActorRef[Any] | None]]:
        return children(self.runs.runs)

    def facts(self) -> dict[str, Any]:
        return {"session": self.short, "media": self.plan.media_id, "profile": self.runs.profile,
                "session_state": self.runs.machine.state.value,
                "idle": round(time.monotonic() - self.last_activity, 1),
                "idle_timeout": self.settings.idle_timeout, "restarts": self.runs.restarts}

    def state_json(self) -> dict[str, Any]:
        plan, tracks = self.plan, self.plan.tracks
        return {
            "id": self.id, "short": self.short, "media": plan.media_id,
            "profile": self.runs.profile, "profiles": list(plan.names),
            "state": self.runs.machine.state.value, "created": self.created,
            "last_activity": time.time() - (time.monotonic() - self.last_activity),
            "idle": round(time.monotonic() - self.last_activity, 3),
            "segments": {name: len(b) - 1 for name, b in plan.boundaries.items()},
            "position": self.position, "paused": self.paused,
            "audio": media.audio_json(tracks) if tracks else [],
            "subtitles": media.subtitle_json(tracks) if tracks else [],
            "chapters": media.chapter_json(plan.info.chapters),
            "burn": plan.burn.index if plan.burn else None,
            **self.runs.json(),
        }
