"""The session's runs beside the video: alternate audio tracks and subtitle tracks.

``TrackRuns`` is a part of ``Session`` (a mixin: it shares the session's thread, timers,
waiters and transcoders supervisor). It owns:

- audio runs, keyed ``(RunKind.AUDIO, track)``: started when a segment of that track is
  requested and no run of it reaches that segment soon; at most one audio run at a time
  (a player fetches one audio track; a language switch ends the old track's run). They
  are paced like the video run, on the same grid.
- subtitle conversions, keyed ``(RunKind.SUBTITLES, track)``: one short-lived run per
  track per session writes the track's WebVTT; it is then parsed and cut into one
  document per segment (kept in memory, served from there) and the run ends. A failed
  conversion is remembered: its requests get an error at once, nothing is spawned again.

Every run is a ``Transcoder`` child of the session's supervisor, like the video run, so
stop, idle, crash, restart intensity and sweep treat them all the same.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pykka

from actors import media
from actors.errors import Unavailable, Unplayable
from actors.kernel import ChildSpec, Restart, StartChild, tell_if_alive
from actors.messages import Begin, Resume, RunKind, SegmentWait, StopRun, Suspend
from actors.runs import Run
from actors.transcoder import Transcoder

log = logging.getLogger(__name__)

SideKey = tuple[RunKind, str]


class TrackRuns:
    """See the module docstring. Needs the session's ``plan``, ``waiters``, ``read_head``,
    ``transcoders``, ``settings``, ``run_prefix``, ``runtime`` and its helpers."""

    side: dict[SideKey, Run]
    cues: dict[str, list[str]]  # track -> WebVTT document per segment
    cue_errors: dict[str, str]
    side_started: int

    def _init_track_runs(self) -> None:
        self.side, self.cues, self.cue_errors, self.side_started = {}, {}, {}, 0

    # --- requests -------------------------------------------------------------------------

    def _request_track(self, kind: RunKind, name: str, number: int,
                       reply: pykka.ThreadingFuture[Any]) -> None:
        if kind is RunKind.SUBTITLES:
            self._request_subtitles(name, number, reply)
            return
        self.read_head = number
        run = self.side.get((kind, name))
        if run is not None and number in run.ready:
            self._answer(reply, number, run.ready[number])
        else:
            if run is None or not run.reaches_soon(number):
                self._start_side(kind, name, number)
            self._wait(name, number, reply, kind)
        self._pace_side()

    def _request_subtitles(self, name: str, number: int,
                           reply: pykka.ThreadingFuture[Any]) -> None:
        if name in self.cues:
            reply.set(self.cues[name][number])
        elif name in self.cue_errors:
            _fail(reply, Unplayable(self.cue_errors[name], "bad_subtitles"))
        else:
            if (RunKind.SUBTITLES, name) not in self.side:
                self._start_side(RunKind.SUBTITLES, name, 0)
            self._wait(name, number, reply, RunKind.SUBTITLES)

    # --- runs -----------------------------------------------------------------------------

    def _start_side(self, kind: RunKind, name: str, start: int) -> None:
        if kind is RunKind.AUDIO:  # one audio track at a time: the one being fetched
            for key in [k for k in self.side if k[0] is RunKind.AUDIO]:
                self._end_side(key)
        self.side_started += 1
        child_id = f"{kind.value}-{name}-{self.side_started}"
        run = Run(f"{self.run_prefix}-{kind.value[0]}{self.side_started}", child_id, name, start,
                  next=start, kind=kind)
        self.side[(kind, name)] = run
        self._drop_side_waiters(run)
        self.transcoders.ask(StartChild(self._side_spec(child_id, kind)), timeout=5)

    def _side_spec(self, child_id: str, kind: RunKind) -> ChildSpec:
        runtime, session_id, owner, plan = self.runtime, self.id, self.actor_ref, self.plan
        # A conversion that failed would fail again: it reports and is not restarted.
        restart = Restart.TEMPORARY if kind is RunKind.SUBTITLES else Restart.TRANSIENT
        return ChildSpec(child_id, lambda link: Transcoder.start(link, runtime, session_id, owner, plan),
                         restart=restart, shutdown=self.settings.kill_grace + 2)

    def _end_side(self, key: SideKey) -> None:
        run = self.side.pop(key, None)
        if run is not None and run.ref is not None:
            tell_if_alive(run.ref, StopRun())

    def _end_side_runs(self) -> None:
        for key in list(self.side):
            self._end_side(key)

    def _restart_side_runs(self) -> None:
        """After the transcoders' supervisor was restarted: the same runs again."""
        runs, self.side = list(self.side.values()), {}
        for run in runs:
            self._start_side(run.kind, run.profile, self._resume_point(run))

    def _drop_side_waiters(self, run: Run) -> None:
        if run.kind is RunKind.SUBTITLES:
            return
        for key in [k for k in self.waiters if k.kind is run.kind
                    and (k.profile != run.profile or not run.reaches_soon(k.number))]:
            self.disarm(key)
            for reply in self.waiters.pop(key):
                _fail(reply, Unavailable("the player moved elsewhere", retry_in=1))

    def _any_run(self, run_id: str) -> Run | None:
        """The video run or a side run called ``run_id``."""
        video = self.run
        return video if video is not None and video.id == run_id else self._side_run(run_id)

    def _side_run(self, run_id: str) -> Run | None:
        return next((run for run in self.side.values() if run.id == run_id), None)

    def _side_by_child(self, child_id: str) -> Run | None:
        return next((run for run in self.side.values() if run.child_id == child_id), None)

    # --- events ---------------------------------------------------------------------------

    def _side_transcoder_ready(self, run: Run, ref: pykka.ActorRef[Any]) -> None:
        if run.ref is not None:  # its supervisor restarted it
            self.restarts += 1
            self.runtime.metrics.restarts.inc()
            run.restart(f"{run.id}r{self.restarts}", self._resume_point(run))
        run.ref = ref
        tell_if_alive(ref, Begin(run.id, run.profile, run.start, run.kind))

    def _side_segment_ready(self, run: Run, number: int, path: str) -> None:
        if run.kind is RunKind.SUBTITLES:
            self._subtitles_ready(run, path)
            return
        run.ready[number] = path
        run.next = max(run.next, number + 1)
        key = SegmentWait(run.profile, number, run.kind)
        for reply in self.waiters.pop(key, []):
            self._answer(reply, number, path)
        self.disarm(key)
        self._forget_behind(run)
        self._pace_side()

    def _subtitles_ready(self, run: Run, path: str) -> None:
        """Cut the converted track into one document per segment; the run may end."""
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            self._side_finished(run, f"the WebVTT file vanished: {error}")
            return
        documents = media.webvtt_segments(media.parse_webvtt(text), self.plan.grid)
        self.cues[run.profile] = documents
        for key in [k for k in self.waiters if k.kind is RunKind.SUBTITLES and k.profile == run.profile]:
            self.disarm(key)
            for reply in self.waiters.pop(key):
                reply.set(documents[key.number])
        self._end_side((RunKind.SUBTITLES, run.profile))

    def _side_finished(self, run: Run, error: str | None) -> None:
        if error is None:
            run.finished, run.pid = True, None
            return
        log.warning("session %s: subtitle track %s left out: %s", self.id, run.profile, error)
        self.cue_errors[run.profile] = error
        self.side.pop((run.kind, run.profile), None)
        for key in [k for k in self.waiters if k.kind is run.kind and k.profile == run.profile]:
            self.disarm(key)
            for reply in self.waiters.pop(key):
                _fail(reply, Unplayable(error, "bad_subtitles"))

    def _pace_side(self) -> None:
        """Audio runs are paced like the video run: suspended far ahead of the player."""
        for run in self.side.values():
            if run.kind is not RunKind.AUDIO or run.ref is None:
                continue
            waiting = any(k.kind is run.kind and k.profile == run.profile for k in self.waiters)
            suspend = run.should_suspend(self.read_head, waiting, self.settings.pause_ahead)
            if suspend is not None:
                run.suspended = suspend
                tell_if_alive(run.ref, Suspend() if suspend else Resume())

    def _side_children(self) -> list[tuple[str, pykka.ActorRef[Any] | None]]:
        return [(f"{run.kind.value} {run.profile}", run.ref) for run in self.side.values()]

    def _side_json(self) -> dict[str, Any]:
        return {f"{run.kind.value}:{run.profile}": {"run": run.id, "pid": run.pid,
                                                    "segments_ready": sorted(run.ready)}
                for run in self.side.values()}


def _fail(future: pykka.ThreadingFuture[Any], error: BaseException) -> None:
    future.set_exception((type(error), error, None))
