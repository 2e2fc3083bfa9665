"""Spawning: a tagged process that leads its own group, linked to the thread that spawned it.

The ``ledger`` check ends every test: none of the processes it started is alive, no work
dir is left, no handle is open and the thread count is back to where it was. It looks
only at this test's own pids, work dir and children: other tests run FFmpeg on this
machine at the same time.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import psutil
import pytest

from actors import ffmpeg
from tests.helpers.procs import (FAKES, FFMPEG, SLEEP, EventLog, child_env, finish_run,
                                 pidfd_exited, read_line, segmenting_ffmpeg_args,
                                 wait_all_exited)

pytestmark = pytest.mark.timeout(60)


def test_real_ffmpeg_is_tagged_leads_its_group_and_stops_on_sigterm(ledger, watcher):
    events = EventLog()
    handle = ledger.spawn(lambda p, s: segmenting_ffmpeg_args(p, s, realtime=True), FFMPEG)
    watcher.watch(handle, events)
    events.wait_for(lambda es: any(isinstance(e, ffmpeg.SegmentListed) for e in es), 15)

    process = psutil.Process(handle.pid)
    assert process.cmdline()[0] == ffmpeg.ARGV0_MARKER
    assert process.exe() == os.path.realpath(FFMPEG)
    assert process.environ()[ffmpeg.ENV_INSTANCE] == ledger.instance
    assert os.getpgid(handle.pid) == handle.pid and os.getsid(handle.pid) == handle.pid
    [found] = ffmpeg.find_tagged(ledger.work_dir)
    assert (found.pid, found.tag) == (handle.pid, handle.tag)
    assert ffmpeg.owner_alive(found.tag)

    report = ffmpeg.stop_process_group(handle, grace=5.0)

    assert report.signal == "SIGTERM"
    assert report.elapsed < 1.0
    assert report.returncode == handle.returncode == events.exited(handle.pid, 5).returncode
    assert not _running(handle.pid)
    finish_run(ledger, handle)


def test_process_dies_when_the_thread_that_spawned_it_ends(ledger):
    spawned: list[ffmpeg.ProcessHandle] = []
    thread = threading.Thread(target=lambda: spawned.append(
        ledger.spawn(lambda p, s: segmenting_ffmpeg_args(p, s, realtime=True), FFMPEG)))
    thread.start()
    thread.join(10)
    [handle] = spawned

    assert pidfd_exited(handle.pidfd, 1.0), "FFmpeg outlived the thread it was linked to"
    report = ffmpeg.stop_process_group(handle, grace=1.0)
    assert (report.signal, report.returncode) == ("none", -signal.SIGKILL)
    finish_run(ledger, handle)


def test_killed_owner_takes_its_ffmpeg_along_and_the_next_sweep_cleans_up(ledger):
    old_instance = f"{ledger.instance}-old"
    owner = subprocess.Popen(
        [sys.executable, str(FAKES / "owner_of_three.py"), str(ledger.work_dir),
         old_instance, FFMPEG], stdout=subprocess.PIPE, env=child_env())
    ledger.track(owner.pid)
    pids = json.loads(read_line(owner.stdout, 30))["pids"]
    for pid in pids:
        ledger.track(pid)
    assert {p.pid for p in ffmpeg.find_tagged(ledger.work_dir, old_instance)} == set(pids)
    owner_tag = ffmpeg.find_tagged(ledger.work_dir, old_instance)[0].tag

    owner.kill()
    gone_after = wait_all_exited([ledger.pidfds[pid] for pid in pids], 1.0)

    assert gone_after is not None, "an FFmpeg outlived its SIGKILLed owner by 1 s"
    for pid in pids:  # adopted by this subreaper, so ours to reap: killed by the link
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == -signal.SIGKILL
    owner.wait(5)
    owner.stdout.close()
    planted = ledger.spawn(lambda p, s: ["60"], SLEEP, tag=owner_tag, cwd=ledger.work_dir)
    untagged = subprocess.Popen([SLEEP, "60"])
    ledger.track(untagged.pid)
    ffmpeg.claim_instance_dir(ledger.work_dir, ledger.instance)

    report = ffmpeg.sweep(ledger.work_dir, ledger.instance, lambda: (), grace=1.0)

    assert report == ffmpeg.SweepReport(killed=1, dirs_removed=1)
    assert pidfd_exited(ledger.pidfds[planted.pid], 0)
    assert ffmpeg.stop_process_group(planted, 0).returncode == -signal.SIGTERM
    assert untagged.poll() is None, "the sweep killed an untagged process"
    untagged.kill()
    untagged.wait(5)
    assert [p.name for p in ledger.work_dir.iterdir()] == [ledger.instance]
    ffmpeg.release_instance_dir(ledger.work_dir, ledger.instance)
    ledger.work_dir.rmdir()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
