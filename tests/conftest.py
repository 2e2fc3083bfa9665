"""Fixtures shared by every suite. After each test: no new Pykka actor, no new thread."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import psutil

import pykka
import pytest

from tests.helpers.procs import (ProcessLedger, own_children, reap_adopted,
                                 set_child_subreaper)

LEAK_GRACE = 5.0


@pytest.fixture(autouse=True)
def no_leaked_actors_or_threads():
    """Fails a test that leaves an actor or a thread behind (joined with a deadline first)."""
    threads_before = set(threading.enumerate())
    actors_before = {ref.actor_urn for ref in pykka.ActorRegistry.get_all()}
    yield
    deadline = time.monotonic() + LEAK_GRACE
    new_actors = []
    while time.monotonic() < deadline:
        new_actors = [r for r in pykka.ActorRegistry.get_all() if r.actor_urn not in actors_before]
        if not new_actors:
            break
        new_actors[0].actor_stopped.wait(0.05)
    extra = [t for t in threading.enumerate() if t not in threads_before]
    for thread in extra:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in extra if t.is_alive()]
    for ref in new_actors:
        ref.stop(block=False)
    assert not new_actors, f"actors left alive: {new_actors}"
    assert not alive, f"threads left running: {alive}"


@pytest.fixture(autouse=True)
def quiet_expected_crash_logs(caplog):
    """Crashes are the point of many tests; keep their tracebacks at DEBUG in the report."""
    caplog.set_level(logging.INFO)
    yield


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[ProcessLedger]:
    """This test's processes and work dir; afterwards, asserts none is left running.

    The test process becomes a child subreaper, so orphaned grandchildren come back to it
    and are reaped (pid 1 in this sandbox never reaps them)."""
    children_before = own_children()
    set_child_subreaper(True)
    ledger = ProcessLedger(tmp_path / "work", f"test-{uuid.uuid4().hex[:10]}")
    yield ledger
    leftovers = ledger.leftovers()
    running = [pid for pid, status in own_children().items()
               if pid not in children_before and status != psutil.STATUS_ZOMBIE]
    ledger.kill_everything()
    reap_adopted(set(own_children()) - set(children_before))
    set_child_subreaper(False)
    assert not leftovers, leftovers
    assert not running, f"child processes left running: {running}"
