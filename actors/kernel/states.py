"""A state machine with guarded transitions, for an actor's own state (its thread only)."""
from __future__ import annotations

from enum import Enum
from typing import Generic, Mapping, TypeVar

S = TypeVar("S", bound=Enum)


class IllegalTransition(RuntimeError):
    """A transition the machine's table does not allow: a bug, so it crashes the actor."""


class StateMachine(Generic[S]):
    """``state`` moves only along ``allowed``; staying in the same state is always allowed."""

    def __init__(self, initial: S, allowed: Mapping[S, frozenset[S]]) -> None:
        self._state = initial
        self._allowed = allowed

    @property
    def state(self) -> S:
        return self._state

    def to(self, new: S) -> None:
        if new is not self._state and new not in self._allowed.get(self._state, frozenset()):
            raise IllegalTransition(f"{self._state.value} -> {new.value} is not allowed")
        self._state = new
