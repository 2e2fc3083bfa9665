"""The transcoder: one actor, one FFmpeg run, one run directory.

A run has a kind (``RunKind``): video segments of one rendition, audio segments of one
audio track (both on the plan's grid, listed and announced the same way), or the
WebVTT file of one subtitle track (announced as segment 0 once FFmpeg exited 0; a
conversion that fails or outlives ``hls.segment_wait`` is reported as ``RunFinished``
with an error and not restarted: it would fail again). Every kind is spawned, tagged,
stopped and swept the same way.

Owns: the FFmpeg process (spawned from this actor's own thread, so the kernel's
``PR_SET_PDEATHSIG`` links FFmpeg's life to this thread), the run's work dir, and the
run's entry in ``runtime.live`` (what the reaper treats as alive).

Life: ``started()`` tells the session ``TranscoderReady``; the session answers
``Begin(run, profile, start_segment)`` with where the player needs segments *now* (so a
transcoder restarted after a crash resumes at the right place); FFmpeg's events reach it
as messages from the process watcher (``ProgressReported``, ``SegmentListed``,
``ProcessExited``). Every segment FFmpeg has finished is announced as ``SegmentReady``;
a segment cut short by a stop or a crash is never announced.

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
import os
import signal
import time
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Hashable

import psutil
import pykka

from actors import ffmpeg, media
from actors.kernel import NORMAL, Exit, Link, LinkedActor, StateMachine, tell_if_alive
from actors.messages import (
    Begin,
    FfmpegStarted,
    Resume,
    RunFinished,
    RunKind,
    SegmentReady,
    SignalFfmpeg,
    StopRun,
    Suspend,
    Timer,
    TranscoderReady,
)
from actors.runtime import Runtime

log = logging.getLogger(__name__)

SUBTITLE_FILE = "track.vtt"


class TranscoderState(str, Enum):
    WAITING = "waiting"  # for its session's Begin
    RUNNING = "running"
    SUSPENDED = "suspended"  # SIGSTOP: the player is far behind (not a stall)
    FINISHED = "finished"  # FFmpeg reached the end and exited 0
    FAILED = "failed"


_T = TranscoderState
TRANSITIONS = {
    _T.WAITING: frozenset({_T.RUNNING}),
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
        self.profile: str | None = None
        self.run_kind = RunKind.VIDEO
        self.start_segment = 0
        self.run_dir: Path | None = None
        self.ffmpeg: ffmpeg.ProcessHandle | None = None
        self.process: psutil.Process | None = None
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
            case Begin(run=run, profile=profile, start_segment=start, kind=kind):
                self._begin(run, profile, start, kind)
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
            self._give_up(f"subtitle conversion took over {self.settings.segment_wait:g} s")
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

    def _begin(self, run: str, profile_name: str, start: int, kind: RunKind) -> None:
        if self.run is not None:
            log.warning("%s: already running %s; ignoring Begin(%s)", self.name, self.run, run)
            return
        argv = self._argv_builder(kind, profile_name, start)  # refuses before any file exists
        self.run, self.profile, self.start_segment, self.run_kind = run, profile_name, start, kind
        self.runtime.live.add_run(run)
        self.run_dir = ffmpeg.run_dir(self.settings.work_dir, self.settings.instance, self.session_id, run)
        self.run_dir.mkdir(parents=True)
        tag = ffmpeg.Tag.for_this_process(self.settings.work_dir, self.settings.instance,
                                         self.session_id, run)
        self.spawned_at = time.monotonic()
        self.ffmpeg = ffmpeg.spawn(lambda p, s: argv(self.run_dir, p, s), tag, self.run_dir,
                                   self.settings.ffmpeg)
        self.runtime.live.add_pid(self.ffmpeg.pid)
        self.process = psutil.Process(self.ffmpeg.pid)
        self.machine.to(_T.RUNNING)
        self.runtime.watcher.watch(self.ffmpeg, _forward_to(self.actor_ref))
        self._tell_owner(FfmpegStarted(run, self.ffmpeg.pid))
        if kind is RunKind.SUBTITLES:
            self.arm(Timer.DEADLINE, self.settings.segment_wait)
        else:
            self.arm(Timer.STALL, self.settings.stall_timeout)
        log.info("run %s: ffmpeg %d started, %s %s from segment %d", run, self.ffmpeg.pid,
                 kind.value, profile_name, start)

    def _argv_builder(self, kind: RunKind, name: str,
                      start: int) -> Callable[[Path, int, int], list[str]]:
        """FFmpeg's arguments for this run, given its dir, progress fd and list fd."""
        plan = self.plan
        if kind is RunKind.AUDIO:
            track = plan.audio_track(int(name))
            channels, kbps = media.audio_channels(track), plan.audio_kbps(track)
            return lambda out, progress, listing: media.audio_rendition_args(
                plan.info.path, track, plan.grid, start, out, f"pipe:{listing}",
                channels=channels, bitrate_kbps=kbps, progress=f"pipe:{progress}")
        if kind is RunKind.SUBTITLES:
            subtitle = plan.subtitle_track(int(name))
            return lambda out, progress, listing: [
                "-progress", f"pipe:{progress}",
                *media.webvtt_conversion_args(plan.info.path, subtitle, out / SUBTITLE_FILE)]
        profile = plan.rendition(name)  # as the plan sized it, not as configured
        return lambda out, progress, listing: media.ffmpeg_args(
            plan.info, profile, plan.boundaries[name], start, out, progress, listing,
            muxed_audio=not plan.audio, burn=plan.burn)

    def _progress(self, fields: dict[str, str]) -> None:
        self.speed = fields.get("speed", "").strip()
        if self.machine.state is _T.RUNNING:
            self.arm(Timer.STALL, self.settings.stall_timeout)

    def _listed(self, segment: media.ListedSegment) -> None:
        boundaries = self.plan.grid
        # An audio segment ends up to one AAC frame before its cut (the frame crossing it
        # starts the next one): a "frame rate" of half the AAC frame rate gives that slack.
        fps = (self.plan.info.video.fps if self.run_kind is RunKind.VIDEO
               else 44100 / (2 * media.AAC_FRAME_SAMPLES))
        if segment.number == len(boundaries) - 2:
            self.held_last = segment  # whole only if FFmpeg exits with status 0
        elif media.reaches_its_boundary(segment, boundaries, fps):
            self._announce(segment)
        else:
            log.warning("run %s: segment %d cut short; not served", self.run, segment.number)

    def _announce(self, segment: media.ListedSegment) -> None:
        assert self.run is not None and self.run_dir is not None
        if self.first_ready is None:
            self.first_ready = segment.number
            self.runtime.metrics.first_segment.observe(time.monotonic() - self.spawned_at)
        self.last_ready = segment.number
        self._tell_owner(SegmentReady(self.run, segment.number, str(self.run_dir / segment.name)))

    def _exited(self, code: int, tail: tuple[str, ...]) -> None:
        assert self.run is not None and self.ffmpeg is not None
        self.runtime.live.discard_pid(self.ffmpeg.pid)
        self.disarm(Timer.STALL)
        if self.run_kind is RunKind.SUBTITLES:
            self._converted(code, tail)
            return
        if code != 0:
            self.machine.to(_T.FAILED)
            last = " | ".join(tail[-3:]) or "no output"
            raise FfmpegFailed(f"ffmpeg exited with status {code}: {last}")
        if self.held_last is not None:
            self._announce(self.held_last)
        self.machine.to(_T.FINISHED)
        self._tell_owner(RunFinished(self.run))

    def _converted(self, code: int, tail: tuple[str, ...]) -> None:
        """A subtitle conversion ended: its WebVTT file, or why there is none."""
        assert self.run is not None and self.run_dir is not None
        self.disarm(Timer.DEADLINE)
        if code != 0:
            self._give_up(f"ffmpeg exited with status {code}: {' | '.join(tail[-3:]) or 'no output'}")
            return
        self.machine.to(_T.FINISHED)
        self._tell_owner(SegmentReady(self.run, 0, str(self.run_dir / SUBTITLE_FILE)))
        self._tell_owner(RunFinished(self.run))

    def _give_up(self, detail: str) -> None:
        """A subtitle conversion failed: say so, and end (cleanup stops FFmpeg)."""
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
        if self.ffmpeg is None or self.ffmpeg.returncode is not None:
            return {"target": self.name, "did": "nothing: no ffmpeg running"}
        os.kill(self.ffmpeg.pid, signum)
        return {"target": f"ffmpeg {self.ffmpeg.pid}", "did": f"sent {signal.Signals(signum).name}"}

    # --- the tree dump ---------------------------------------------------------------------

    def facts(self) -> dict[str, Any]:
        total = len(self.plan.grid) - 1 if self.profile else None
        return {
            "run": self.run, "run_kind": self.run_kind.value, "profile": self.profile, "start_segment": self.start_segment,
            "pid": self.ffmpeg.pid if self.ffmpeg else None, "ffmpeg": self.machine.state.value,
            **self._usage(),
            "first_segment": self.first_ready, "last_segment": self.last_ready,
            "segments": total, "speed": self.speed,
        }

    def _usage(self) -> dict[str, Any]:
        if self.process is None or self.machine.state in (_T.FINISHED, _T.FAILED):
            return {"cpu": None, "rss": None}
        try:
            with self.process.oneshot():
                return {"cpu": self.process.cpu_percent(None), "rss": self.process.memory_info().rss}
        except psutil.Error:
            return {"cpu": None, "rss": None}


def _forward_to(ref: pykka.ActorRef[Any]) -> Callable[[Any], None]:
    """The watcher's callback: hand the event on; after the transcoder ended, drop it."""
    return lambda event: tell_if_alive(ref, event)
