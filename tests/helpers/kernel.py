"""Small real actors and waiting helpers for the kernel's tests."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import pykka

from actors.kernel import Link, LinkedActor
from actors.kernel import NORMAL, Exit
from actors.kernel import ChildSpec, Restart


class Journal:
    """A thread-safe list of events that tests can wait on (condition, not sleeps)."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self._condition = threading.Condition()

    def add(self, *event: Any) -> None:
        with self._condition:
            self.events.append(event)
            self._condition.notify_all()

    def wait_for(self, predicate: Callable[[list[tuple[Any, ...]]], bool], timeout: float = 5.0) -> None:
        with self._condition:
            if not self._condition.wait_for(lambda: predicate(self.events), timeout):
                raise AssertionError(f"timed out waiting; events: {self.events}")

    def count(self, *event: Any) -> int:
        with self._condition:
            return sum(e[: len(event)] == event for e in self.events)

    def of(self, kind: str) -> list[Any]:
        with self._condition:
            return [e[1] for e in self.events if e[0] == kind]


@dataclass(frozen=True)
class Finish:
    """Ask a Worker to end normally."""


@dataclass(frozen=True)
class Hold:
    """Make a Worker block in its handler until the event is set (an unresponsive actor)."""

    release: threading.Event


class Worker(LinkedActor):
    """A test child: journals its starts and cleanups; can fail, finish, hang or block."""

    def __init__(self, link: Link, journal: Journal, fail_start: bool = False,
                 block_cleanup: threading.Event | None = None) -> None:
        super().__init__(link)
        self.journal = journal
        self.fail_start = fail_start
        self.block_cleanup = block_cleanup

    def started(self) -> None:
        self.journal.add("start", self.name)
        if self.fail_start:
            raise RuntimeError(f"{self.name} refuses to start")

    def handle(self, message: Any) -> Any:
        match message:
            case Finish():
                self.exit(NORMAL)
            case Hold(release=release):
                release.wait(10)
            case "ping":
                return "pong"
            case _:
                return super().handle(message)
        return None

    def cleanup(self, exit: Exit) -> None:
        self.journal.add("cleanup-begin", self.name, time.monotonic())
        if self.block_cleanup is not None:
            self.block_cleanup.wait(10)
        self.journal.add("stop", self.name, exit.kind)


def worker_spec(child_id: str, journal: Journal, restart: Restart = Restart.PERMANENT,
                shutdown: float = 2.0, **options: Any) -> ChildSpec:
    return ChildSpec(child_id, lambda link: Worker.start(link, journal, **options),
                     restart=restart, shutdown=shutdown)


def eventually(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Re-evaluate ``check`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        event.wait(interval)


def wait_dead(ref: pykka.ActorRef[Any], timeout: float = 5.0) -> None:
    """Wait until the actor is stopped (its thread may still be finishing its cleanup)."""
    assert ref.actor_stopped.wait(timeout), f"{ref} still alive after {timeout} s"


class Collector(pykka.ThreadingActor):
    """Stands in for the parent of a tree under test: journals the ChildExited it gets."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def on_receive(self, message: Any) -> Any:
        self.journal.add("exited", message.child_id, message.exit.kind, message.exit.detail)
