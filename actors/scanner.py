"""The scanner: keeps the media index up to date with the media root, in the background.

A pass starts at start-up, every ``hls.scan_interval`` s and on ``ScanNow`` (with
``hls.scan = false`` only on ``ScanNow``). It visits one
file per ``scan_step`` timeout (a message, so the actor answers stops and tree dumps
between files) and runs at most one ffprobe or FFmpeg at a time, under ``nice -n 10
ionice -c3``, each bounded by its timeout. Progress goes to ``runtime.scan`` (read by
the library page and ``hlsctl scan``) and to the log, every tenth of the bytes.

Trick play (``hls.trickplay``): once every file of the pass is visited, each video file
version without thumbnails gets one FFmpeg pass (``actors.trickplay.TrickplayJob``), one
at a time, started on this actor's thread and followed through the process watcher's
messages, so the actor stays responsive while it runs; its film seconds done are the
progress's ``thumbnail_*`` figures. The pass finishes when the last one is made. The
trick play folders of versions no longer in the library go at the start of each pass.

When it dies: the pass under way is dropped (what it stored stays stored; a trick play
FFmpeg under way is stopped and its partial folder removed); its supervisor restarts it
and the new scanner starts a new pass, which skips what is already indexed and made.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any, Hashable

from actors import ffmpeg
from actors.kernel import Exit, Link, LinkedActor, tell_if_alive
from actors.media import trickplay
from actors.media.index import Stamp
from actors.media.keyframes import read_keyframes
from actors.media.probe import PROBE_ARGS, packet_index
from actors.media.scan import ScanProgress, Work, begin_pass, finish_pass, visit_file
from actors.media.trickplay_files import TrickplayStore
from actors.messages import ScanNow, Timer
from actors.runtime import Runtime
from actors.trickplay import TrickplayJob, TrickplayTarget

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 30.0
POSTER_TIMEOUT = 30.0
PASS_READ_RATE = 20e6  # bytes/s for the packet pass at idle I/O priority
TRICKPLAY_DEADLINE = "trickplay_deadline"  # timer: the trick play FFmpeg took too long


class Scanner(LinkedActor):
    """One library scan at a time, one file per message. Owns its pass and its timers."""

    kind = "scanner"

    def __init__(self, link: Link, runtime: Runtime) -> None:
        super().__init__(link, runtime.timers)
        self.runtime = runtime
        self.pending: deque[tuple[str, os.stat_result]] = deque()
        self.state: ScanProgress | None = None
        self.passes = 0
        self.work = Work(self._probe, self._keyframes, self._poster, self._report)
        self.store = TrickplayStore(runtime.settings.trickplay_path,
                                    runtime.settings.trickplay_bytes)
        self.targets: deque[TrickplayTarget] = deque()
        self.job: TrickplayJob | None = None
        self.jobs = 0
        self.failed: set[tuple[str, Stamp]] = set()  # tried again after a restart only

    def started(self) -> None:
        if self.runtime.settings.scan:
            self.arm(Timer.SCAN, 0)

    def handle(self, message: Any) -> Any:
        match message:
            case ScanNow():
                if not self.pending and not self.targets and self.job is None:
                    self.disarm(Timer.SCAN)
                    self._begin()
            case ffmpeg.ProgressReported(pid=pid, fields=fields) if self._runs(pid):
                self._trickplay_progress(fields)
            case ffmpeg.ProcessExited(pid=pid, returncode=code, stderr_tail=tail) if self._runs(pid):
                self._trickplay_exited(code, tail)
            case ffmpeg.ProgressReported() | ffmpeg.ProcessExited():
                pass  # a stopped job's last words
            case _:
                return super().handle(message)
        return None

    def timeout(self, name: Hashable, payload: Any) -> None:
        if name is Timer.SCAN:
            self._begin()
        elif name is Timer.SCAN_STEP:
            self._step()
        elif name == TRICKPLAY_DEADLINE and self.job is not None:
            self._trickplay_failed(f"took over {self.job.target.timeout:.0f} s")
        else:
            super().timeout(name, payload)

    def cleanup(self, exit: Exit) -> None:
        if self.job is not None:
            self.job.stop()
            self.job = None

    def facts(self) -> dict[str, Any]:
        state = self.state
        return {"passes": self.passes, "pending": len(self.pending),
                "done": state.done if state else 0, "total": state.total if state else 0,
                "trickplay_pending": len(self.targets), "trickplay_runs": self.jobs,
                "trickplay_pid": self.job.pid if self.job is not None else None}

    def _begin(self) -> None:
        files, self.state = begin_pass(self.runtime.settings.media_root, self.runtime.index)
        self.store.sweep({self.store.name(media_id, Stamp.of(stat)) for media_id, stat in files})
        self.pending = deque(files)
        self.runtime.scan.update(self.state)
        log.info("library scan: %d files, %.1f MB", self.state.total,
                 self.state.bytes_total / 1e6)
        self.arm(Timer.SCAN_STEP, 0)

    def _step(self) -> None:
        assert self.state is not None
        if self.pending:
            media_id, stat = self.pending.popleft()
            self.state = visit_file(self.runtime.index, self.runtime.settings.media_root,
                                    media_id, stat, self.state, self.work)
            self._queue_trickplay(media_id, Stamp.of(stat))
            self._report(self.state)
            self.arm(Timer.SCAN_STEP, 0)
            return
        if self.job is not None:
            return  # its exit steps on
        if self.targets:
            self._start_trickplay(self.targets.popleft())
            return
        self.state = finish_pass(self.state)
        self.runtime.scan.update(self.state)
        self.passes += 1
        log.info("library scan: %d files, %d indexed, %d removed, %d errors in %.1f s",
                 self.state.total, self.state.indexed, self.state.removed, self.state.errors,
                 time.time() - self.state.started)
        if self.runtime.settings.scan:
            self.arm(Timer.SCAN, self.runtime.settings.scan_interval)

    def _report(self, progress: ScanProgress) -> None:
        previous = self.runtime.scan.update(progress)
        decile = int(progress.fraction * 10)
        if progress.current and previous is not None and decile > int(previous.fraction * 10):
            log.info("library scan: %d%% (%d/%d files), at %s", decile * 10, progress.done,
                     progress.total, progress.current)

    # --- the work, one process at a time, at low priority -------------------------------

    def _probe(self, path: Path) -> dict[str, Any]:
        return json.loads(ffmpeg.run_ffprobe(self.runtime.settings.ffprobe, list(PROBE_ARGS),
                                             path, PROBE_TIMEOUT, low_priority=True))

    def _keyframes(self, path: Path) -> tuple[float, ...]:
        found = read_keyframes(path)
        if found:
            return found
        timeout = PROBE_TIMEOUT + path.stat().st_size / PASS_READ_RATE
        return packet_index(self.runtime.settings.ffprobe, path, "V:0", timeout,
                            low_priority=True).times

    def _poster(self, path: Path, at: float, target: Path) -> None:
        ffmpeg.write_poster(self.runtime.settings.ffmpeg, path, at, target, POSTER_TIMEOUT)

    # --- trick play: one FFmpeg at a time, after the files are visited ------------------

    def _runs(self, pid: int) -> bool:
        return self.job is not None and self.job.pid == pid

    def _queue_trickplay(self, media_id: str, stamp: Stamp) -> None:
        if not self.runtime.settings.trickplay or (media_id, stamp) in self.failed:
            return
        entry = self.runtime.index.get(media_id, stamp)
        if (entry is None or entry.video_codec is None or not entry.duration
                or self.store.manifest(media_id, stamp) is not None):
            return
        path = self.runtime.settings.media_root / media_id
        try:
            info = self.runtime.prober.probe(path)  # from the index: no process
            shape = trickplay.geometry(info.duration, info.video.display_aspect)
        except Exception as error:  # one bad file must not stop the scan
            log.warning("no trick play for %s: %s", media_id, error)
            return
        keyframes = self.runtime.index.keyframes(media_id, stamp)
        self.targets.append(TrickplayTarget(media_id, stamp, path, shape,
                                            trickplay.keyframes_suffice(keyframes, info.duration)))
        assert self.state is not None
        self.state = replace(self.state, thumbnails_total=self.state.thumbnails_total + 1,
                             thumbnail_seconds_total=self.state.thumbnail_seconds_total
                             + shape.duration)

    def _start_trickplay(self, target: TrickplayTarget) -> None:
        assert self.state is not None
        if not self.store.has_room():
            log.warning("trick play for %s skipped: its files are at hls.trickplay_bytes",
                        target.media_id)
            return self._trickplay_done(target.shape.duration)
        self.jobs += 1
        self.job = TrickplayJob(self.runtime, self.store, target, f"trickplay-{self.jobs}")
        self.state = replace(self.state, thumbnails_current=target.media_id)
        self._report(self.state)
        ref = self.actor_ref
        try:
            self.job.start(lambda event: tell_if_alive(ref, event))
        except (OSError, RuntimeError) as error:
            return self._trickplay_failed(f"ffmpeg could not start: {error}")
        self.arm(TRICKPLAY_DEADLINE, target.timeout)

    def _trickplay_progress(self, fields: dict[str, str]) -> None:
        assert self.job is not None and self.state is not None
        before = self.job.seconds_done
        done = self.job.progress(fields)
        self.state = replace(self.state, thumbnail_seconds=self.state.thumbnail_seconds
                             + done - before)
        self._report(self.state)

    def _trickplay_exited(self, code: int, tail: tuple[str, ...]) -> None:
        assert self.job is not None
        try:
            manifest = self.job.finish(code, tail)
        except (OSError, ValueError, RuntimeError, StopIteration) as error:
            return self._trickplay_failed(str(error))
        log.info("trick play for %s: %d sheets, %d I-frames", self.job.target.media_id,
                 manifest.shape.sheets, len(manifest.frames))
        self._trickplay_done(self.job.target.shape.duration - self.job.seconds_done)

    def _trickplay_failed(self, reason: str) -> None:
        assert self.job is not None
        target = self.job.target
        log.warning("trick play for %s failed: %s", target.media_id, reason)
        self.failed.add((target.media_id, target.stamp))
        self._trickplay_done(target.shape.duration - self.job.seconds_done)

    def _trickplay_done(self, seconds_left: float) -> None:
        """The job (if any) is over: count it, and step on to the next."""
        assert self.state is not None
        if self.job is not None:
            self.job.stop()
            self.job = None
        self.disarm(TRICKPLAY_DEADLINE)
        self.state = replace(self.state, thumbnails_done=self.state.thumbnails_done + 1,
                             thumbnail_seconds=self.state.thumbnail_seconds + seconds_left,
                             thumbnails_current=None)
        self._report(self.state)
        self.arm(Timer.SCAN_STEP, 0)
