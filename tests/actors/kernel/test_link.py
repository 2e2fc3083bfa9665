"""LinkedActor: one cleanup path, exit notices to the parent, wait_exit, tell_if_alive,
timers named by values, and drain_inbox."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Hashable

import pykka
import pytest

from actors.kernel import (Crash, ExitKind, Link, LinkedActor, Timeout, TimerService, tell_if_alive,
                           wait_exit)
from tests.helpers.kernel import Collector, Finish, Journal, Worker, eventually, wait_dead

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def parent(journal: Journal):
    ref = Collector.start(journal)
    yield ref
    ref.stop()


def start_worker(parent: pykka.ActorRef[Any], journal: Journal, **options: Any) -> pykka.ActorRef[Any]:
    return Worker.start(Link(parent, "w"), journal, **options)


def cleanups(journal: Journal) -> list[ExitKind]:
    return [event[2] for event in journal.events if event[0] == "stop"]


def exits(journal: Journal) -> list[tuple[ExitKind, str]]:
    return [(event[2], event[3]) for event in journal.events if event[0] == "exited"]


def wait_parent_told(journal: Journal) -> None:
    """Until the parent has journaled a ChildExited."""
    journal.wait_for(lambda events: any(e[0] == "exited" for e in events))


# --- one cleanup path ------------------------------------------------------------------

def test_stopped_actor_cleans_up_once_and_tells_its_parent_shutdown(parent, journal):
    ref = start_worker(parent, journal)
    assert ref.ask("ping", timeout=5) == "pong"
    ref.stop(timeout=5)
    assert wait_exit(ref, 5)
    wait_parent_told(journal)
    assert cleanups(journal) == [ExitKind.SHUTDOWN]
    assert [kind for kind, _ in exits(journal)] == [ExitKind.SHUTDOWN]


def test_actor_crashing_in_a_tell_handler_cleans_up_once_and_tells_its_parent_crash(parent, journal):
    ref = start_worker(parent, journal)
    ref.tell(Crash("boom in handler"))
    wait_dead(ref)
    assert wait_exit(ref, 5)
    wait_parent_told(journal)
    assert cleanups(journal) == [ExitKind.CRASH]
    [(kind, detail)] = exits(journal)
    assert kind is ExitKind.CRASH
    assert "InjectedCrash" in detail and "boom in handler" in detail


def test_actor_failing_in_on_start_cleans_up_once_and_tells_its_parent_crash(parent, journal):
    ref = start_worker(parent, journal, fail_start=True)
    wait_dead(ref)
    assert wait_exit(ref, 5)
    wait_parent_told(journal)
    assert journal.count("start", "w") == 1
    assert cleanups(journal) == [ExitKind.CRASH]
    [(kind, detail)] = exits(journal)
    assert kind is ExitKind.CRASH
    assert "refuses to start" in detail


def test_actor_ending_itself_normally_tells_its_parent_normal(parent, journal):
    ref = start_worker(parent, journal)
    ref.tell(Finish())
    wait_dead(ref)
    assert wait_exit(ref, 5)
    wait_parent_told(journal)
    assert cleanups(journal) == [ExitKind.NORMAL]
    assert [kind for kind, _ in exits(journal)] == [ExitKind.NORMAL]


def test_stop_after_a_crash_does_not_run_cleanup_again(parent, journal):
    ref = start_worker(parent, journal)
    ref.tell(Crash())
    assert wait_exit(ref, 5)
    ref.stop(block=False)  # answered "already dead"; no second cleanup
    wait_parent_told(journal)
    assert cleanups(journal) == [ExitKind.CRASH]
    assert len(exits(journal)) == 1


def test_an_error_in_an_ask_goes_to_the_caller_and_the_actor_lives_on(parent, journal):
    ref = start_worker(parent, journal)
    with pytest.raises(Exception, match="asked to crash"):
        ref.ask(Crash("asked to crash"), timeout=5)
    assert ref.ask("ping", timeout=5) == "pong"
    assert cleanups(journal) == []
    ref.stop()
    wait_parent_told(journal)
    assert cleanups(journal) == [ExitKind.SHUTDOWN]


# --- wait_exit ----------------------------------------------------------------------------

@pytest.mark.parametrize("end", ["crash", "stop"])
def test_wait_exit_waits_for_the_cleanup_not_just_the_stopped_flag(parent, journal, end):
    release = threading.Event()
    ref = start_worker(parent, journal, block_cleanup=release)
    if end == "crash":
        ref.tell(Crash())
    else:
        ref.stop(block=False)
    journal.wait_for(lambda events: any(e[0] == "cleanup-begin" for e in events))
    assert ref.actor_stopped.is_set()  # Pykka says "stopped" while the cleanup still runs
    assert wait_exit(ref, 0.2) is False
    assert cleanups(journal) == []
    release.set()
    assert wait_exit(ref, 5) is True
    assert cleanups(journal) == [ExitKind.CRASH if end == "crash" else ExitKind.SHUTDOWN]


def test_wait_exit_of_an_actor_that_is_not_linked_returns_at_once(journal):
    ref = Collector.start(journal)
    try:
        assert wait_exit(ref, 0) is True
    finally:
        ref.stop()


# --- tell_if_alive ------------------------------------------------------------------------

def test_tell_if_alive_delivers_to_a_live_actor_and_drops_for_a_dead_one(parent, journal):
    ref = start_worker(parent, journal)
    assert tell_if_alive(ref, Finish()) is True
    wait_dead(ref)
    assert wait_exit(ref, 5)
    assert tell_if_alive(ref, Finish()) is False
    assert tell_if_alive(ref, Crash()) is False
    assert cleanups(journal) == [ExitKind.NORMAL]


# --- timers named by values ---------------------------------------------------------------

class Phase(Enum):
    IDLE = "idle"
    STALL = "stall"


@dataclass(frozen=True)
class SegmentDue:
    profile: str
    index: int


@dataclass(frozen=True)
class Arm:
    name: Hashable
    delay: float
    payload: Any = None


@dataclass(frozen=True)
class Disarm:
    name: Hashable


@dataclass(frozen=True)
class ArmUntilQueued:
    """Arm ``name`` at 0 s and wait until its Timeout sits in the mailbox; then ``after``."""

    name: Hashable
    after: Callable[[TimerActor], None]


class TimerActor(LinkedActor):
    """Journals every current timeout it gets as ("timeout", name, payload)."""

    def __init__(self, link: Link, timers: TimerService, journal: Journal) -> None:
        super().__init__(link, timers)
        self.service = timers
        self.journal = journal

    def handle(self, message: Any) -> Any:
        match message:
            case Arm(name=name, delay=delay, payload=payload):
                self.arm(name, delay, payload)
            case Disarm(name=name):
                self.disarm(name)
            case ArmUntilQueued(name=name, after=after):
                delivered = self.service.delivered
                self.arm(name, 0.0, payload="stale")
                eventually(lambda: self.service.delivered > delivered)
                after(self)
            case "armed":
                return self.armed()
            case "sync":
                return "synced"
        return None

    def timeout(self, name: Hashable, payload: Any) -> None:
        self.journal.add("timeout", name, payload)


@pytest.fixture
def timer_actor(service, journal):
    ref = TimerActor.start(Link(None, "t"), service, journal)
    yield ref
    ref.stop()


def timeouts(journal: Journal) -> list[tuple[Any, Any]]:
    return [(event[1], event[2]) for event in journal.events if event[0] == "timeout"]


@pytest.mark.parametrize("name", [Phase.IDLE, SegmentDue("720p", 3)], ids=["enum", "dataclass"])
def test_a_timer_named_by_a_value_fires_with_that_value(timer_actor, journal, name):
    timer_actor.tell(Arm(name, 0.01, payload="due"))
    journal.wait_for(lambda events: len(events) == 1)
    [(fired, payload)] = timeouts(journal)
    assert fired == name and type(fired) is type(name)
    assert payload == "due"
    assert timer_actor.ask("armed", timeout=5) == []


def test_an_equal_dataclass_names_the_same_timer(timer_actor, journal):
    timer_actor.tell(Arm(SegmentDue("480p", 7), 0.3, payload="first"))
    timer_actor.tell(Arm(SegmentDue("480p", 8), 0.05, payload="other"))
    assert timer_actor.ask("armed", timeout=5) == sorted(
        [str(SegmentDue("480p", 7)), str(SegmentDue("480p", 8))])
    timer_actor.tell(Disarm(SegmentDue("480p", 7)))  # a new, equal instance
    journal.wait_for(lambda events: len(events) == 1)
    threading.Event().wait(0.4)  # past the first timer's deadline: it must not fire
    assert timer_actor.ask("sync", timeout=5) == "synced"
    assert timeouts(journal) == [(SegmentDue("480p", 8), "other")]


def test_enum_members_are_separate_timers(timer_actor, journal):
    timer_actor.tell(Arm(Phase.IDLE, 0.02, payload="idle"))
    timer_actor.tell(Arm(Phase.STALL, 0.02, payload="stall"))
    timer_actor.tell(Disarm(Phase.IDLE))
    journal.wait_for(lambda events: len(events) == 1)
    threading.Event().wait(0.1)
    assert timer_actor.ask("sync", timeout=5) == "synced"
    assert timeouts(journal) == [(Phase.STALL, "stall")]


@pytest.mark.parametrize("name", [Phase.IDLE, SegmentDue("copy", 0)], ids=["enum", "dataclass"])
def test_a_timeout_already_queued_is_dropped_after_disarm(timer_actor, journal, name):
    timer_actor.tell(ArmUntilQueued(name, lambda actor: actor.disarm(name)))
    assert timer_actor.ask("sync", timeout=5) == "synced"  # the queued Timeout came first
    assert timeouts(journal) == []


@pytest.mark.parametrize("name", [Phase.STALL, SegmentDue("360p", 2)], ids=["enum", "dataclass"])
def test_a_timeout_already_queued_is_dropped_after_rearm(timer_actor, journal, name):
    timer_actor.tell(ArmUntilQueued(name, lambda actor: actor.arm(name, 0.02, payload="current")))
    journal.wait_for(lambda events: len(events) == 1)
    threading.Event().wait(0.1)
    assert timer_actor.ask("sync", timeout=5) == "synced"
    assert timeouts(journal) == [(name, "current")]


def test_a_timeout_of_an_older_generation_is_dropped(timer_actor, journal):
    timer_actor.tell(Arm(Phase.IDLE, 30.0))  # generation 1, far in the future
    timer_actor.tell(Arm(Phase.IDLE, 30.0))  # generation 2
    timer_actor.tell(Timeout(Phase.IDLE, 1, "old"))
    timer_actor.tell(Timeout(Phase.STALL, 1, "never armed"))
    assert timer_actor.ask("sync", timeout=5) == "synced"
    assert timeouts(journal) == []
    timer_actor.tell(Timeout(Phase.IDLE, 2, "current"))
    assert timer_actor.ask("sync", timeout=5) == "synced"
    assert timeouts(journal) == [(Phase.IDLE, "current")]


def test_cleanup_disarms_every_pending_timer(service, journal):
    ref = TimerActor.start(Link(None, "t"), service, journal)
    ref.tell(Arm(Phase.IDLE, 30.0))
    ref.tell(Arm(SegmentDue("720p", 1), 30.0))
    assert len(ref.ask("armed", timeout=5)) == 2
    assert service.pending() == 2
    ref.stop()
    assert wait_exit(ref, 5)
    assert service.pending() == 0


# --- drain_inbox --------------------------------------------------------------------------

@dataclass(frozen=True)
class DrainAfter:
    """Wait for ``release`` (so messages queue up), then take those starting with ``prefix``."""

    release: threading.Event
    prefix: str


class Drainer(LinkedActor):
    def __init__(self, link: Link, journal: Journal) -> None:
        super().__init__(link)
        self.journal = journal

    def handle(self, message: Any) -> Any:
        match message:
            case DrainAfter(release=release, prefix=prefix):
                release.wait(5)
                self.drain_inbox(lambda m: self._take(m, prefix))
                self.journal.add("drained", prefix)
            case str():
                self.journal.add("handled", message)
                return f"answer {message}"
        return None

    def _take(self, message: Any, prefix: str) -> bool:
        if isinstance(message, str) and message.startswith(prefix):
            self.journal.add("taken", message)
            return True
        return False


def test_drain_inbox_takes_only_what_it_is_asked_to_and_keeps_the_order_of_the_rest(journal):
    ref = Drainer.start(Link(None, "d"), journal)
    try:
        release = threading.Event()
        ref.tell(DrainAfter(release, "a"))
        for message in ("a1", "b1", "a2", "b2"):
            ref.tell(message)
        answer = ref.ask("b3", block=False)
        ref.tell("a3")
        release.set()
        assert answer.get(timeout=5) == "answer b3"  # an ask put back is still answered
        assert journal.of("taken") == ["a1", "a2", "a3"]
        assert journal.of("handled") == ["b1", "b2", "b3"]
    finally:
        ref.stop()


def test_drain_inbox_with_nothing_queued_takes_nothing(journal):
    ref = Drainer.start(Link(None, "d"), journal)
    try:
        release = threading.Event()
        release.set()
        ref.tell(DrainAfter(release, ""))  # would take every string, but none is queued
        journal.wait_for(lambda events: ("drained", "") in events)
        assert ref.ask("after", timeout=5) == "answer after"
        assert journal.of("taken") == []
        assert journal.of("handled") == ["after"]
    finally:
        ref.stop()
