"""What every actor of one hlsd instance shares, and its wiring (made once, here).

``Runtime.build(settings)`` makes the shared services; ``start()``/``stop()`` run their
threads (the timer service's and the process watcher's) and close the media index.
Each part is thread-safe. The segment store and the runs others may wait on
(``actors.store``) are the node's, shared by every session.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pykka

from actors import ffmpeg
from actors.errors import HlsError
from actors.kernel import TimerService
from actors.media import Plan, Prober, RenditionKey
from actors.media.shelves import shelf
from actors.media.index import MediaIndex
from actors.media.scan import ScanProgress
from actors.metrics import Metrics
from actors.run import ReadyBoard
from actors.settings import Settings
from actors.store import SegmentStore, SharedRuns


@dataclass
class SessionDirectory:
    """Session id -> (ActorRef, Plan, ReadyBoard), for the web threads (like Pykka's
    ActorRegistry: a lock, no messages). A session registers itself when created (a
    restarted one replaces its predecessor) and leaves in its cleanup."""

    _refs: dict[str, tuple[pykka.ActorRef[Any], Plan, ReadyBoard]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, session_id: str, ref: pykka.ActorRef[Any], plan: Plan,
                 board: ReadyBoard | None = None) -> None:
        with self._lock:
            self._refs[session_id] = (ref, plan, board or ReadyBoard())

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

    def ready(self, session_id: str, ref: pykka.ActorRef[Any], key: RenditionKey,
              number: int) -> str | None:
        """The file of a segment the session ``ref`` has made, if it shows one."""
        with self._lock:
            entry = self._refs.get(session_id)
        return entry[2].path(key, number) if entry and entry[0] is ref else None

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
class ScanBoard:
    """The latest progress of the library scan, for the web threads and the log, and
    how many passes have begun (a pass is told apart by its start time)."""

    _latest: ScanProgress | None = None
    _passes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, progress: ScanProgress) -> ScanProgress | None:
        """Keep ``progress``; returns the one it replaces."""
        with self._lock:
            previous, self._latest = self._latest, progress
            if previous is None or previous.started != progress.started:
                self._passes += 1
        return previous

    def latest(self) -> ScanProgress | None:
        with self._lock:
            return self._latest

    def passes(self) -> int:
        with self._lock:
            return self._passes


@dataclass
class Runtime:
    """What every actor of one hlsd instance shares; each part is thread-safe."""

    settings: Settings
    timers: TimerService
    watcher: ffmpeg.ProcessWatcher
    prober: Prober
    directory: SessionDirectory
    live: LiveRuns
    metrics: Metrics
    index: MediaIndex
    scan: ScanBoard
    store: SegmentStore
    shared: SharedRuns
    ffmpeg_version: str  # what an upgrade changes: part of every shelf

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        directory, live = SessionDirectory(), LiveRuns()
        metrics = Metrics(lambda: len(directory), lambda: len(live.runs()), live.pid_count)
        # A corrupt or unreadable index file is rebuilt (or kept in memory), never fatal.
        index = MediaIndex(settings.index_path)
        prober = Prober(settings.ffprobe, index=index, media_root=settings.media_root)
        store = SegmentStore(settings.work_dir / ffmpeg.STORE_DIR, settings.segment_store_bytes)
        version = ffmpeg.ffmpeg_version(settings.ffmpeg) if store.enabled else ""
        return cls(settings, TimerService(), ffmpeg.ProcessWatcher(), prober,
                   directory, live, metrics, index, ScanBoard(), store, SharedRuns(), version)

    def start(self) -> None:
        """The shared threads; the ``Timers`` actor also starts (and owns) the timer thread.
        The segment store reads what an earlier hlsd kept."""
        self.store.rebuild()
        self.timers.start()
        self.watcher.start()

    def shelf(self, plan: Plan, key: RenditionKey) -> str | None:
        """The store's shelf for segments of ``key`` (None without a store, or without a
        recipe: a run of it would be refused)."""
        if not self.store.enabled:
            return None
        try:
            return shelf(plan, key, self.ffmpeg_version)
        except (HlsError, ValueError):
            return None

    def stop(self, timeout: float = 5.0) -> None:
        self.watcher.stop(timeout=timeout)
        self.timers.stop()
        self.index.close()
