"""The scanner: keeps the media index up to date with the media root, in the background.

A pass starts at start-up, every ``hls.scan_interval`` s and on ``ScanNow`` (with
``hls.scan = false`` only on ``ScanNow``). It visits one
file per ``scan_step`` timeout (a message, so the actor answers stops and tree dumps
between files) and runs at most one ffprobe or FFmpeg at a time, under ``nice -n 10
ionice -c3``, each bounded by its timeout. Progress goes to ``runtime.scan`` (read by
the library page and ``hlsctl scan``) and to the log, every tenth of the bytes.

When it dies: the pass under way is dropped (what it stored stays stored); its supervisor
restarts it and the new scanner starts a new pass, which skips what is already indexed.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import Any, Hashable

from actors import ffmpeg
from actors.kernel import Link, LinkedActor
from actors.media.keyframes import read_keyframes
from actors.media.probe import PROBE_ARGS, packet_index
from actors.media.scan import ScanProgress, Work, begin_pass, finish_pass, visit_file
from actors.messages import ScanNow, Timer
from actors.runtime import Runtime

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 30.0
POSTER_TIMEOUT = 30.0
PASS_READ_RATE = 20e6  # bytes/s for the packet pass at idle I/O priority


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

    def started(self) -> None:
        if self.runtime.settings.scan:
            self.arm(Timer.SCAN, 0)

    def handle(self, message: Any) -> Any:
        match message:
            case ScanNow():
                if not self.pending:
                    self.disarm(Timer.SCAN)
                    self._begin()
            case _:
                return super().handle(message)
        return None

    def timeout(self, name: Hashable, payload: Any) -> None:
        if name is Timer.SCAN:
            self._begin()
        elif name is Timer.SCAN_STEP:
            self._step()
        else:
            super().timeout(name, payload)

    def facts(self) -> dict[str, Any]:
        state = self.state
        return {"passes": self.passes, "pending": len(self.pending),
                "done": state.done if state else 0, "total": state.total if state else 0}

    def _begin(self) -> None:
        files, self.state = begin_pass(self.runtime.settings.media_root, self.runtime.index)
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
            self._report(self.state)
            self.arm(Timer.SCAN_STEP, 0)
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
