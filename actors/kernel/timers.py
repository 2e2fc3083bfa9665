"""Timers: one scheduler thread for the whole system, delivering timeouts as messages.

``TimerService.send_after(ref, message, delay)`` pushes ``(deadline, seq, handle)`` on a
heap; the one thread sleeps on a condition until the earliest deadline and then
``tell``s the message. ``cancel(handle)`` makes a pending timer harmless (lazy deletion:
the heap entry is skipped when it comes up). A message for an actor that has died is
dropped quietly. Deadlines are on ``time.monotonic()``.

The service outlives the ``Timers`` actor that runs it, so a restart of that actor (by
the root supervisor) keeps every pending timer.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pykka

from actors.kernel.link import LinkedActor, tell_if_alive
from actors.kernel.messages import Exit
from actors.kernel.specs import Link

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimerHandle:
    id: int


@dataclass(order=True)
class _Entry:
    deadline: float
    id: int
    ref: pykka.ActorRef[Any] = field(compare=False)
    message: Any = field(compare=False)


class TimerService:
    """Thread-safe: ``send_after`` and ``cancel`` are called from any actor's thread."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._live: set[int] = set()
        self._ids = itertools.count(1)
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running = False
        self.delivered = 0

    def send_after(self, ref: pykka.ActorRef[Any], message: Any, delay: float) -> TimerHandle:
        entry = _Entry(time.monotonic() + max(0.0, delay), next(self._ids), ref, message)
        with self._condition:
            heapq.heappush(self._heap, entry)
            self._live.add(entry.id)
            if self._heap[0] is entry:
                self._condition.notify()
        return TimerHandle(entry.id)

    def cancel(self, handle: TimerHandle) -> bool:
        """True if the timer was still pending (it will now never fire)."""
        with self._condition:
            if handle.id not in self._live:
                return False
            self._live.discard(handle.id)
            return True

    def pending(self) -> int:
        with self._condition:
            return len(self._live)

    def start(self) -> None:
        with self._condition:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._run, name="hlsd-timers", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        with self._condition:
            self._running = False
            self._condition.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("timer thread did not stop within %.1f s", timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            due = self._next_due()
            if due is None:
                return
            self._deliver(due)

    def _next_due(self) -> _Entry | None:
        """Block until a live entry is due (returned) or the service stops (None)."""
        with self._condition:
            while self._running:
                while self._heap and self._heap[0].id not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._condition.wait()
                    continue
                wait = self._heap[0].deadline - time.monotonic()
                if wait <= 0:
                    entry = heapq.heappop(self._heap)
                    self._live.discard(entry.id)
                    return entry
                self._condition.wait(wait)
            return None

    def _deliver(self, entry: _Entry) -> None:
        if tell_if_alive(entry.ref, entry.message):
            self.delivered += 1


class Timers(LinkedActor):
    """Owns the scheduler thread of a ``TimerService``: started with the actor, stopped
    with it. Takes no messages of its own beyond ``Describe``; dies by stopping the thread."""

    kind = "timers"

    def __init__(self, link: Link, service: TimerService) -> None:
        super().__init__(link, service)
        self.service = service

    def started(self) -> None:
        self.service.start()

    def cleanup(self, exit: Exit) -> None:
        self.service.stop()

    def facts(self) -> dict[str, Any]:
        return {"pending": self.service.pending(), "delivered": self.service.delivered}
