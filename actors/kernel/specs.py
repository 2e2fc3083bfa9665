"""Links, child specs and supervisor flags: frozen values, validated once, defaults
declared once."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Literal

import pykka

BRUTAL_KILL = 0.0


class Restart(str, Enum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class Strategy(str, Enum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"
    DYNAMIC = "dynamic"


@dataclass(frozen=True)
class Link:
    """Who to notify when an actor ends, and under which child id."""

    parent: pykka.ActorRef[Any] | None
    child_id: str


StartFunction = Callable[[Link], pykka.ActorRef[Any]]


@dataclass(frozen=True)
class ChildSpec:
    """How to start one child and what to do when it ends. Validated on creation."""

    id: str
    start: StartFunction
    restart: Restart = Restart.PERMANENT
    shutdown: float = 5.0
    kind: Literal["worker", "supervisor"] = "worker"

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"child spec {self.id!r}: id must be a non-empty string")
        if not callable(self.start):
            raise ValueError(f"child spec {self.id!r}: start must be callable")
        if not isinstance(self.restart, Restart):
            raise ValueError(f"child spec {self.id!r}: restart must be a Restart, not {self.restart!r}")
        if not isinstance(self.shutdown, (int, float)) or self.shutdown < 0:
            raise ValueError(f"child spec {self.id!r}: shutdown must be seconds >= 0")
        if self.kind not in ("worker", "supervisor"):
            raise ValueError(f"child spec {self.id!r}: kind must be worker or supervisor")


@dataclass(frozen=True)
class SupervisorFlags:
    """OTP's defaults: one_for_one, at most 1 restart in 5 s."""

    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = 1
    period: float = 5.0

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, Strategy):
            raise ValueError(f"supervisor flags: strategy must be a Strategy, not {self.strategy!r}")
        if not isinstance(self.intensity, int) or self.intensity < 0:
            raise ValueError("supervisor flags: intensity must be a whole number >= 0")
        if not self.period > 0:
            raise ValueError("supervisor flags: period must be > 0 seconds")
