"""Fifty sessions, each with a running FFmpeg, stopped at once: by their clients all
together, or by a crash of the supervisor that holds them all."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults.invariants import (
    assert_invariants,
    pinned,
    tagged_processes,
    take_baseline,
)
from tests.faults.players import (
    first_request,
    InProcessClient,
    gone,
    plays_normally,
    session_state,
    wait_for,
)
from tests.faults.scenarios import CLIP, PROFILE
from tests.helpers.procs import wait_all_exited

pytestmark = pytest.mark.timeout(180)

SESSIONS = 50
# Stopping 50 FFmpeg at once on two busy cores: kill_grace + 1 s, and some room for the load.
STOP_BOUND_SLACK = 2.0


@pytest.mark.parametrize("how", ["by their clients at once", "by crash_supervisor"])
def test_fifty_sessions_stopped_at_once_leave_nothing(start_hlsd, tmp_path, how):
    system = start_hlsd(segment_store_bytes=0)  # no sharing: fifty sessions, fifty FFmpeg
    baseline = take_baseline(system)
    client = InProcessClient(system)
    sessions = [client.open("tiny.mp4", "copy").json()["id"] for _ in range(SESSIONS)]
    for session in sessions:
        first_request(client, session)  # lazy start: FFmpeg starts at the first segment request
    pids = [wait_for(lambda s=s: (session_state(client, s) or {}).get("transcoder_pid"), 20,
                     f"FFmpeg of {s}") for s in sessions]
    work = system.settings.work_dir
    assert len(tagged_processes(work, os.getpid())) == SESSIONS
    bound = system.settings.kill_grace + 1 + STOP_BOUND_SLACK

    with pinned(pids) as pidfds:
        if how == "by crash_supervisor":
            assert client.fault("crash_supervisor").ok
            assert wait_all_exited(pidfds, bound) is not None, "an FFmpeg outlived its session"
            for session in sessions:
                gone(client, session, timeout=5)
            wait_for(lambda: system.operators.tree()["total_restarts"] == 1, 5, "sessions supervisor restarted")
        else:
            with ThreadPoolExecutor(SESSIONS) as pool:
                answers = list(pool.map(client.stop, sessions))
            assert all(answer.ok for answer in answers), [a for a in answers if not a.ok][:3]
            slowest = max(answer.elapsed for answer in answers)
            assert slowest <= bound, f"the slowest stop took {slowest:.2f} s"
            assert wait_all_exited(pidfds, 0) is not None, "a stop answered before its FFmpeg was gone"

    plays_normally(client, CLIP, PROFILE, tmp_path)
    assert_invariants(system, work, baseline)
