"""Every message hlsd's actors exchange, in one place.

Commands are imperative (``StartChild``), events are past tense (``ChildExited``). All
are frozen dataclasses: a message is a value, never shared mutable state. Replies that
come later (gen_server's deferred reply) travel as a ``pykka.ThreadingFuture`` inside
the message; the actor ``set()``s it when the answer is known.
"""
from __future__ import annotations

from dataclasses import dataclass
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


# --- sessions and transcoders --------------------------------------------------------

@dataclass(frozen=True)
class TranscoderReady:
    """A transcoder (new, or restarted by its supervisor) asks its session where to start."""

    child_id: str
    ref: Any


@dataclass(frozen=True)
class Begin:
    """Session -> transcoder: spawn FFmpeg for ``profile`` from ``start_segment`` as ``run``."""

    run: str
    profile: str
    start_segment: int


@dataclass(frozen=True)
class FfmpegStarted:
    """Transcoder -> session: FFmpeg of ``run`` is running as ``pid``."""

    run: str
    pid: int


@dataclass(frozen=True)
class SegmentReady:
    """Transcoder -> session: segment ``number`` of ``run`` is complete on disk at ``path``."""

    run: str
    number: int
    path: str


@dataclass(frozen=True)
class RunFinished:
    """Transcoder -> session: FFmpeg reached the end of the media (exit status 0)."""

    run: str


@dataclass(frozen=True)
class StopRun:
    """Session -> transcoder: stop FFmpeg, delete the run's files, and end (normally)."""


@dataclass(frozen=True)
class Suspend:
    """Session -> transcoder: the player is far behind; SIGSTOP FFmpeg (not a stall)."""


@dataclass(frozen=True)
class Resume:
    """Session -> transcoder: the player caught up; SIGCONT FFmpeg."""


@dataclass(frozen=True)
class SignalFfmpeg:
    """Fault injection: send ``signal`` to FFmpeg. Reply: what was done."""

    signal: int


@dataclass(frozen=True)
class RequestSegment:
    """Web -> session: reply on ``reply`` with an open file of the segment, or an error."""

    profile: str
    number: int
    reply: pykka.ThreadingFuture


@dataclass(frozen=True)
class Heartbeat:
    """Web -> session: the player is alive (every request is one)."""

    position: float | None = None
    paused: bool | None = None


@dataclass(frozen=True)
class StopSession:
    """Web -> session: end for good; ``reply`` is set once FFmpeg is gone and files deleted."""

    cause: str
    reply: pykka.ThreadingFuture


@dataclass(frozen=True)
class GetState:
    """Ask a session for its JSON state."""


@dataclass(frozen=True)
class InjectFault:
    """Fault injection on a session: ``fault`` is one of SPEC's names. Reply: what was done."""

    fault: str
