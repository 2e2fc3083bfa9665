"""Runtime.build is the one wiring: its parts read each other, and start()/stop() run and
join the shared threads."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pykka
import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors.kernel import Link, LinkedActor
from actors.runtime import Runtime
from tests.helpers.kernel import Journal
from tests.helpers.media import make_clip
from tests.helpers.settings import settings_for

pytestmark = pytest.mark.timeout(30)

SHARED_THREADS = {"hlsd-timers", "procs-watcher"}


def gauges(runtime: Runtime) -> dict[str, float]:
    text = runtime.metrics.exposition().decode()
    names = {"hlsd_sessions", "hlsd_transcoders", "hlsd_ffmpeg_processes"}
    return {family.name: family.samples[0].value
            for family in text_string_to_metric_families(text) if family.name in names}


def shared_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name in SHARED_THREADS and t.is_alive()}


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    (tmp_path / "media").mkdir()
    return Runtime.build(settings_for(tmp_path / "media", tmp_path / "work"))


def test_the_gauges_read_the_directory_and_the_live_runs(runtime):
    assert gauges(runtime) == {"hlsd_sessions": 0, "hlsd_transcoders": 0, "hlsd_ffmpeg_processes": 0}
    journal = Journal()
    ref = Stub.start(Link(None, "s"), journal)
    try:
        runtime.directory.register("one", ref, plan=None)  # type: ignore[arg-type]
        runtime.directory.register("two", ref, plan=None)  # type: ignore[arg-type]
        runtime.live.add_run("run-1")
        runtime.live.add_pid(4242)
        runtime.live.add_pid(4243)
        runtime.live.add_pid(4244)
        assert gauges(runtime) == {"hlsd_sessions": 2, "hlsd_transcoders": 1, "hlsd_ffmpeg_processes": 3}
        runtime.directory.unregister("one", ref)
        runtime.live.discard_run("run-1")
        runtime.live.discard_pid(4243)
        assert gauges(runtime) == {"hlsd_sessions": 1, "hlsd_transcoders": 0, "hlsd_ffmpeg_processes": 2}
    finally:
        ref.stop()


def test_two_runtimes_do_not_share_parts(tmp_path):
    (tmp_path / "media").mkdir()
    first = Runtime.build(settings_for(tmp_path / "media", tmp_path / "w1"))
    second = Runtime.build(settings_for(tmp_path / "media", tmp_path / "w2"))
    first.live.add_run("only-in-first")
    assert gauges(first)["hlsd_transcoders"] == 1
    assert gauges(second)["hlsd_transcoders"] == 0
    for part in ("timers", "watcher", "prober", "directory", "live", "metrics"):
        assert getattr(first, part) is not getattr(second, part)


def test_the_prober_runs_the_configured_ffprobe(runtime, tmp_path):
    clip = make_clip(tmp_path / "media" / "clip.mp4", 1.0, width=320, height=240)
    info = runtime.prober.probe(clip)
    assert (info.video.width, info.video.height) == (320, 240)
    assert info.duration == pytest.approx(1.0, abs=0.1)


class Stub(LinkedActor):
    def __init__(self, link: Link, journal: Journal) -> None:
        super().__init__(link)
        self.journal = journal

    def handle(self, message: Any) -> Any:
        self.journal.add("got", message)


def test_start_runs_the_shared_threads_and_stop_joins_them(runtime):
    assert shared_threads() == set()
    runtime.start()
    try:
        assert shared_threads() == SHARED_THREADS
        assert runtime.watcher.is_alive()
        journal = Journal()
        ref = Stub.start(Link(None, "s"), journal)
        try:
            runtime.timers.send_after(ref, "tick", 0.01)  # the timer thread delivers
            journal.wait_for(lambda events: events == [("got", "tick")])
        finally:
            ref.stop()
    finally:
        runtime.stop(timeout=5)
    assert shared_threads() == set()
    assert not runtime.watcher.is_alive()


def test_a_timer_due_after_stop_is_never_delivered(runtime):
    journal = Journal()
    ref: pykka.ActorRef[Any] = Stub.start(Link(None, "s"), journal)
    try:
        runtime.start()
        runtime.timers.send_after(ref, "late", 0.2)
        runtime.stop(timeout=5)
        threading.Event().wait(0.4)
        assert ref.ask("sync", timeout=5) is None
        assert journal.events == [("got", "sync")]
    finally:
        ref.stop()
