"""Two sessions' ``Runs`` on one node, driven message by message as their sessions drive
them (the harness of ``test_runs``: recording hosts and actors, no FFmpeg): the second
session is answered from the store, waits on the first one's run, and takes over when
that run goes or is suspended. The real-FFmpeg counterpart is ``test_shared``."""
from __future__ import annotations

import queue
from pathlib import Path
from typing import Any, Iterator

import pykka
import pytest

from actors import media
from actors.messages import SegmentStored, SharedRunsChanged
from actors.runs import Runs
from actors.runtime import Runtime
from tests.actors.test_runs import SUBS, V240, Host, Recorder, ask, begun, pending
from tests.helpers.settings import settings_for
from tests.helpers.track_clips import film_plan


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> media.Plan:
    return film_plan(tmp_path_factory.mktemp("sharing"), "\n240p 240 400k 96k\ncopy copy")


class Session:
    """One session's Runs, its host, and what its actor was told."""

    def __init__(self, runtime: Runtime, plan: media.Plan, name: str, refs: list[Any]) -> None:
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.owner = Recorder.start(self.inbox)
        refs.append(self.owner)
        self.host = Host()
        self.runs = Runs(self.host, runtime, plan, name, self.owner, prefix=f"{name}-x")

    def told(self, kind: type) -> Any:
        while True:
            message = self.inbox.get(timeout=2)
            if isinstance(message, kind):
                return message


@pytest.fixture
def node(plan: media.Plan, tmp_path: Path) -> Iterator[tuple[Runtime, Session, Session, list[Any]]]:
    runtime = Runtime.build(settings_for(tmp_path, tmp_path / "work", pause_ahead=4))
    runtime.store.rebuild()
    refs: list[pykka.ActorRef[Any]] = []
    try:
        yield runtime, Session(runtime, plan, "s1", refs), Session(runtime, plan, "s2", refs), refs
    finally:
        for ref in refs:
            ref.stop()
        runtime.index.close()


def made(runtime: Runtime, session: Session, tmp_path: Path, number: int, body: bytes) -> None:
    """What the first session's transcoder does with a finished segment: store it, tell
    the watchers, tell its session."""
    path = tmp_path / f"{number}.ts"
    path.write_bytes(body)
    shelf = runtime.shelf(session.runs.plan, V240)
    assert shelf is not None and runtime.store.put(shelf, number, path)
    runtime.shared.stored(shelf, number, session.owner)
    session.runs.segment_ready(session.runs.runs[V240].id, number, str(path))


def test_the_second_session_waits_on_the_first_ones_run_and_is_answered_from_the_store(node, tmp_path):
    runtime, first, second, refs = node
    ask(first.runs, V240, 0)
    begun(first.runs, refs, V240)
    waiting = ask(second.runs, V240, 1)  # within reach of the first session's run
    assert second.host.specs == [] and pending(waiting)
    made(runtime, first, tmp_path, 0, b"zero")
    made(runtime, first, tmp_path, 1, b"one")
    stored = second.told(SegmentStored)
    second.runs.stored(stored.shelf, 0)  # nobody waits for 0: nothing happens
    second.runs.stored(stored.shelf, 1)
    with waiting.get(timeout=1) as opened:
        assert opened.read() == b"one"
    with ask(second.runs, V240, 0).get(timeout=1) as opened:  # made: from the store at once
        assert opened.read() == b"zero"
    assert second.host.specs == [] and second.runs.json()["shared"] == {"from_store": 2, "leaned": 1}
    assert second.runs.read_head == 0  # served from the store, it still moves the read head


def test_the_second_session_takes_over_when_the_run_it_waits_on_ends(node):
    runtime, first, second, refs = node
    ask(first.runs, V240, 0)
    begun(first.runs, refs, V240)
    waiting = ask(second.runs, V240, 2)
    first.runs.sharing.leave(list(first.runs.runs.values()))  # the first session ends
    changed = second.told(SharedRunsChanged)
    second.runs.reconsider(changed.shelf)
    assert len(second.host.specs) == 1 and second.runs.runs[V240].start == 2
    assert pending(waiting)  # now its own run's to answer
    assert runtime.shared.counts() == (1, 1)  # the second one's offer; its watch
    second.runs.sharing.leave(list(second.runs.runs.values()))
    assert runtime.shared.counts() == (0, 0)


def test_a_suspended_run_is_not_waited_on(node, tmp_path):
    runtime, first, second, refs = node
    ask(first.runs, V240, 0)
    begun(first.runs, refs, V240)
    for number in range(7):  # pause_ahead 4: the run is far ahead of its own player at 0
        made(runtime, first, tmp_path, number, b"x")
    assert first.runs.runs[V240].suspended
    ask(second.runs, V240, 8)  # the suspended run would reach it, but makes nothing now
    assert len(second.host.specs) == 1 and second.runs.runs[V240].start == 8


def test_a_subtitle_track_made_by_another_session_is_cut_from_the_store(node, tmp_path):
    runtime, first, second, _ = node
    vtt = tmp_path / "track.vtt"
    vtt.write_text("WEBVTT\n\n00:00:06.500 --> 00:00:07.000\nLater\n", encoding="utf-8")
    shelf = runtime.shelf(first.runs.plan, SUBS)
    assert shelf is not None and runtime.store.put(shelf, 0, vtt)
    assert "Later" in ask(second.runs, SUBS, 3).get(timeout=1)
    assert second.host.specs == [] and SUBS in second.runs.documents
