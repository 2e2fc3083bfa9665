"""Sweeping: tagged processes and run dirs that no live run owns are killed and removed.

The ``ledger`` check ends every test: none of the processes it started is alive, no work
dir is left, no handle is open and the thread count is back to where it was. It looks
only at this test's own pids, work dir and children: other tests run FFmpeg on this
machine at the same time.
"""
from __future__ import annotations

import json
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from actors import ffmpeg
from tests.helpers.procs import (BASH, SLEEP, EventLog, ProcessLedger, fake_argv, finish_run,
                                 pidfd_exited)

pytestmark = pytest.mark.timeout(60)


def test_terminate_tagged_refuses_a_pid_whose_create_time_differs(ledger):
    handle = ledger.spawn(lambda p, s: ["60"], SLEEP)
    [found] = ffmpeg.find_tagged(ledger.work_dir)
    impostor = ffmpeg.TaggedProcess(found.pid, found.create_time - 100, found.tag)

    assert not ffmpeg.terminate_tagged(impostor, grace=1.0)
    assert not pidfd_exited(handle.pidfd, 0.2)
    assert ffmpeg.terminate_tagged(found, grace=1.0)
    assert pidfd_exited(handle.pidfd, 0)
    finish_run(ledger, handle)


def test_sweep_kills_and_removes_only_what_no_live_run_owns(ledger, tmp_path):
    work, me = ledger.work_dir, ledger.instance
    ffmpeg.claim_instance_dir(work, me)
    live = _tagged_sleep(ledger, ledger.tag("s1", "live"))
    dead = _tagged_sleep(ledger, ledger.tag("s2", "dead"))
    other = f"{me}-other"  # another instance whose owner (this process) is alive
    ffmpeg.claim_instance_dir(work, other)
    foreign = _tagged_sleep(ledger, ledger.tag("s3", "theirs", instance=other))
    _plant_dead_instance(work / f"{me}-gone")
    (work / "stranger").mkdir()  # no owner.json: not provably ours, so kept
    outside = tmp_path / "outside"
    (outside / "s9" / "r9").mkdir(parents=True)
    (work / me / "link").symlink_to(outside)
    late: list[ffmpeg.ProcessHandle] = []

    def live_runs() -> set[str]:
        # A run that starts while the sweep is under way must survive it.
        late.append(_tagged_sleep(ledger, ledger.tag("s4", "late")))
        return {"live"}

    report = ffmpeg.sweep(work, me, live_runs, grace=1.0)

    assert report == ffmpeg.SweepReport(killed=1, dirs_removed=2)
    assert pidfd_exited(ledger.pidfds[dead.pid], 0)
    assert {p.pid for p in ffmpeg.find_tagged(work)} == {live.pid, foreign.pid, late[0].pid}
    assert sorted(p.name for p in work.iterdir()) == sorted([me, other, "stranger"])
    assert sorted(p.name for p in (work / me).iterdir()) == ["link", "owner.json", "s1", "s4"]
    assert (outside / "s9" / "r9").is_dir()
    assert ffmpeg.stop_process_group(dead, 0).returncode == -signal.SIGTERM
    for handle in (live, foreign, late[0]):
        ffmpeg.stop_process_group(handle, 1.0)
    (work / me / "link").unlink()
    (work / "stranger").rmdir()
    for instance in (me, other):
        ffmpeg.release_instance_dir(work, instance)
    work.rmdir()


def test_fake_ffmpeg_of_a_dead_owner_is_swept_with_its_stubborn_child(ledger, watcher):
    events = EventLog()
    dead_owner = _dead_owner_tag(ledger)
    leader = ledger.spawn(fake_argv("spawns_stubborn_child.sh"), BASH, tag=dead_owner)
    watcher.watch(leader, events)
    [listed] = events.wait_for(lambda es: bool(es), 10)
    child = int(listed.line.split()[1])
    ledger.track(child)

    report = ffmpeg.sweep(ledger.work_dir, f"{ledger.instance}-next", lambda: (), grace=1.0)

    assert report == ffmpeg.SweepReport(killed=1, dirs_removed=0)  # its dir has no owner.json
    assert events.exited(leader.pid, 5).returncode == -signal.SIGTERM
    assert pidfd_exited(ledger.pidfds[child], 1.0), "the leader's child outlived the sweep"
    finish_run(ledger, leader)


def _tagged_sleep(ledger: ProcessLedger, tag: ffmpeg.Tag) -> ffmpeg.ProcessHandle:
    """A stand-in FFmpeg that carries the marker and the tag: sleep spawned as hlsd would."""
    return ledger.spawn(lambda p, s: ["600"], SLEEP, tag=tag)


def _dead_owner_tag(ledger: ProcessLedger) -> ffmpeg.Tag:
    gone = subprocess.Popen(["true"])
    start = psutil.Process(gone.pid).create_time()
    gone.wait(5)
    return replace(ledger.tag(), owner_pid=gone.pid, owner_start=start)


def _plant_dead_instance(path: Path) -> None:
    """An instance dir with a run, left by an hlsd process that has since died."""
    gone = subprocess.Popen(["true"])
    start = psutil.Process(gone.pid).create_time()
    gone.wait(5)
    (path / "s0" / "r0").mkdir(parents=True)
    (path / "s0" / "r0" / "seg000.ts").write_bytes(b"stale")
    (path / ffmpeg.OWNER_FILE).write_text(json.dumps({"pid": gone.pid, "start": start}))
