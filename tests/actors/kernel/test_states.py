"""StateMachine: moves only along its table; staying put is always allowed."""
from __future__ import annotations

from enum import Enum

import pytest

from actors.kernel import IllegalTransition, StateMachine

pytestmark = pytest.mark.timeout(10)


class Run(Enum):
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


TABLE = {
    Run.STARTING: frozenset({Run.RUNNING, Run.STOPPED}),
    Run.RUNNING: frozenset({Run.PAUSED, Run.STOPPED}),
    Run.PAUSED: frozenset({Run.RUNNING, Run.STOPPED}),
}


def machine() -> StateMachine[Run]:
    return StateMachine(Run.STARTING, TABLE)


def test_starts_in_its_initial_state():
    assert machine().state is Run.STARTING


def test_follows_allowed_transitions():
    states = machine()
    for step in (Run.RUNNING, Run.PAUSED, Run.RUNNING, Run.STOPPED):
        states.to(step)
        assert states.state is step


@pytest.mark.parametrize("state", list(Run))
def test_staying_in_the_same_state_is_always_allowed(state):
    states = StateMachine(state, TABLE)
    states.to(state)
    assert states.state is state


@pytest.mark.parametrize("start, target", [
    (start, target) for start in Run for target in Run
    if target is not start and target not in TABLE.get(start, frozenset())
])
def test_a_transition_outside_the_table_raises_and_leaves_the_state_alone(start, target):
    states = StateMachine(start, TABLE)
    with pytest.raises(IllegalTransition, match=f"{start.value} -> {target.value}"):
        states.to(target)
    assert states.state is start


def test_a_state_missing_from_the_table_is_terminal():
    states = machine()
    states.to(Run.STOPPED)
    for target in (Run.STARTING, Run.RUNNING, Run.PAUSED):
        with pytest.raises(IllegalTransition):
            states.to(target)
    assert states.state is Run.STOPPED


def test_machines_do_not_share_state():
    first, second = machine(), machine()
    first.to(Run.RUNNING)
    assert second.state is Run.STARTING
