"""Stopping a process group: SIGTERM, then SIGKILL after the grace; suspend and resume.

The ``ledger`` check ends every test: none of the processes it started is alive, no work
dir is left, no handle is open and the thread count is back to where it was. It looks
only at this test's own pids, work dir and children: other tests run FFmpeg on this
machine at the same time.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest

from actors import ffmpeg
from tests.helpers.procs import (BASH, FFMPEG, EventLog, fake_argv, finish_run, pidfd_exited,
                                 segmenting_ffmpeg_args)

pytestmark = pytest.mark.timeout(60)


def test_stop_is_harmless_after_exit_and_when_repeated(ledger):
    handle = ledger.spawn(lambda p, s: segmenting_ffmpeg_args(p, s, seconds=0.5), FFMPEG)
    assert pidfd_exited(handle.pidfd, 15)

    first = ffmpeg.stop_process_group(handle, grace=1.0)
    second = ffmpeg.stop_process_group(handle, grace=1.0)

    assert (first.signal, first.returncode) == ("none", 0)
    assert (second.signal, second.returncode) == ("none", 0)
    assert not ffmpeg.suspend(handle) and not ffmpeg.resume(handle)
    finish_run(ledger, handle)


def test_suspended_ffmpeg_resumes_and_still_stops_on_sigterm(ledger):
    handle = ledger.spawn(lambda p, s: segmenting_ffmpeg_args(p, s, realtime=True), FFMPEG)
    process = psutil.Process(handle.pid)

    assert ffmpeg.suspend(handle)
    _wait_status(process, psutil.STATUS_STOPPED)
    assert ffmpeg.resume(handle)
    _wait_status(process, psutil.STATUS_RUNNING, psutil.STATUS_SLEEPING)
    assert ffmpeg.suspend(handle)
    _wait_status(process, psutil.STATUS_STOPPED)
    report = ffmpeg.stop_process_group(handle, grace=5.0)

    assert report.signal == "SIGTERM"  # SIGCONT after SIGTERM lets it act on it
    assert report.elapsed < 1.0
    finish_run(ledger, handle)


def test_fake_ffmpeg_ignoring_sigterm_is_killed_right_after_grace(ledger, watcher):
    events = EventLog()
    handle = ledger.spawn(fake_argv("ignores_sigterm.sh"), BASH)
    watcher.watch(handle, events)
    events.wait_for(lambda es: any(isinstance(e, ffmpeg.SegmentListed) for e in es), 10)

    report = ffmpeg.stop_process_group(handle, grace=0.5)

    assert report.signal == "SIGKILL"
    assert 0.5 <= report.elapsed < 0.5 + 0.5  # after the grace, not a second grace later (bench row 3c times it)
    assert report.returncode == -signal.SIGKILL
    assert events.exited(handle.pid, 5).returncode == -signal.SIGKILL
    finish_run(ledger, handle)


def test_fake_ffmpeg_hanging_at_start_sends_nothing_and_stops_on_sigterm(ledger, watcher):
    events = EventLog()
    handle = ledger.spawn(fake_argv("hangs_at_start.sh"), BASH)
    watcher.watch(handle, events)
    with pytest.raises(AssertionError):
        events.wait_for(lambda es: bool(es), timeout=0.3)

    report = ffmpeg.stop_process_group(handle, grace=5.0)

    assert report.signal == "SIGTERM" and report.elapsed < 0.5
    exited = events.exited(handle.pid, 5)
    assert exited.returncode == -signal.SIGTERM
    assert events.events == [exited]
    finish_run(ledger, handle)


def test_fake_ffmpeg_child_ignoring_sigterm_dies_with_the_group(ledger, watcher):
    events = EventLog()
    handle = ledger.spawn(fake_argv("spawns_stubborn_child.sh"), BASH)
    watcher.watch(handle, events)
    [listed] = events.wait_for(lambda es: bool(es), 10)
    child = int(listed.line.split()[1])
    ledger.track(child)
    assert os.getpgid(child) == handle.pid

    report = ffmpeg.stop_process_group(handle, grace=2.0)

    assert report.signal == "SIGTERM"  # the leader obeyed; the group kill took the child
    assert pidfd_exited(ledger.pidfds[child], 1.0), "the child outlived its group's stop"
    finish_run(ledger, handle)


def _wait_status(process: psutil.Process, *statuses: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while process.status() not in statuses:
        assert time.monotonic() < deadline, f"{process.pid} is {process.status()}, not {statuses}"
        pause.wait(0.01)
