"""The timer service: one thread, ordered delivery, cancel, re-arm by generation, dead targets."""
from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest

from actors.kernel import Link, LinkedActor
from actors.kernel import TimerService, Timers
from tests.helpers.kernel import Journal

pytestmark = pytest.mark.timeout(20)


class Recorder(pykka.ThreadingActor):
    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def on_receive(self, message: Any) -> Any:
        self.journal.add("got", message)


class Rearmer(LinkedActor):
    """Arms timer 'idle' and re-arms it while the first Timeout already sits in its mailbox."""

    def __init__(self, link: Link, timers: TimerService, journal: Journal) -> None:
        super().__init__(link, timers)
        self.journal = journal

    def handle(self, message: Any) -> Any:
        match message:
            case ("arm", delay):
                self.arm("idle", delay, payload=delay)
            case ("arm-then-rearm", delivered):
                self.arm("idle", 0.0, payload="stale")
                delivered.wait(5)
                self.arm("idle", 0.05, payload="current")
            case ("disarm",):
                self.disarm("idle")
            case "sync":
                return "synced"
        return None

    def timeout(self, name: str, payload: Any) -> None:
        self.journal.add("timeout", payload)


@pytest.fixture
def recorder():
    journal = Journal()
    ref = Recorder.start(journal)
    yield ref, journal
    ref.stop()


def test_messages_arrive_in_deadline_order(service, recorder):
    ref, journal = recorder
    for delay, label in [(0.15, "c"), (0.05, "a"), (0.1, "b")]:
        service.send_after(ref, label, delay)
    journal.wait_for(lambda events: len(events) == 3)
    assert journal.of("got") == ["a", "b", "c"]
    assert service.pending() == 0


def test_a_cancelled_timer_never_fires(service, recorder):
    ref, journal = recorder
    handle = service.send_after(ref, "cancelled", 0.05)
    assert service.cancel(handle) is True
    service.send_after(ref, "sentinel", 0.1)
    journal.wait_for(lambda events: ("got", "sentinel") in events)
    assert journal.of("got") == ["sentinel"]
    assert service.cancel(handle) is False


def test_a_message_for_a_dead_actor_is_dropped_and_the_service_goes_on(service, recorder):
    ref, journal = recorder
    dead = Recorder.start(Journal())
    dead.stop()
    service.send_after(dead, "lost", 0.0)
    service.send_after(ref, "after", 0.05)
    journal.wait_for(lambda events: ("got", "after") in events)


def test_one_thread_serves_a_thousand_timers(service, recorder):
    ref, journal = recorder
    threads = threading.active_count()
    handles = [service.send_after(ref, n, 30.0) for n in range(1000)]
    assert threading.active_count() == threads
    assert service.pending() == 1000
    for handle in handles:
        service.cancel(handle)
    assert service.pending() == 0


def test_rearming_makes_the_old_timer_harmless(service):
    journal = Journal()
    actor = Rearmer.start(Link(None, "rearmer"), service, journal)
    actor.tell(("arm", 0.05))
    actor.tell(("arm", 0.1))
    journal.wait_for(lambda events: len(events) >= 1)
    actor.ask("sync")
    assert journal.of("timeout") == [0.1]
    actor.stop()


def test_a_stale_timeout_already_in_the_mailbox_is_dropped(service):
    journal = Journal()
    delivered = threading.Event()
    actor = Rearmer.start(Link(None, "rearmer"), service, journal)
    before = service.delivered
    watcher = threading.Thread(target=lambda: _wait_delivered(service, before, delivered))
    watcher.start()
    actor.tell(("arm-then-rearm", delivered))
    journal.wait_for(lambda events: len(events) >= 1)
    watcher.join(5)
    assert journal.of("timeout") == ["current"]
    actor.stop()


def _wait_delivered(service: TimerService, before: int, delivered: threading.Event) -> None:
    stop = threading.Event()
    while service.delivered == before and not stop.wait(0.005):
        pass
    delivered.set()


def test_disarm_cancels(service):
    journal = Journal()
    actor = Rearmer.start(Link(None, "rearmer"), service, journal)
    actor.tell(("arm", 0.05))
    actor.tell(("disarm",))
    actor.ask("sync")
    threading.Event().wait(0.15)
    assert journal.events == []
    assert service.pending() == 0
    actor.stop()


def test_the_timers_actor_runs_the_thread_and_a_restart_keeps_pending_timers(recorder):
    ref, journal = recorder
    service = TimerService()
    first = Timers.start(Link(None, "timers"), service)
    service.send_after(ref, "survives", 0.2)
    first.stop()
    assert service.pending() == 1
    second = Timers.start(Link(None, "timers"), service)
    journal.wait_for(lambda events: ("got", "survives") in events)
    second.stop()
