"""The runs of one session, and the one life every run lives.

``Runs`` is owned by its session (composition): the session calls it from its own thread
only, and it reaches the actor world through the session's ``RunHost`` face (its timers,
its transcoders supervisor). It owns:

- every FFmpeg run of the session, keyed by the ``RenditionKey`` it makes: a video
  rendition, an audio track, a subtitle track. How each kind is treated is its
  ``RunPolicy`` (``actors.run.POLICIES``): how many at once, whether it is restarted,
  paced, held on a switch, or made as one file;
- the requests waiting for a segment (deferred replies, each bounded by a ``SegmentWait``
  timer), answered the moment the segment is made, or at once with an error when its run
  fails for good;
- what whole-file runs made (subtitle tracks cut into one WebVTT document per segment),
  and the renditions that failed for good (their requests are answered at once);
- the player's read head, the rendition-switch hold, the session's state (starting,
  playing, idle), and the ``ReadyBoard`` the web threads read made segments from.

Playback rules: a made segment is answered at once, from the session's runs or the
node's store; one a run will reach soon is waited for, the session's or another's
(``actors.sharing``); any other starts a run at it (a seek), ending the kind's other run;
a run far ahead of the player is suspended, resumed as the player nears. Requests that
leaned on another's run look again when it goes, and take over where nothing serves them.
"""
from __future__ import annotations

import collections
import contextlib
import logging
import os
from pathlib import Path
from typing import Any, BinaryIO, Hashable, Protocol

import pykka

from actors import media
from actors.errors import HlsError, Unavailable, Unplayable, logged
from actors.kernel import ChildSpec, StateMachine, tell_if_alive
from actors.media import RenditionKey, RunKind
from actors.messages import Begin, Resume, SegmentWait, StopRun, Suspend, Timer
from actors.run import POLICIES, TRANSITIONS, ReadyBoard, Run, SessionState, SwitchHold
from actors.runtime import Runtime
from actors.sharing import Sharing
from actors.transcoder import Transcoder

log = logging.getLogger(__name__)

# How a run's id names its kind (video runs keep the plain number operators know).
ID_LETTER = {RunKind.VIDEO: "", RunKind.AUDIO: "a", RunKind.SUBTITLES: "s"}


class RunHost(Protocol):
    """What ``Runs`` needs of the session actor it belongs to."""

    def arm(self, name: Hashable, delay: float) -> None: ...

    def disarm(self, name: Hashable) -> None: ...

    def start_child(self, spec: ChildSpec) -> None: ...


class Runs:
    """See the module docstring. Every method runs on the owning session's thread."""

    def __init__(self, host: RunHost, runtime: Runtime, plan: media.Plan, session: str,
                 owner: pykka.ActorRef[Any], prefix: str) -> None:
        self.host, self.runtime, self.settings, self.plan = host, runtime, runtime.settings, plan
        self.session, self.owner, self.prefix = session, owner, prefix  # prefix: unique run ids
        self.runs: dict[RenditionKey, Run] = {}
        self.waiters: dict[SegmentWait, list[pykka.ThreadingFuture[Any]]] = {}
        self.documents: dict[RenditionKey, list[str]] = {}  # whole-file runs, per segment
        self.failed: dict[RenditionKey, HlsError] = {}
        self.counts: collections.Counter[RunKind] = collections.Counter()
        self.restarts = 0
        self.read_head = plan.start_segment
        self.hold = SwitchHold()
        self.board = ReadyBoard()
        self.sharing = Sharing(runtime, plan, owner)
        self.machine = StateMachine(SessionState.IDLE, TRANSITIONS)  # until a video request

    @property
    def video(self) -> Run | None:
        return next((run for key, run in self.runs.items() if key.kind is RunKind.VIDEO), None)

    @property
    def profile(self) -> str:
        """The video rendition playing, else the one the session was made for."""
        video = self.video
        return video.key.name if video is not None else self.plan.profile

    @property
    def started(self) -> int:
        return sum(self.counts.values())

    # --- requests ---------------------------------------------------------------------------

    def request(self, key: RenditionKey, number: int, reply: pykka.ThreadingFuture[Any]) -> None:
        try:
            media.check_rendition(self.plan, key, number)
        except HlsError as error:
            return _fail(reply, error)
        if key in self.failed:
            return _fail(reply, self.failed[key])
        if key not in self.documents and POLICIES[key.kind].whole:
            self.documents.update(self.sharing.documents(key))  # another session's run made it
        if key in self.documents:
            return reply.set(self.documents[key][number])
        if not POLICIES[key.kind].whole:
            self.read_head = number
        run = self.runs.get(key)
        if run is not None and number in run.ready:
            self._answer(reply, number, run.ready[number])
        elif (kept := self.sharing.open(key, number)) is not None:
            self.machine.to(SessionState.PLAYING)
            reply.set(kept)
        else:  # a held switch happens when the hold ends (``switch_due``)
            if not self._held(key) and (run is None or not run.serves(number)) \
                    and not self._lean(key, number):
                self.start(key, 0 if POLICIES[key.kind].whole else number)
            self._wait(key, number, reply)
        self.pace()

    def _lean(self, key: RenditionKey, number: int) -> bool:
        """Wait on another session's run that makes the segment soon; this session's runs
        of the kind, which would not, end (a player fetches one rendition of a kind)."""
        if not self.sharing.lean(key, number):
            return False
        self._end_kind(key)
        self.machine.to(SessionState.PLAYING)  # served by others, without a run of its own
        return True

    def stored(self, shelf: str, number: int) -> None:
        """Another session's run stored segment ``number`` of a shelf this one watches."""
        key = self.sharing.key_of(shelf)
        if key is not None and self._answer_stored(key, number):
            self.pace()

    def _answer_stored(self, key: RenditionKey, number: int) -> bool:
        """Answer the waits for ``number`` of ``key`` from the store, if it keeps it."""
        wait = SegmentWait(key, number)
        if not self.sharing.answer(key, number, self.waiters.get(wait, [])):
            return False
        self.host.disarm(wait)
        del self.waiters[wait]
        return True

    def reconsider(self, shelf: str) -> None:
        """An offer this session leaned on went or moved: each wait of its key is answered
        from the store, or waits on a run that serves it, or this session takes over."""
        if (key := self.sharing.key_of(shelf)) is None:
            return
        for number in sorted({w.number for w in self.waiters if w.key == key}):
            run = self.runs.get(key)
            if (run is not None and run.serves(number)) or self._answer_stored(key, number) \
                    or self.sharing.serving(key, number):
                continue
            log.info("session %s takes over %s at segment %d", self.session, key.describe(), number)
            self.start(key, number)
        self.pace()

    def served(self, number: int) -> None:
        """A web thread served a made segment itself: the request it was."""
        self.read_head = number
        self.pace()

    def heard_position(self, seconds: float) -> None:
        if self.video is not None:
            self.read_head = max(self.read_head, media.segment_for_time(self.plan.grid, seconds))
        self.pace()

    def _held(self, key: RenditionKey) -> bool:
        """A switch to ``key`` that must wait: the current run of its kind is too young."""
        if not POLICIES[key.kind].held:
            return False
        video = self.video
        left = self.hold.left(key.name, video.key.name if video else None)
        if left > 0:
            self.host.arm(Timer.SWITCH, left)  # the same deadline each time: never pushed back
        return left > 0

    def switch_due(self) -> None:
        """The hold ended: switch to the rendition asked for last, if anyone still waits
        for it; the other renditions' requests get a quick "retry"."""
        video, wanted = self.video, self.hold.wanted
        key = RenditionKey.video(wanted) if wanted is not None else None
        waited = [wait.number for wait in self.waiters if wait.key == key]
        if video is not None and key is not None and key != video.key and waited:
            self.start(key, min(waited))
        elif video is not None:
            self._drop_unreachable(RunKind.VIDEO)

    def _answer(self, reply: pykka.ThreadingFuture[Any], number: int, path: str) -> None:
        try:
            segment: BinaryIO = open(path, "rb")  # noqa: SIM115 (the web layer closes it)
        except OSError as error:
            log.info("session %s: segment %d vanished: %s", self.session, number, error)
            return _fail(reply, Unavailable(f"segment {number} vanished; it is made again",
                                            retry_in=1))
        self.runtime.metrics.segments.labels("served").inc()
        reply.set(segment)

    def _wait(self, key: RenditionKey, number: int, reply: pykka.ThreadingFuture[Any]) -> None:
        wait = SegmentWait(key, number)
        if wait not in self.waiters:
            self.host.arm(wait, self.settings.segment_wait)
        self.waiters.setdefault(wait, []).append(reply)

    def wait_expired(self, wait: SegmentWait) -> None:
        self.runtime.metrics.segments.labels("timeout").inc()
        self._answer_waits(lambda w: w == wait, Unavailable(
            f"segment {wait.number} not ready within {self.settings.segment_wait:g} s", retry_in=2))

    def _answer_waits(self, which: Any, answer: HlsError | list[str]) -> None:
        """Answer the waits ``which(wait)`` picks: with an error, or their documents."""
        for wait in [w for w in self.waiters if which(w)]:
            self.host.disarm(wait)
            for reply in self.waiters.pop(wait):
                if isinstance(answer, HlsError):
                    _fail(reply, answer)
                else:
                    reply.set(answer[wait.number])

    def fail_all(self, error: HlsError) -> None:
        """The session ends: every waiting request gets ``error`` now."""
        for replies in self.waiters.values():
            for reply in replies:
                _fail(reply, error)
        self.waiters.clear()

    # --- the life of a run --------------------------------------------------------------------

    def _end_kind(self, key: RenditionKey) -> None:
        """End the run of ``key``, and the others of its kind if the kind is exclusive."""
        exclusive = POLICIES[key.kind].exclusive
        for other in [k for k in self.runs if k == key or (exclusive and k.kind is key.kind)]:
            self.end(other)

    def start(self, key: RenditionKey, number: int) -> None:
        """A new run of ``key`` from segment ``number``; the run it replaces stops by itself."""
        policy = POLICIES[key.kind]
        self._end_kind(key)
        self.counts[key.kind] += 1
        count = self.counts[key.kind]
        if key.kind is RunKind.VIDEO:
            self.host.disarm(Timer.SWITCH)
            self.hold.started()
            if count > 1:
                self.runtime.metrics.seeks.inc()
            self.machine.to(SessionState.STARTING)
        child_id = f"{key.kind.value}-{key.name}-{self.started}"
        self.runs[key] = Run(f"{self.prefix}-{ID_LETTER[key.kind]}{count}", child_id, key, number)
        self.sharing.offer(self.runs[key], current=True)
        self._drop_unreachable(key.kind)
        runtime, session, owner, plan = self.runtime, self.session, self.owner, self.plan
        self.host.start_child(ChildSpec(
            child_id, lambda link: Transcoder.start(link, runtime, session, owner, plan),
            restart=policy.restart, shutdown=self.settings.kill_grace + 2))

    def end(self, key: RenditionKey) -> None:
        run = self.runs.pop(key, None)
        if run is not None:
            self.sharing.offer(run, current=False)
        if run is not None and run.ref is not None:
            tell_if_alive(run.ref, StopRun())
        self.board.show(self.runs)

    def idle(self) -> None:
        """Nobody asked for a while: every run ends; the session stays resumable."""
        for key in list(self.runs):
            self.end(key)
        self.machine.to(SessionState.IDLE)

    def restart_all(self) -> None:
        """The transcoders' supervisor was restarted: the same runs again, where needed."""
        self.restarts += 1
        runs, self.runs = list(self.runs.values()), {}
        for run in runs:
            self.sharing.offer(run, current=False)
            self.start(run.key, self._resume_point(run))

    def _drop_unreachable(self, kind: RunKind) -> None:
        """Requests of ``kind`` that no run will serve soon get a quick "retry" answer."""
        def unreachable(wait: SegmentWait) -> bool:
            run = self.runs.get(wait.key)
            return wait.key.kind is kind and (run is None or not run.serves(wait.number)) \
                and not self.sharing.serving(wait.key, wait.number)

        self._answer_waits(unreachable, Unavailable("the player moved elsewhere", retry_in=1))

    def _by_id(self, run_id: str) -> Run | None:
        return next((run for run in self.runs.values() if run.id == run_id), None)

    def transcoder_ready(self, child_id: str, ref: pykka.ActorRef[Any]) -> None:
        run = next((run for run in self.runs.values() if run.child_id == child_id), None)
        if run is None:
            tell_if_alive(ref, StopRun())  # an old run's transcoder, restarted after a crash
            return
        if run.ref is not None:  # the same child again: its supervisor restarted it
            self.restarts += 1
            self.runtime.metrics.restarts.inc()
            run.restart(f"{run.first_id}r{self.restarts}", self._resume_point(run))
            self.board.show(self.runs)
        run.ref = ref
        self.sharing.offer(run, current=True)
        if run.key.kind is RunKind.VIDEO:
            self.machine.to(SessionState.PLAYING)
        tell_if_alive(ref, Begin(run.id, run.key, run.start))

    def _resume_point(self, run: Run) -> int:
        if run.policy.whole:
            return 0
        waiting = [wait.number for wait in self.waiters if wait.key == run.key]
        return min(waiting) if waiting else min(self.read_head, run.next)

    def ffmpeg_started(self, run_id: str, pid: int) -> None:
        if (run := self._by_id(run_id)) is not None:
            run.pid = pid

    def segment_ready(self, run_id: str, number: int, path: str) -> None:
        run = self._by_id(run_id)
        if run is None:
            return
        if run.policy.whole:
            return self._cut(run, path)
        run.ready[number] = path
        run.next = max(run.next, number + 1)
        self.sharing.offer(run, current=True)
        wait = SegmentWait(run.key, number)
        for reply in self.waiters.pop(wait, []):
            self._answer(reply, number, path)
        self.host.disarm(wait)
        self._forget_behind(run)
        self.board.show(self.runs)
        self.pace()

    def _cut(self, run: Run, path: str) -> None:
        """A whole-file run (subtitles) is done: one document per segment; the run ends."""
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            return self.finished(run.id, f"the WebVTT file vanished: {error}")
        documents = media.webvtt_segments(media.parse_webvtt(text), self.plan.grid)
        self.documents[run.key] = documents
        self._answer_waits(lambda wait: wait.key == run.key, documents)
        self.end(run.key)

    def finished(self, run_id: str, error: str | None) -> None:
        """FFmpeg reached the end (``error`` None), or the run failed for good: its
        requests, now and later, get an error that says what in the client's terms."""
        run = self._by_id(run_id)
        if run is None:
            return
        if error is None:
            run.finished, run.pid = True, None  # FFmpeg exited and was reaped
            self.sharing.offer(run, current=False)
            return
        failure = logged(Unplayable(f"{run.key.describe()} could not be prepared", "rendition_failed"),
                         f"session {self.session} run {run.id}: {error}", log)
        self.failed[run.key] = failure
        self.end(run.key)
        self._answer_waits(lambda wait: wait.key == run.key, failure)

    def _forget_behind(self, run: Run) -> None:
        """Bound disk use: delete segments far behind the player (a seek back re-makes them)."""
        for old in [n for n in run.ready if n < self.read_head - self.settings.keep_behind]:
            with contextlib.suppress(OSError):  # already gone is fine
                os.unlink(run.ready.pop(old))

    def pace(self) -> None:
        """Suspend a run far ahead of the player; resume it when the player nears."""
        for run in self.runs.values():
            if run.ref is None:
                continue
            waiting = any(wait.key == run.key for wait in self.waiters)
            suspend = run.should_suspend(self.read_head, waiting, self.settings.pause_ahead)
            if suspend is not None:
                run.suspended = suspend
                tell_if_alive(run.ref, Suspend() if suspend else Resume())
                self.sharing.offer(run, current=True)

    # --- what operators see -----------------------------------------------------------------

    def json(self) -> dict[str, Any]:
        video = self.video
        return {
            "transcoder_pid": video.pid if video else None,
            "run": video.id if video else None,
            "video_runs": self.counts[RunKind.VIDEO],
            "segments_ready": sorted(video.ready) if video else [],
            "restarts": self.restarts,
            "shared": self.sharing.json(),
            "track_runs": {f"{key.kind.value}:{key.name}": {
                "run": run.id, "pid": run.pid, "segments_ready": sorted(run.ready)}
                for key, run in self.runs.items() if key.kind is not RunKind.VIDEO},
        }


def _fail(future: pykka.ThreadingFuture[Any], error: BaseException) -> None:
    future.set_exception((type(error), error, None))
