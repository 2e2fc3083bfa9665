"""The transcoder: one actor, one FFmpeg run, one run directory.

A run makes one rendition (``RenditionKey``): its recipe (``media.recipe_for``) says
how. Runs that list segments (video, audio, on the plan's grid) announce each one; a
whole-file run (a subtitle track's WebVTT) announces its file as segment 0 once FFmpeg
exited 0. A run that fails for good — its recipe refused, or a whole-file conversion
that fails or outlives ``hls.segment_wait`` — is reported as ``RunFinished``
with an error and ends normally: it would fail again, so it is not restarted. Every
kind is spawned, tagged, stopped and swept the same way.

Owns: the FFmpeg process (spawned from this actor's own thread, so the kernel's
``PR_SET_PDEATHSIG`` links FFmpeg's life to this thread), the run's work dir, and the
run's entry in ``runtime.live`` (what the reaper treats as alive).

Life: ``started()`` tells the session ``TranscoderReady``; the session answers
``Begin(run, key, start_segment)`` with where the player needs segments *now* (so a
transcoder restarted after a crash resumes at the right place); FFmpeg's events reach it
as messages from the process watcher (``ProgressReported``, ``SegmentListed``,
``ProcessExited``). Every segment FFmpeg has finished is announced as ``SegmentReady``;
a segment cut short by a stop or a crash is never announced. Each announced segment
(a whole-file run's file as segment 0) is first kept in the node's segment store
(``actors.store``) and the sessions watching its shelf told: others' sessions serve it.
FFmpeg that exits with an error of its own (not a signal) takes its segments out of the
store again: a write error (a full disk) can leave a listed segment cut short.

Takes: ``Begin``, ``StopRun``, ``Suspend``/``Resume`` (a paused viewer: SIGSTOP/SIGCONT,
which is not a stall), ``SignalFfmpeg`` (faults), and the watcher's events. A stall (no
progress for ``hls.stall_timeout`` s while running) is a timer message that crashes it.

Guarantees when it dies, whatever the cause (``StopRun``, a crash, its supervisor's
shutdown): FFmpeg's group got SIGTERM, then SIGKILL after ``hls.kill_grace``, and was
reaped; the run dir is deleted; the run is no longer live. FFmpeg exiting non-zero is a
crash (with the last lines of its stderr) that the session's supervisor restarts.
"""
from __future__ import annotations

import logging
import signal
import time
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Hashable

import pykka

from actors import ffmpeg, media
from actors.errors import HlsError
from actors.kernel import NORMAL, Exit, Link, LinkedActor, StateMachine, tell_if_alive
from actors.messages import (
    Begin,
    FfmpegStarted,
    Resume,
    RunFinished,
    SegmentReady,
    SignalFfmpeg,
    StopRun,
    Suspend,
    Timer,
    TranscoderReady,
)
from actors.runtime import Runtime

log = logging.getLogger(__name__)


class TranscoderState(str, Enum):
    WAITING = "waiting"  # for its session's Begin
    RUNNING = "running"
    SUSPENDED = "suspended"  # SIGSTOP: the player is far behind (not a stall)
    FINISHED = "finished"  # FFmpeg reached the end and exited 0
    FAILED = "failed"


_T = TranscoderState
TRANSITIONS = {
    _T.WAITING: frozenset({_T.RUNNING, _T.FAILED}),
    _T.RUNNING: frozenset({_T.SUSPENDED, _T.FINISHED, _T.FAILED}),
    _T.SUSPENDED: frozenset({_T.RUNNING, _T.FINISHED, _T.FAILED}),
}


class FfmpegFailed(RuntimeError):
    """FFmpeg exited with an error, was killed, or stalled."""


class Transcoder(LinkedActor):
    """See the module docstring."""

    kind = "transcoder"

    def __init__(self, link: Link, runtime: Runtime, session_id: str,
                 owner: pykka.ActorRef[Any], plan: media.Plan) -> None:
        super().__init__(link, runtime.timers)
        self.runtime = runtime
        self.settings = runtime.settings
        self.session_id = session_id
        self.owner = owner
        self.plan = plan
        self.run: str | None = None
        self.key: media.RenditionKey | None = None
        self.recipe: media.Recipe | None = None
        self.shelf: str | None = None  # where the store keeps what this run makes
        self.kept: list[int] = []  # the segments this run put in the store
        self.start_segment = 0
        self.run_dir: Path | None = None
        self.ffmpeg: ffmpeg.ProcessHandle | None = None
        self.machine = StateMachine(_T.WAITING, TRANSITIONS)
        self.first_ready: int | None = None
        self.last_ready: int | None = None
        self.held_last: media.ListedSegment | None = None
        self.speed = ""
        self.spawned_at = 0.0

    # --- life ---------------------------------------------------------------------------

    def started(self) -> None:
        self._tell_owner(TranscoderReady(self.link.child_id, self.actor_ref))

    def handle(self, message: Any) -> Any:
        match message:
            case Begin(run=run, key=key, start_segment=start):
                self._begin(run, key, start)
            case ffmpeg.ProgressReported(fields=fields):
                self._progress(fields)
            case ffmpeg.SegmentListed(line=line):
                self._listed(media.parse_segment_list_line(line))
            case ffmpeg.ProcessExited(returncode=code, stderr_tail=tail):
                self._exited(code, tail)
            case StopRun():
                self.exit(NORMAL)
            case Suspend():
                self._suspend()
            case Resume():
                self._resume()
            case SignalFfmpeg(signal=signum):
                return self._signal(signum)
            case _:
                return super().handle(message)
        return None

    def timeout(self, name: Hashable, payload: Any) -> None:
        if name is Timer.STALL:
            raise FfmpegFailed(f"ffmpeg stalled: no progress for {self.settings.stall_timeout:g} s")
        if name is Timer.DEADLINE:
            self._give_up(f"the conversion took over {self.settings.segment_wait:g} s")
            return
        super().timeout(name, payload)

    def cleanup(self, exit: Exit) -> None:
        if self.ffmpeg is not None:
            report = ffmpeg.stop_process_group(self.ffmpeg, self.settings.kill_grace)
            self.runtime.metrics.stop_latency.observe(report.elapsed)
            self.runtime.live.discard_pid(self.ffmpeg.pid)
            log.info("run %s: ffmpeg %d stopped (%s, %.3f s)", self.run, self.ffmpeg.pid,
                     report.signal, report.elapsed)
        if self.run is not None:
            ffmpeg.remove_run_dir(self.settings.work_dir, self.settings.instance,
                                 self.session_id, self.run)
            self.runtime.live.discard_run(self.run)

    # --- one FFmpeg run -------------------------------------------------------------------

    def _begin(self, run: str, key: media.RenditionKey, start: int) -> None:
        if self.run is not None:
            log.warning("%s: already running %s; ignoring Begin(%s)", self.name, self.run, run)
            return
        self.run, self.key, self.start_segment = run, key, start
        try:  # refused before any file exists; a refusal would come again: not a crash
            self.recipe = media.recipe_for(self.plan, key, start)
        except (HlsError, ValueError) as error:
            self._give_up(f"no recipe for {key.describe()}: {error}")
            return
        self.shelf = self.runtime.shelf(self.plan, key)
        self.runtime.live.add_run(run)
        # A dir that cannot be made (a full disk, an unwritable work dir) is a crash: the
        # supervisor retries, and beyond its intensity the session ends with an error.
        self.run_dir = ffmpeg.run_dir(self.settings.work_dir, self.settings.instance,
                                      self.session_id, run)
        self.run_dir.mkdir(parents=True)
        self._spawn(self.recipe)

    def _spawn(self, recipe: media.Recipe) -> None:
        assert self.run is not None and self.run_dir is not None and self.key is not None
        tag = ffmpeg.Tag.for_this_process(self.settings.work_dir, self.settings.instance,
                                         self.session_id, self.run)
        self.spawned_at = time.monotonic()
        run_dir = self.run_dir
        self.ffmpeg = ffmpeg.spawn(lambda p, s: recipe.argv(run_dir, p, s), tag, run_dir,
                                   self.settings.ffmpeg)
        self.runtime.live.add_pid(self.ffmpeg.pid)
        self.machine.to(_T.RUNNING)
        self.runtime.watcher.watch(self.ffmpeg, _forward_to(self.actor_ref))
        self._tell_owner(FfmpegStarted(self.run, self.ffmpeg.pid))
        if recipe.output is not None:
            self.arm(Timer.DEADLINE, self.settings.segment_wait)
        else:
            self.arm(Timer.STALL, self.settings.stall_timeout)
        log.info("run %s: ffmpeg %d started, %s from segment %d", self.run, self.ffmpeg.pid,
                 self.key.describe(), self.start_segment)

    def _progress(self, fields: dict[str, str]) -> None:
        self.speed = fields.get("speed", "").strip()
        if self.machine.state is _T.RUNNING:
            self.arm(Timer.STALL, self.settings.stall_timeout)

    def _listed(self, segment: media.ListedSegment) -> None:
        assert self.recipe is not None
        boundaries = self.plan.grid
        if segment.number == len(boundaries) - 2:
            self.held_last = segment  # whole only if FFmpeg exits with status 0
        elif media.reaches_its_boundary(segment, boundaries, self.recipe.frame_rate):
            self._announce(segment)
        else:
            log.warning("run %s: segment %d cut short; not served", self.run, segment.number)

    def _announce(self, segment: media.ListedSegment) -> None:
        assert self.run is not None and self.run_dir is not None and self.recipe is not None
        if self.recipe.finish is not None and not self.recipe.finish(self.run_dir / segment.name):
            log.error("run %s: segment %d does not start with the rendition's init segment",
                      self.run, segment.number)
        if self.first_ready is None:
            self.first_ready = segment.number
            self.runtime.metrics.first_segment.observe(time.monotonic() - self.spawned_at)
        self.last_ready = segment.number
        path = self.run_dir / segment.name
        self._keep(segment.number, path)
        self._tell_owner(SegmentReady(self.run, segment.number, str(path)))

    def _keep(self, number: int, path: Path) -> None:
        """Into the store, for every session of the node; its watchers hear of it."""
        if self.shelf is not None and self.runtime.store.put(self.shelf, number, path):
            self.kept.append(number)
            self.runtime.shared.stored(self.shelf, number, self.owner)

    def _exited(self, code: int, tail: tuple[str, ...]) -> None:
        assert self.run is not None and self.ffmpeg is not None
        self.runtime.live.discard_pid(self.ffmpeg.pid)
        self.disarm(Timer.STALL)
        if self.recipe is not None and self.recipe.output is not None:
            self._converted(code, tail, self.recipe.output)
            return
        if code != 0:
            self.machine.to(_T.FAILED)
            if code > 0 and self.shelf is not None:  # FFmpeg's own error (a full disk...):
                self.runtime.store.discard(self.shelf, self.kept)  # what it wrote is suspect
            last = " | ".join(tail[-3:]) or "no output"
            raise FfmpegFailed(f"ffmpeg exited with status {code}: {last}")
        if self.held_last is not None:
            self._announce(self.held_last)
        self.machine.to(_T.FINISHED)
        self._tell_owner(RunFinished(self.run))

    def _converted(self, code: int, tail: tuple[str, ...], output: str) -> None:
        """A whole-file run ended: its file, or why there is none."""
        assert self.run is not None and self.run_dir is not None
        self.disarm(Timer.DEADLINE)
        if code != 0:
            self._give_up(f"ffmpeg exited with status {code}: {' | '.join(tail[-3:]) or 'no output'}")
            return
        self.machine.to(_T.FINISHED)
        self._keep(0, self.run_dir / output)
        self._tell_owner(SegmentReady(self.run, 0, str(self.run_dir / output)))
        self._tell_owner(RunFinished(self.run))

    def _give_up(self, detail: str) -> None:
        """The run failed for good: say so, and end (cleanup stops FFmpeg)."""
        log.warning("run %s: %s", self.run, detail)
        if self.machine.state is not _T.FAILED:
            self.machine.to(_T.FAILED)
        self._tell_owner(RunFinished(self.run or "", error=detail))
        self.exit(NORMAL)

    def _tell_owner(self, message: Any) -> None:
        # The session may have ended first; it stops this transcoder in its own cleanup.
        tell_if_alive(self.owner, message)

    # --- pausing and faults ----------------------------------------------------------------

    def _suspend(self) -> None:
        if self.machine.state is _T.RUNNING and self.ffmpeg is not None and ffmpeg.suspend(self.ffmpeg):
            self.machine.to(_T.SUSPENDED)
            self.disarm(Timer.STALL)

    def _resume(self) -> None:
        if self.machine.state is _T.SUSPENDED and self.ffmpeg is not None and ffmpeg.resume(self.ffmpeg):
            self.machine.to(_T.RUNNING)
            self.arm(Timer.STALL, self.settings.stall_timeout)

    def _signal(self, signum: int) -> dict[str, Any]:
        if self.ffmpeg is None or not self.ffmpeg.signal_leader(signum):
            return {"target": self.name, "did": "nothing: no ffmpeg running"}
        return {"target": f"ffmpeg {self.ffmpeg.pid}", "did": f"sent {signal.Signals(signum).name}"}

    # --- the tree dump ---------------------------------------------------------------------

    def facts(self) -> dict[str, Any]:
        key = self.key
        total = len(self.plan.grid) - 1 if key else None
        return {
            "run": self.run, "run_kind": key.kind.value if key else None,
            "profile": key.name if key else None, "start_segment": self.start_segment,
            "pid": self.ffmpeg.pid if self.ffmpeg else None, "ffmpeg": self.machine.state.value,
            **self._usage(),
            "first_segment": self.first_ready, "last_segment": self.last_ready,
            "segments": total, "speed": self.speed,
        }

    def _usage(self) -> dict[str, Any]:
        usage = None
        if self.ffmpeg is not None and self.machine.state not in (_T.FINISHED, _T.FAILED):
            usage = self.ffmpeg.usage()
        cpu, rss = usage if usage is not None else (None, None)
        return {"cpu": cpu, "rss": rss}


def _forward_to(ref: pykka.ActorRef[Any]) -> Callable[[Any], None]:
    """The watcher's callback: hand the event on; after the transcoder ended, drop it."""
    return lambda event: tell_if_alive(ref, event)
