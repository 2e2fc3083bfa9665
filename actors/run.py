"""What a session knows of one FFmpeg run, the policy of each kind of run, the session's
states, and the boards the web threads read. Values only: ``actors.runs`` moves them.

Every kind of run lives the same life (start, transcoder ready, segments made, finished
or failed, restarted by the supervisor, ended). What differs between kinds is data, one
``RunPolicy`` each in ``POLICIES``: a new kind of run is one entry there and a recipe in
``actors.media.runs``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Mapping

import pykka

from actors.kernel import Restart
from actors.media import RenditionKey, RunKind

# A segment at most this many segments past the one being written is waited for; one
# further ahead starts a new run (a seek) rather than waiting for FFmpeg to get there.
REACH_AHEAD = 3
# Seconds a video run lives at least before a request for another rendition replaces it.
SWITCH_HOLD = 2.0


@dataclass(frozen=True)
class RunPolicy:
    """How one kind of run is treated.

    ``exclusive``: at most one run of the kind at a time (a player fetches one video
    rendition and one audio track); a new one ends the other. ``restart``: what the
    session's supervisor does when its transcoder crashes (a subtitle conversion that
    failed would fail again). ``paced``: suspended far ahead of the player. ``held``:
    switching to another rendition of the kind is bounded by ``SwitchHold``. ``whole``:
    the run writes one file, cut into segments once it is done; else it lists segments."""

    exclusive: bool
    restart: Restart
    paced: bool
    held: bool = False
    whole: bool = False


POLICIES: Mapping[RunKind, RunPolicy] = MappingProxyType({
    RunKind.VIDEO: RunPolicy(exclusive=True, restart=Restart.TRANSIENT, paced=True, held=True),
    RunKind.AUDIO: RunPolicy(exclusive=True, restart=Restart.TRANSIENT, paced=True),
    RunKind.SUBTITLES: RunPolicy(exclusive=False, restart=Restart.TEMPORARY, paced=False, whole=True),
})


class SessionState(str, Enum):
    STARTING = "starting"  # a video run is starting; its transcoder has not begun
    PLAYING = "playing"
    IDLE = "idle"  # no run: nobody asked for hls.idle_timeout (resumable)


_S = SessionState
TRANSITIONS = {
    _S.STARTING: frozenset({_S.PLAYING, _S.IDLE}),
    _S.PLAYING: frozenset({_S.STARTING, _S.IDLE}),
    _S.IDLE: frozenset({_S.STARTING, _S.PLAYING}),  # playing: served by others' runs
}


@dataclass
class Run:
    """One FFmpeg run as its session sees it: what it makes, from where, and how far."""

    id: str
    child_id: str
    key: RenditionKey
    start: int
    ref: pykka.ActorRef[Any] | None = None
    ready: dict[int, str] = field(default_factory=dict)
    next: int = 0
    finished: bool = False
    suspended: bool = False
    pid: int | None = None
    first_id: str = field(init=False)  # the id before any restart, which restarts extend

    def __post_init__(self) -> None:
        self.next = max(self.next, self.start)
        self.first_id = self.id

    @property
    def policy(self) -> RunPolicy:
        return POLICIES[self.key.kind]

    def reaches_soon(self, number: int) -> bool:
        return self.start <= number <= self.next + REACH_AHEAD and not self.finished

    def serves(self, number: int) -> bool:
        """This run will make segment ``number`` soon (a whole-file run makes them all)."""
        return self.policy.whole or self.reaches_soon(number)

    def restart(self, run_id: str, start: int) -> None:
        """The same run again after its transcoder crashed: a new id, from ``start``."""
        self.id, self.start, self.next = run_id, start, start
        self.ready, self.finished, self.suspended, self.pid = {}, False, False, None

    def should_suspend(self, read_head: int, waiting: bool, pause_ahead: int) -> bool | None:
        """Pacing: True to suspend a run far ahead of the player, False to resume it as
        the player nears (or waits for it), None to leave it as it is."""
        if self.finished or not self.policy.paced:
            return None
        ahead = self.next - read_head
        if not self.suspended and ahead > pause_ahead and not waiting:
            return True
        if self.suspended and (waiting or ahead <= pause_ahead // 2):
            return False
        return None


def describe_child(runs: Mapping[RenditionKey, Run], child_id: str | None) -> str | None:
    """What the run of transcoder ``child_id`` makes, in a person's words."""
    run = next((run for run in runs.values() if run.child_id == child_id), None)
    return run.key.describe() if run is not None else None


def children(runs: Mapping[RenditionKey, Run]) -> list[tuple[str, pykka.ActorRef[Any] | None]]:
    """The tree dump's children: the video transcoder first, then the tracks'."""
    return [("transcoder" if key.kind is RunKind.VIDEO else f"{key.kind.value} {key.name}",
             runs[key].ref) for key in sorted(runs, key=lambda k: k.kind is not RunKind.VIDEO)]


_NOTHING: Mapping[RenditionKey, Mapping[int, str]] = MappingProxyType({})


class ReadyBoard:
    """The segments a session's runs have made, for the web threads to open without
    asking the session (which then hears of the request by a tell). The session is the
    only writer: each change publishes a new frozen copy (a few dozen entries, once per
    segment made); a web thread reads one reference, atomic under the GIL. No lock, no
    message, and no actor state shared."""

    def __init__(self) -> None:
        self._shown = _NOTHING

    def show(self, runs: Mapping[RenditionKey, Run]) -> None:
        self._shown = MappingProxyType({key: MappingProxyType(dict(run.ready))
                                        for key, run in runs.items() if run.ready})

    def path(self, key: RenditionKey, number: int) -> str | None:
        ready = self._shown.get(key)
        return ready.get(number) if ready is not None else None


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

    def left(self, name: str, current: str | None) -> float:
        """Seconds a request for ``name`` must wait while ``current`` runs (0: none)."""
        self.wanted = name
        if current is None or current == name:
            return 0.0
        return max(0.0, SWITCH_HOLD - (time.monotonic() - self.since))
