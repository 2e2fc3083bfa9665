"""The supervisor's OTP semantics: strategies, restart types, intensity, shutdown."""
from __future__ import annotations

import threading
import time

import pytest

from actors.kernel import Link
from actors.kernel import (Crash, CountChildren, StartChild, TerminateChild,
                             WhichChildren)
from actors.kernel import (BRUTAL_KILL, ChildSpec, Restart, Strategy, Supervisor,
                               SupervisorFlags)
from tests.helpers.kernel import (Collector, Finish, Journal, eventually, wait_dead,
                                  worker_spec)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def journal():
    return Journal()


@pytest.fixture
def parent(journal):
    ref = Collector.start(journal)
    yield ref
    ref.stop()


def start_supervisor(parent, specs, strategy=Strategy.ONE_FOR_ONE, intensity=3, period=60.0,
                     name="sup"):
    flags = SupervisorFlags(strategy, intensity, period)
    return Supervisor.start(Link(parent, name), flags, tuple(specs))


def refs(sup):
    return {child_id: ref for child_id, ref, _, _ in sup.ask(WhichChildren())}


def crash(sup, child_id):
    refs(sup)[child_id].tell(Crash())


def started_again(journal, child_id, times):
    journal.wait_for(lambda events: sum(e[:2] == ("start", child_id) for e in events) >= times)


def test_children_start_in_order_and_stop_in_reverse(parent, journal):
    sup = start_supervisor(parent, [worker_spec(n, journal) for n in "abc"])
    journal.wait_for(lambda events: len(events) >= 3)
    sup.stop()
    assert journal.of("start") == ["a", "b", "c"]
    assert journal.of("stop") == ["c", "b", "a"]
    journal.wait_for(lambda events: ("exited", "sup", "shutdown", "") in events)


def test_one_for_one_restarts_only_the_failed_child(parent, journal):
    sup = start_supervisor(parent, [worker_spec(n, journal) for n in "abc"])
    before = refs(sup)
    crash(sup, "b")
    started_again(journal, "b", 2)
    after = eventually(lambda: (r := refs(sup))["b"] is not None and r)
    assert after["a"] is before["a"] and after["c"] is before["c"]
    assert after["b"].actor_urn != before["b"].actor_urn
    assert journal.of("stop") == ["b"]
    sup.stop()


def test_one_for_all_restarts_every_child_in_order(parent, journal):
    sup = start_supervisor(parent, [worker_spec(n, journal) for n in "abc"], Strategy.ONE_FOR_ALL)
    crash(sup, "b")
    journal.wait_for(lambda events: len([e for e in events if e[0] == "start"]) == 6)
    assert journal.of("start") == ["a", "b", "c", "a", "b", "c"]
    assert journal.of("stop") == ["b", "c", "a"]
    sup.stop()


def test_rest_for_one_restarts_the_failed_child_and_those_started_after_it(parent, journal):
    sup = start_supervisor(parent, [worker_spec(n, journal) for n in "abc"], Strategy.REST_FOR_ONE)
    crash(sup, "b")
    journal.wait_for(lambda events: len([e for e in events if e[0] == "start"]) == 5)
    assert journal.of("start") == ["a", "b", "c", "b", "c"]
    assert journal.of("stop") == ["b", "c"]
    sup.stop()


@pytest.mark.parametrize("restart, finish, restarted", [
    (Restart.PERMANENT, "normal", True),
    (Restart.PERMANENT, "crash", True),
    (Restart.TRANSIENT, "normal", False),
    (Restart.TRANSIENT, "crash", True),
    (Restart.TEMPORARY, "normal", False),
    (Restart.TEMPORARY, "crash", False),
])
def test_restart_types(parent, journal, restart, finish, restarted):
    sup = start_supervisor(parent, [worker_spec("w", journal, restart)])
    refs(sup)["w"].tell(Finish() if finish == "normal" else Crash())
    journal.wait_for(lambda events: ("stop", "w", finish) in events)
    if restarted:
        started_again(journal, "w", 2)
        assert eventually(lambda: refs(sup).get("w"))
    else:
        expected = {} if restart is Restart.TEMPORARY else {"w": None}
        eventually(lambda: refs(sup) == expected)
        assert journal.count("start", "w") == 1
    sup.stop()


def test_intensity_exceeded_stops_children_and_escalates(parent, journal):
    sup = start_supervisor(parent, [worker_spec(n, journal) for n in "ab"], intensity=2)
    for round_ in range(2):
        crash(sup, "a")
        started_again(journal, "a", round_ + 2)
        eventually(lambda: refs(sup)["a"] is not None)
    crash(sup, "a")
    wait_dead(sup)
    journal.wait_for(lambda events: any(e[:3] == ("exited", "sup", "gave_up") for e in events))
    detail = [e for e in journal.events if e[0] == "exited"][0][3]
    assert "max restart intensity 2/60s" in detail
    assert journal.count("stop", "b") == 1
    assert journal.count("start", "a") == 3


def test_restarts_older_than_the_period_do_not_count(parent, journal):
    sup = start_supervisor(parent, [worker_spec("a", journal)], intensity=1, period=0.3)
    crash(sup, "a")
    started_again(journal, "a", 2)
    eventually(lambda: refs(sup)["a"] is not None)
    threading.Event().wait(0.4)
    crash(sup, "a")
    started_again(journal, "a", 3)
    assert sup.is_alive()
    sup.stop()


def test_escalation_through_two_levels(parent, journal):
    inner_spec = ChildSpec(
        "inner",
        lambda link: Supervisor.start(link, SupervisorFlags(intensity=1), (worker_spec("w", journal),)),
        kind="supervisor")
    root = start_supervisor(parent, [worker_spec("sibling", journal), inner_spec], intensity=0,
                            name="root")
    inner = refs(root)["inner"]
    eventually(lambda: refs(inner).get("w"))
    crash(inner, "w")
    started_again(journal, "w", 2)
    eventually(lambda: refs(inner)["w"] is not None)
    crash(inner, "w")
    wait_dead(root)
    journal.wait_for(lambda events: any(e[:3] == ("exited", "root", "gave_up") for e in events))
    assert journal.count("stop", "sibling") == 1
    assert journal.count("stop", "w") == 2


def test_a_child_failing_in_on_start_is_restarted_until_intensity_is_exceeded(parent, journal):
    sup = start_supervisor(parent, [], intensity=3)
    sup.ask(StartChild(worker_spec("bad", journal, fail_start=True)))
    wait_dead(sup)
    assert journal.count("start", "bad") == 4
    assert journal.count("stop", "bad") == 4


def test_a_start_function_that_raises_is_reported_to_the_caller(parent, journal):
    sup = start_supervisor(parent, [], Strategy.DYNAMIC)

    def broken(link):
        raise OSError("cannot start")

    with pytest.raises(OSError, match="cannot start"):
        sup.ask(StartChild(ChildSpec("x", broken)))
    assert sup.ask(CountChildren())["specs"] == 0
    sup.stop()


def test_a_static_supervisor_whose_child_cannot_start_stops_the_others(parent, journal):
    def broken(link):
        raise OSError("cannot start")

    sup = start_supervisor(parent, [worker_spec("a", journal), ChildSpec("b", broken)])
    wait_dead(sup)
    journal.wait_for(lambda events: ("stop", "a", "shutdown") in events)
    journal.wait_for(lambda events: any(e[:3] == ("exited", "sup", "crash") for e in events))


def test_child_spec_validation_names_the_field():
    with pytest.raises(ValueError, match="id must be"):
        ChildSpec("", lambda link: None)
    with pytest.raises(ValueError, match="shutdown"):
        ChildSpec("a", lambda link: None, shutdown=-1)
    with pytest.raises(ValueError, match="restart"):
        ChildSpec("a", lambda link: None, restart="always")
    with pytest.raises(ValueError, match="intensity"):
        SupervisorFlags(intensity=-1)


def test_shutdown_timeout_kills_a_child_blocked_in_cleanup(parent, journal):
    release = threading.Event()
    sup = start_supervisor(parent, [worker_spec("slow", journal, shutdown=0.3, block_cleanup=release)])
    began = time.monotonic()
    sup.stop()
    waited = time.monotonic() - began
    assert 0.3 <= waited < 3.0
    assert journal.count("stop", "slow") == 0, "the supervisor did not wait for the blocked cleanup"
    release.set()
    journal.wait_for(lambda events: ("stop", "slow", "shutdown") in events)


def test_brutal_kill_does_not_wait_for_the_child(parent, journal):
    release = threading.Event()
    sup = start_supervisor(parent, [worker_spec("slow", journal, shutdown=BRUTAL_KILL,
                                                block_cleanup=release)])
    sup.stop()
    assert journal.count("stop", "slow") == 0, "the supervisor returned while cleanup was blocked"
    release.set()
    journal.wait_for(lambda events: any(e[:2] == ("stop", "slow") for e in events))
    assert journal.count("stop", "slow") == 1, "cleanup runs exactly once"


def test_dynamic_children_are_added_counted_terminated_and_stopped_in_parallel(parent, journal):
    sup = start_supervisor(parent, [], Strategy.DYNAMIC)
    release = threading.Event()
    for n in range(5):
        sup.ask(StartChild(worker_spec(f"c{n}", journal, Restart.TEMPORARY, block_cleanup=release)))
    with pytest.raises(ValueError, match="already exists"):
        sup.ask(StartChild(worker_spec("c0", journal)))
    assert sup.ask(CountChildren()) == {"specs": 5, "active": 5, "supervisors": 0, "workers": 5}
    release.set()
    assert sup.ask(TerminateChild("c0")) is True
    assert sup.ask(TerminateChild("nope")) is False
    assert [c[0] for c in sup.ask(WhichChildren())] == ["c1", "c2", "c3", "c4"]
    release.clear()
    stopping = threading.Thread(target=sup.stop)
    stopping.start()
    journal.wait_for(lambda events: len([e for e in events if e[0] == "cleanup-begin"]) == 5)
    assert journal.count("stop") == 1, "all four cleanups began before any of them ended"
    release.set()
    stopping.join(5)
    assert not stopping.is_alive()
    assert journal.count("stop") == 5


def test_a_crashed_supervisor_is_restarted_with_fresh_children(parent, journal):
    inner_spec = ChildSpec(
        "inner",
        lambda link: Supervisor.start(link, SupervisorFlags(), (worker_spec("w", journal),)),
        kind="supervisor")
    root = start_supervisor(parent, [inner_spec], name="root")
    first = refs(root)["inner"]
    first.tell(Crash("injected into a supervisor"))
    journal.wait_for(lambda events: ("stop", "w", "shutdown") in events)
    started_again(journal, "w", 2)
    second = eventually(lambda: refs(root)["inner"])
    assert second.actor_urn != first.actor_urn
    assert root.ask(CountChildren())["active"] == 1
    root.stop()


def test_stopping_waits_for_the_cleanup_of_a_child_that_is_already_crashing(parent, journal):
    release = threading.Event()
    sup = start_supervisor(parent, [worker_spec("dying", journal, shutdown=5, block_cleanup=release)])
    refs(sup)["dying"].tell(Crash())
    journal.wait_for(lambda events: any(e[:2] == ("cleanup-begin", "dying") for e in events))
    stopped = threading.Event()
    stopper = threading.Thread(target=lambda: (sup.stop(), stopped.set()))
    stopper.start()
    assert not stopped.wait(0.3), "the supervisor returned while its child was still cleaning up"
    release.set()
    stopper.join(5)
    assert stopped.is_set()
    assert journal.count("stop", "dying", "crash") == 1
