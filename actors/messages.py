"""hlsd's own messages (the kernel's are in ``actors.kernel.messages``), and the names of
its timers.

Commands are imperative (``StopRun``), events are past tense (``SegmentReady``). All are
frozen dataclasses: a message is a value, never shared mutable state. Replies that come
later (gen_server's deferred reply) travel as a ``pykka.ThreadingFuture`` inside the
message; the actor ``set()``s it when the answer is known.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import pykka

from actors.media import RenditionKey


# --- timers ----------------------------------------------------------------------------

class Timer(str, Enum):
    """Timers with one instance per actor."""

    IDLE = "idle"  # session: no request for hls.idle_timeout
    EXPIRE = "expire"  # session: idle for hls.resume_window, end for good
    STALL = "stall"  # transcoder: no progress for hls.stall_timeout
    SWEEP = "sweep"  # reaper: the next periodic sweep
    SCAN = "scan"  # scanner: the next library scan
    SCAN_STEP = "scan_step"  # scanner: index the next file of the pass under way
    DEADLINE = "deadline"  # transcoder: a subtitle conversion took too long
    SWITCH = "switch"  # session: the next video run may start (rapid quality switching)


@dataclass(frozen=True)
class SegmentWait:
    """Session timer: requests for segment ``number`` of ``key`` waited long enough."""

    key: RenditionKey
    number: int


@dataclass(frozen=True)
class ScanNow:
    """Scanner: start a library scan now (none starts while one is under way)."""


# --- sessions and transcoders --------------------------------------------------------

@dataclass(frozen=True)
class TranscoderReady:
    """A transcoder (new, or restarted by its supervisor) asks its session where to start."""

    child_id: str
    ref: Any


@dataclass(frozen=True)
class Begin:
    """Session -> transcoder: spawn FFmpeg making ``key`` from ``start_segment`` as ``run``."""

    run: str
    key: RenditionKey
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
    """Transcoder -> session: FFmpeg reached the end of the media (exit status 0), or the
    run failed for good (``error``, for the log: it would fail again, so it is not
    restarted): its recipe was refused, or a subtitle conversion failed."""

    run: str
    error: str | None = None


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
    """Web -> session: reply on ``reply`` with an open file of segment ``number`` of
    ``key`` (the text of a WebVTT segment), or an error."""

    key: RenditionKey
    number: int
    reply: pykka.ThreadingFuture


@dataclass(frozen=True)
class SegmentServed:
    """Web -> session: a web thread served segment ``number`` of ``key`` from the
    session's ``ReadyBoard`` itself; the session counts it as the request it was."""

    key: RenditionKey
    number: int


@dataclass(frozen=True)
class Heartbeat:
    """Web -> session: the player is alive (every request is one)."""

    position: float | None = None
    paused: bool | None = None


@dataclass(frozen=True)
class SegmentStored:
    """To a session watching ``shelf`` (``actors.store.SharedRuns``): another session's
    run stored segment ``number`` of it."""

    shelf: str
    number: int


@dataclass(frozen=True)
class SharedRunsChanged:
    """To a session watching ``shelf``: a run of it that others may wait on ended, moved
    or was suspended; requests that leaned on it look again (or start their own run)."""

    shelf: str


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
