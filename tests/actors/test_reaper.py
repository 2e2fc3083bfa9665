"""The reaper under a real supervisor, timer service and work dir, sweeping real processes.

The processes are ``sleep`` spawned as hlsd spawns FFmpeg (argv[0] marker, tag in the
environment); every one is tagged with this test's own work dir, which is all a sweep
ever looks at, and pinned by pidfd in the ``ledger``. Other people's tests run on this
machine at the same time: nothing here looks machine-wide.
"""
from __future__ import annotations

import logging
import re
import signal
import threading
import time
from typing import Any, Iterator

import pykka
import pytest

from actors import ffmpeg
from actors.kernel import Link
from actors.kernel import Crash, WhichChildren
from actors.reaper import Reaper, sweep_once
from actors.settings import Settings
from actors.kernel import ChildSpec, Supervisor, SupervisorFlags
from actors.runtime import Runtime
from actors.system import HlsSystem
from actors.kernel import Timers
from actors.kernel import snapshot
from actors.tree import tree_text
from tests.helpers.kernel import eventually, wait_dead
from tests.helpers.procs import (ProcessLedger, pidfd_exited, plant_orphan,
                                 tagged_sleep, work_entries)

pytestmark = pytest.mark.timeout(60)

REAP_INTERVAL = 1.0
KILL_GRACE = 1.0
# SPEC's bound for the periodic sweep: the next sweep, its grace, and a second of slack.
SWEEP_BOUND = REAP_INTERVAL + KILL_GRACE + 1.0


def make_runtime(ledger: ProcessLedger, **settings: Any) -> Runtime:
    """The parts of hlsd's runtime a reaper uses, real; the watcher is never started."""
    values = {"media_root": ledger.work_dir.parent / "media", "work_dir": ledger.work_dir,
              "instance": ledger.instance, "reap_interval": REAP_INTERVAL,
              "kill_grace": KILL_GRACE, **settings}
    return Runtime.build(Settings(**values))


@pytest.fixture
def runtime(ledger: ProcessLedger) -> Iterator[Runtime]:
    runtime = make_runtime(ledger)
    ffmpeg.claim_instance_dir(ledger.work_dir, ledger.instance)
    yield runtime
    assert runtime.watcher.stop(5.0)
    runtime.timers.stop()
    ffmpeg.release_instance_dir(ledger.work_dir, ledger.instance)


@pytest.fixture
def root(runtime: Runtime) -> Iterator[pykka.ActorRef[Any]]:
    """A root like hlsd's: one_for_one over the timers and the reaper."""
    specs = (ChildSpec("timers", lambda link: Timers.start(link, runtime.timers)),
             ChildSpec("reaper", lambda link: Reaper.start(link, runtime)))
    ref = Supervisor.start(Link(None, "root"), SupervisorFlags(intensity=5, period=60.0), specs)
    yield ref
    ref.stop(timeout=10)


# --- helpers ------------------------------------------------------------------------------

def reaper_ref(root: pykka.ActorRef[Any]) -> pykka.ActorRef[Any] | None:
    return {cid: ref for cid, ref, _, _ in root.ask(WhichChildren(), timeout=5)}["reaper"]


def reaper_node(root: pykka.ActorRef[Any]) -> dict[str, Any]:
    """The reaper's node of the tree dump (waiting out a sweep under way)."""
    return next(c for c in snapshot(root, timeout=5)["children"] if c["name"] == "reaper")


def swept(root: pykka.ActorRef[Any], at_least: int = 1, timeout: float = 5.0) -> dict[str, Any]:
    return eventually(lambda: _node_if(root, lambda n: n.get("sweeps", 0) >= at_least), timeout)


def _node_if(root: pykka.ActorRef[Any], check: Any) -> dict[str, Any] | None:
    node = reaper_node(root)
    return node if check(node) else None


def live_run(ledger: ProcessLedger, runtime: Runtime, session: str, run: str) -> ffmpeg.ProcessHandle:
    """Started as a transcoder starts one: the run is live before its dir and process exist."""
    runtime.live.add_run(run)
    return tagged_sleep(ledger, ledger.tag(session, run))


def wait_exited(ledger: ProcessLedger, handle: ffmpeg.ProcessHandle, timeout: float) -> float:
    started = time.monotonic()
    assert pidfd_exited(ledger.pidfds[handle.pid], timeout), \
        f"tagged process {handle.pid} outlived {timeout} s"
    return time.monotonic() - started


def reaped_by_sweep(handle: ffmpeg.ProcessHandle) -> bool:
    """Reap it (it is this test's child); True if SIGTERM, the sweep's first signal, ended it."""
    return ffmpeg.stop_process_group(handle, 0).returncode == -signal.SIGTERM


# --- the periodic sweep -------------------------------------------------------------------

def test_periodic_sweep_kills_orphans_keeps_live_runs_removes_leftovers(ledger, runtime, root):
    me, work = ledger.instance, ledger.work_dir
    swept(root)  # the first sweep, at once: nothing to do yet
    live = live_run(ledger, runtime, "s1", "live")
    ended = live_run(ledger, runtime, "s2", "ended")
    runtime.live.discard_run("ended")  # its transcoder died without stopping it
    orphan = plant_orphan(ledger, f"{me}-gone")
    ledger.run_dir("s3", "stale")  # a run dir nobody removed

    waited = max(wait_exited(ledger, orphan, SWEEP_BOUND), wait_exited(ledger, ended, SWEEP_BOUND))

    node = eventually(lambda: _node_if(
        root, lambda n: n.get("reaped") == 2 and n.get("dirs_removed") == 3), SWEEP_BOUND)
    assert waited < SWEEP_BOUND
    assert node["sweeps"] >= 2 and node["interval"] == REAP_INTERVAL
    assert not pidfd_exited(live.pidfd, 0), "the sweep killed the process of a live run"
    assert reaped_by_sweep(orphan) and reaped_by_sweep(ended)
    assert work_entries(work) == [me]
    assert sorted(p.name for p in (work / me).iterdir()) == [ffmpeg.OWNER_FILE, "s1"]
    assert runtime.metrics.registry.get_sample_value("hlsd_reaped_orphans_total") == 2
    text = tree_text(snapshot(root, timeout=5))
    assert re.search(r"^└─ reaper  alive  last sweep \d+s ago  reaped 2$", text, re.M), text
    ffmpeg.stop_process_group(live, KILL_GRACE)
    ffmpeg.remove_run_dir(work, me, "s1", "live")


def test_reaper_that_crashes_is_restarted_and_keeps_sweeping(ledger, runtime, root):
    first = reaper_ref(root)
    swept(root)

    first.tell(Crash("injected by the test"))

    wait_dead(first)
    second = eventually(lambda: (ref := reaper_ref(root)) is not None
                        and ref.actor_urn != first.actor_urn and ref)
    orphan = plant_orphan(ledger, f"{ledger.instance}-gone")
    wait_exited(ledger, orphan, SWEEP_BOUND)
    assert reaped_by_sweep(orphan)
    node = eventually(lambda: _node_if(
        root, lambda n: n.get("reaped") == 1 and n.get("dirs_removed") == 1), SWEEP_BOUND)
    assert node["sweeps"] >= 1
    assert second.is_alive()
    assert snapshot(root, timeout=5)["total_restarts"] == 1


def test_sweep_that_raises_crashes_the_reaper_and_is_logged(ledger, runtime, root, monkeypatch,
                                                            caplog):
    real_sweep = ffmpeg.sweep
    failed = threading.Event()

    def failing_once(*args: Any, **kwargs: Any) -> ffmpeg.SweepReport:
        if not failed.is_set():
            failed.set()
            raise PermissionError(13, "Permission denied", str(ledger.work_dir))
        return real_sweep(*args, **kwargs)

    first = reaper_ref(root)
    monkeypatch.setattr(ffmpeg, "sweep", failing_once)

    wait_dead(first, timeout=SWEEP_BOUND)  # at its first sweep or the next one
    eventually(lambda: (ref := reaper_ref(root)) is not None and ref.actor_urn != first.actor_urn)
    swept(root)  # the new reaper sweeps at once, and this time the sweep works
    assert snapshot(root, timeout=5)["total_restarts"] == 1
    assert any(r.levelno == logging.ERROR and "sweep failed (PermissionError" in r.getMessage()
               for r in caplog.records)


# --- the start-up sweep -------------------------------------------------------------------

def test_sweep_once_reaps_synchronously_and_counts(ledger, runtime, caplog):
    orphan = plant_orphan(ledger, f"{ledger.instance}-gone")

    report = sweep_once(runtime)

    assert report == ffmpeg.SweepReport(killed=1, dirs_removed=1)
    assert pidfd_exited(ledger.pidfds[orphan.pid], 0)
    assert reaped_by_sweep(orphan)
    assert runtime.metrics.registry.get_sample_value("hlsd_reaped_orphans_total") == 1
    assert any(r.levelno == logging.INFO and "killed 1 orphaned FFmpeg, removed 1 work dirs"
               in r.getMessage() for r in caplog.records)


def test_hlsd_start_sweeps_before_it_serves(ledger):
    """What SIGKILLed hlsds left behind (one had this fixed instance id) is gone once
    ``HlsSystem.start`` returns."""
    same_id = plant_orphan(ledger, ledger.instance)
    older = plant_orphan(ledger, f"{ledger.instance}-older")
    (ledger.work_dir.parent / "media").mkdir()
    system = HlsSystem(make_runtime(ledger, reap_interval=60.0).settings)

    system.start()
    try:
        assert pidfd_exited(ledger.pidfds[same_id.pid], 0), "start returned before the sweep"
        assert pidfd_exited(ledger.pidfds[older.pid], 0), "start returned before the sweep"
        assert work_entries(ledger.work_dir) == [ledger.instance]
        assert [p.name for p in (ledger.work_dir / ledger.instance).iterdir()] == [ffmpeg.OWNER_FILE]
    finally:
        system.stop(timeout=20)
    assert reaped_by_sweep(same_id) and reaped_by_sweep(older)
    assert not (ledger.work_dir / ledger.instance).exists()
