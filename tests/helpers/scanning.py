"""The scanner actor under a real supervisor, on a running Runtime, as the root runs it."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka

from actors.kernel import (
    ChildSpec,
    Describe,
    Link,
    Supervisor,
    SupervisorFlags,
    WhichChildren,
)
from actors.runtime import Runtime
from actors.scanner import Scanner
from tests.helpers.kernel import eventually
from tests.helpers.runtime import running_runtime

PASS_TIMEOUT = 30.0


class Scanned:
    """A scanner under a one_for_one supervisor, on a running Runtime; ``log``: where a
    counting ffprobe writes its runs, if one is used."""

    def __init__(self, runtime: Runtime, log: Path | None = None,
                 pass_timeout: float = PASS_TIMEOUT) -> None:
        self.runtime, self.log, self.pass_timeout = runtime, log, pass_timeout
        spec = ChildSpec("scanner", lambda link: Scanner.start(link, runtime), shutdown=35.0)
        self.supervisor = Supervisor.start(Link(None, "root"), SupervisorFlags(intensity=3),
                                           (spec,))

    def scanner(self) -> pykka.ActorRef[Any]:
        ((_, ref, _, _),) = self.supervisor.ask(WhichChildren(), timeout=5)
        return ref

    def facts(self) -> dict[str, Any]:
        return self.scanner().ask(Describe(), timeout=5)

    def passes_finished(self, count: int) -> Any:
        """Waits until ``count`` passes have begun and the latest has finished."""
        board = self.runtime.scan
        return eventually(lambda: board.passes() >= count and board.latest().finished
                          and board.latest(), timeout=self.pass_timeout)

    def probes(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log and self.log.exists() else []


@contextlib.contextmanager
def scanners(library: Path, work_dir: Path, build: Callable[[Runtime], Scanned] = Scanned,
             **defaults: Any) -> Iterator[Callable[..., Scanned]]:
    """``start(**overrides)`` makes a scanner (``build``) on a runtime of its own with these
    settings over ``defaults``; every one is stopped, and its runtime, when the block ends."""
    started: list[tuple[Scanned, Any]] = []

    def start(**overrides: Any) -> Scanned:
        context = running_runtime(library, work_dir, **{**defaults, **overrides})
        world = build(context.__enter__())
        started.append((world, context))
        return world

    try:
        yield start
    finally:
        for world, context in started:
            world.supervisor.stop(timeout=40)
            context.__exit__(None, None, None)
