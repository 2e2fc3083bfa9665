"""Every message hlsd's actors exchange, in one place.

Commands are imperative (``StartChild``), events are past tense (``ChildExited``). All
are frozen dataclasses: a message is a value, never shared mutable state. Replies that
come later (gen_server's deferred reply) travel as a ``pykka.ThreadingFuture`` inside
the message; the actor ``set()``s it when the answer is known.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pykka

if TYPE_CHECKING:
    from actors.supervisor import ChildSpec

ExitKind = Literal["normal", "shutdown", "crash"]


@dataclass(frozen=True)
class Exit:
    """Why an actor ended. Only ``crash`` is abnormal: transient children restart on it."""

    kind: ExitKind
    detail: str = ""

    @property
    def abnormal(self) -> bool:
        return self.kind == "crash"

    @classmethod
    def crash(cls, error: BaseException | str) -> Exit:
        detail = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls("crash", detail)


NORMAL = Exit("normal")
SHUTDOWN = Exit("shutdown")


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
    """A timer armed by an actor went off. Stale generations are dropped by the receiver."""

    name: str
    generation: int
    payload: Any = None


@dataclass(frozen=True)
class Deferred:
    """Wraps a ThreadingFuture so a message can carry a reply to be set later."""

    future: pykka.ThreadingFuture = field(default_factory=pykka.ThreadingFuture)

    def reply(self, value: Any) -> None:
        self.future.set(value)

    def fail(self, error: BaseException) -> None:
        self.future.set_exception((type(error), error, error.__traceback__))
