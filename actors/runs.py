"""What a session knows of its current FFmpeg run, and the session's states."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Mapping

import pykka

from actors.messages import RunKind

# A segment at most this many segments past the one being written is waited for; one
# further ahead starts a new run (a seek) rather than waiting for FFmpeg to get there.
REACH_AHEAD = 3
# Seconds a video run lives at least before a request for another rendition replaces it.
SWITCH_HOLD = 2.0


class SessionState(str, Enum):
    STARTING = "starting"  # a run is starting; its transcoder has not begun
    PLAYING = "playing"
    IDLE = "idle"  # no run: nobody asked for hls.idle_timeout (resumable)


_S = SessionState
TRANSITIONS = {
    _S.STARTING: frozenset({_S.PLAYING, _S.IDLE}),
    _S.PLAYING: frozenset({_S.STARTING, _S.IDLE}),
    _S.IDLE: frozenset({_S.STARTING}),
}


@dataclass
class Run:
    """The current FFmpeg run as the session sees it."""

    id: str
    child_id: str
    profile: str
    start: int
    ref: pykka.ActorRef[Any] | None = None
    ready: dict[int, str] = field(default_factory=dict)
    next: int = 0
    finished: bool = False
    suspended: bool = False
    pid: int | None = None
    kind: RunKind = RunKind.VIDEO

    def reaches_soon(self, number: int) -> bool:
        return self.start <= number <= self.next + REACH_AHEAD and not self.finished

    def restart(self, run_id: str, start: int) -> None:
        """The same run again after its transcoder crashed: a new id, from ``start``."""
        self.id, self.start, self.next = run_id, start, start
        self.ready, self.finished, self.suspended, self.pid = {}, False, False, None

    def should_suspend(self, read_head: int, waiting: bool, pause_ahead: int) -> bool | None:
        """Pacing: True to suspend a run far ahead of the player, False to resume it as
        the player nears (or waits for it), None to leave it as it is."""
        if self.finished:
            return None
        ahead = self.next - read_head
        if not self.suspended and ahead > pause_ahead and not waiting:
            return True
        if self.suspended and (waiting or ahead <= pause_ahead // 2):
            return False
        return None


_NOTHING: Mapping[int, str] = MappingProxyType({})


class ReadyBoard:
    """The segments a session's video run has made, for the web threads to open without
    asking the session (which then hears of the request by a tell). The session is the
    only writer: each change of its run's segments publishes a new frozen copy (a few
    dozen entries, once per segment made); a web thread reads one reference, atomic
    under the GIL. No lock, no message, and no actor state shared."""

    def __init__(self) -> None:
        self._shown: tuple[str | None, Mapping[int, str]] = (None, _NOTHING)

    def show(self, run: Run | None) -> None:
        self._shown = (run.profile, MappingProxyType(dict(run.ready))) if run else (None, _NOTHING)

    def path(self, profile: str, number: int) -> str | None:
        shown, ready = self._shown
        return ready.get(number) if shown == profile else None


@dataclass
class SwitchHold:
    """The bound on switching rendition: a request for another rendition than the video
    run's, less than ``SWITCH_HOLD`` s after that run started, waits for the rest of the
    hold; then the rendition asked for last wins, and the others' requests get a "retry".
    A player toggling quality every segment thus starts at most one FFmpeg per
    ``SWITCH_HOLD`` s, whatever its request rate (a seek is never held)."""

    since: float = field(default_factory=time.monotonic)
    wanted: str | None = None  # the rendition the player asked for last

    def started(self) -> None:
        self.since = time.monotonic()

    def left(self, profile: str, current: str | None) -> float:
        """Seconds a request for ``profile`` must wait while ``current`` runs (0: none)."""
        self.wanted = profile
        if current is None or current == profile:
            return 0.0
        return max(0.0, SWITCH_HOLD - (time.monotonic() - self.since))
