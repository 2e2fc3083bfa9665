"""The tree dump of a live tree, including an actor too busy to answer."""
from __future__ import annotations

import json
import threading

import pytest

from actors.kernel import Link
from actors.kernel import StartChild, WhichChildren
from actors.kernel import ChildSpec, Strategy, Supervisor, SupervisorFlags
from actors.kernel import TimerService, Timers
from actors.kernel import human_duration, render_text, snapshot
from tests.helpers.kernel import Hold, Journal, worker_spec

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def tree():
    journal = Journal()
    service = TimerService()
    sessions = ChildSpec("sessions", lambda link: Supervisor.start(
        link, SupervisorFlags(Strategy.DYNAMIC)), kind="supervisor")
    timers = ChildSpec("timers", lambda link: Timers.start(link, service))
    root = Supervisor.start(Link(None, "root"), SupervisorFlags(intensity=5, period=60),
                            (timers, sessions))
    yield root, journal
    root.stop()


def test_snapshot_of_a_live_tree(tree):
    root, journal = tree
    node = snapshot(root)
    sessions_ref = [c for c in node["children"] if c["name"] == "sessions"]
    assert node["kind"] == "supervisor" and node["strategy"] == "one_for_one"
    assert [c["name"] for c in node["children"]] == ["timers", "sessions"]
    assert sessions_ref[0]["strategy"] == "dynamic"
    assert node["children"][0]["pending"] == 0
    json.dumps(node)


def test_text_form_and_an_unresponsive_actor(tree):
    root, journal = tree
    sessions = [ref for cid, ref, _, _ in root.ask(WhichChildren()) if cid == "sessions"][0]
    busy = sessions.ask(StartChild(worker_spec("busy", journal)))
    sessions.ask(StartChild(worker_spec("idle", journal)))
    release = threading.Event()
    busy.tell(Hold(release))
    busy.tell("queued")
    try:
        text = render_text(snapshot(root, timeout=0.2))
        assert not release.is_set()
    finally:
        release.set()
    lines = text.splitlines()
    assert lines[0].startswith("root  supervisor one_for_one  restarts 0/5 in 60s  up ")
    assert lines[1] == "├─ timers  alive  pending 0"
    assert lines[2] == "└─ sessions  supervisor dynamic  children 2"
    # "queued" and the Describe that timed out are both still waiting
    assert lines[3] == "   ├─ busy  unresponsive  mailbox 2"
    assert lines[4] == "   └─ idle  alive  mailbox 0"


@pytest.mark.parametrize("seconds, text", [(4.2, "4s"), (725, "12m05s"), (7380, "2h03m")])
def test_human_durations(seconds, text):
    assert human_duration(seconds) == text
