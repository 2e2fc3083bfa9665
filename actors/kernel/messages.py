"""The kernel's messages: links, supervision, timers, the tree dump, fault injection.

Commands are imperative (``StartChild``), events are past tense (``ChildExited``). All are
frozen dataclasses: a message is a value, never shared mutable state.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Hashable

from actors.kernel.specs import ChildSpec


class ExitKind(str, Enum):
    NORMAL = "normal"
    SHUTDOWN = "shutdown"
    CRASH = "crash"
    # A supervisor whose children kept failing beyond its restart intensity.
    GAVE_UP = "gave_up"


@dataclass(frozen=True)
class Exit:
    """Why an actor ended. ``crash`` and ``gave_up`` are abnormal: transient children
    restart on them. A supervisor that gave up names the child that kept failing."""

    kind: ExitKind
    detail: str = ""
    child: str | None = None

    @property
    def abnormal(self) -> bool:
        return self.kind in (ExitKind.CRASH, ExitKind.GAVE_UP)

    @classmethod
    def crash(cls, error: BaseException | str) -> Exit:
        detail = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(ExitKind.CRASH, detail)

    @classmethod
    def gave_up(cls, detail: str, child: str | None = None) -> Exit:
        return cls(ExitKind.GAVE_UP, detail, child)


NORMAL = Exit(ExitKind.NORMAL)
SHUTDOWN = Exit(ExitKind.SHUTDOWN)


# --- links and supervision -------------------------------------------------------------

@dataclass(frozen=True)
class ChildExited:
    """Sent by a linked actor to its supervisor when its thread has ended, whatever the cause."""

    child_id: str
    urn: str
    exit: Exit


@dataclass(frozen=True)
class StartChild:
    """Ask a supervisor to start (and keep) a new child; the reply is its ActorRef."""

    spec: ChildSpec


@dataclass(frozen=True)
class TerminateChild:
    """Ask a supervisor to stop a child for good (no restart). Reply: True if it was running."""

    child_id: str


@dataclass(frozen=True)
class WhichChildren:
    """Ask a supervisor for ``[(child_id, ActorRef | None, kind, restart)]`` in start order."""


@dataclass(frozen=True)
class CountChildren:
    """Ask a supervisor for ``{"specs", "active", "supervisors", "workers"}``."""


@dataclass(frozen=True)
class RetryRestart:
    """A supervisor's note to itself: start this child again (its last start failed)."""

    child_id: str


@dataclass(frozen=True)
class Describe:
    """Ask any linked actor for its facts, for the tree dump."""


@dataclass(frozen=True)
class Crash:
    """Fault injection: raise inside the receiving actor's handler (it dies as a crash)."""

    reason: str = "injected crash"


# --- timers --------------------------------------------------------------------------

@dataclass(frozen=True)
class Timeout:
    """A timer armed by an actor went off. Stale generations are dropped by the receiver.

    ``name`` is a value (a string, an enum member, a frozen dataclass), never parsed."""

    name: Hashable
    generation: int
    payload: Any = None
