"""Property: a supervisor driven by random crashes and normal exits follows OTP's rules.

A small model predicts, for every event, whether the child restarts and whether the
supervisor must give up; the real supervisor has to agree at every step. The period is
long, so every restart counts towards the intensity.
"""
from __future__ import annotations

import threading

import pykka
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.kernel import Link
from actors.kernel import Crash, Exit, ExitKind, WhichChildren
from actors.kernel import Restart, Supervisor, SupervisorFlags, restarts_after
from tests.helpers.kernel import Collector, Finish, Journal, eventually, wait_dead, worker_spec

restart_types = st.sampled_from(list(Restart))
events = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["crash", "normal"])), max_size=8)


def running(sup):
    try:
        return {cid: ref for cid, ref, _, _ in sup.ask(WhichChildren(), timeout=2) if ref is not None}
    except pykka.ActorDeadError:
        return None


@pytest.mark.timeout(120)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(types=st.lists(restart_types, min_size=3, max_size=3), intensity=st.integers(0, 3),
       script=events)
def test_supervisor_follows_otp_rules(types, intensity, script):
    threads_before = set(threading.enumerate())
    journal = Journal()
    parent = Collector.start(journal)
    specs = [worker_spec(f"c{i}", journal, restart) for i, restart in enumerate(types)]
    sup = Supervisor.start(Link(parent, "sup"), SupervisorFlags(intensity=intensity, period=3600),
                           tuple(specs))
    try:
        restarts = 0
        alive = eventually(lambda: running(sup) if len(running(sup) or {}) == 3 else None)
        for index, kind in script:
            child_id = f"c{index}"
            if child_id not in alive:
                continue
            old = alive[child_id]
            old.tell(Crash() if kind == "crash" else Finish())
            if not restarts_after(types[index], Exit(ExitKind(kind))):
                alive = eventually(lambda: (r := running(sup)) is not None and child_id not in r and [r])[0]
                assert journal.count("start", child_id) == journal.count("stop", child_id)
                continue
            restarts += 1
            if restarts > intensity:
                wait_dead(sup)
                journal.wait_for(lambda events: any(e[:3] == ("exited", "sup", "gave_up") for e in events))
                break
            alive = eventually(lambda: (r := running(sup)) and child_id in r
                               and r[child_id].actor_urn != old.actor_urn and [r])[0]
            assert sup.is_alive(), "the supervisor died within its intensity"
        assert restarts <= intensity or not sup.is_alive()
        performed = min(restarts, intensity)  # the one past the intensity is never carried out
        assert sum(journal.count("start", f"c{i}") - 1 for i in range(3)) == performed
        for i, restart in enumerate(types):
            if restart is Restart.TEMPORARY:
                assert journal.count("start", f"c{i}") == 1, "a temporary child was restarted"
    finally:
        sup.stop()
        parent.stop()
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(5)
        assert not thread.is_alive(), f"thread {thread.name} outlived the root"
