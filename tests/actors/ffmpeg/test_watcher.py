"""The process watcher: one thread drains every pipe and reports each exit once.

The ``ledger`` check ends every test: none of the processes it started is alive, no work
dir is left, no handle is open and the thread count is back to where it was. It looks
only at this test's own pids, work dir and children: other tests run FFmpeg on this
machine at the same time.
"""
from __future__ import annotations

import os
import threading

import psutil
import pytest

from actors import ffmpeg
from tests.helpers.procs import (BASH, FFMPEG, EventLog, fake_argv, finish_run,
                                 segmenting_ffmpeg_args)

pytestmark = pytest.mark.timeout(60)


def test_real_ffmpeg_reports_progress_and_segments_then_exits_once(ledger, watcher):
    events = EventLog()
    handle = ledger.spawn(lambda p, s: segmenting_ffmpeg_args(p, s, seconds=3), FFMPEG)
    watcher.watch(handle, events)

    exited = events.exited(handle.pid, timeout=30)
    assert watcher.stop(5.0)  # after this no event can arrive: "once" is checkable

    assert exited.returncode == 0
    assert events.events[-1] is exited
    assert events.of(ffmpeg.ProcessExited) == [exited]
    listed = [e.line.split(",")[0] for e in events.of(ffmpeg.SegmentListed)]
    assert listed == ["seg000.ts", "seg001.ts", "seg002.ts"]
    written = ffmpeg.run_dir(ledger.work_dir, ledger.instance, "session", "run").iterdir()
    assert {path.name for path in written} == set(listed)
    progress = events.of(ffmpeg.ProgressReported)
    assert progress and progress[-1].fields["progress"] == "end"
    assert all(e.pid == handle.pid for e in events.events)
    finish_run(ledger, handle)


def test_fake_ffmpeg_failing_at_start_reports_exit_1_with_its_stderr(ledger, watcher):
    events = EventLog()
    handle = ledger.spawn(fake_argv("fails_at_start.sh"), BASH)
    watcher.watch(handle, events)

    exited = events.exited(handle.pid, 10)

    message = "fake-ffmpeg: file:missing.mkv: No such file or directory"
    assert exited.returncode == 1
    assert exited.stderr_tail == (message,)
    assert handle.stderr_tail() == [message]
    assert ffmpeg.stop_process_group(handle, 1.0).signal == "none"
    finish_run(ledger, handle)


def test_fake_ffmpeg_flooding_stderr_is_never_blocked(ledger, watcher):
    events = EventLog()
    handle = ledger.spawn(fake_argv("floods_stderr.sh"), BASH)
    watcher.watch(handle, events)

    exited = events.exited(handle.pid, 20)

    assert exited.returncode == 0
    assert len(exited.stderr_tail) == ffmpeg.STDERR_TAIL_LINES
    assert set(exited.stderr_tail) == {"fake-ffmpeg: frame=1 fps=25 noise noise noise"}
    assert [e.line for e in events.of(ffmpeg.SegmentListed)] == ["seg000.ts,0.000000,1.000000"]
    assert [e.fields for e in events.of(ffmpeg.ProgressReported)] == [{"frame": "1", "progress": "end"}]
    finish_run(ledger, handle)


def test_one_watcher_thread_watches_twenty_processes(ledger):
    threads_before = threading.active_count()
    fds_before = psutil.Process().num_fds()
    watcher = ffmpeg.ProcessWatcher()
    watcher.start()
    events = EventLog()
    handles = [ledger.spawn(lambda p, s: segmenting_ffmpeg_args(p, s, seconds=1, realtime=True,
                                                                 size="64x64"),
                            FFMPEG, tag=ledger.tag(f"s{n}", f"r{n}")) for n in range(20)]
    for handle in handles:
        watcher.watch(handle, events)
    assert threading.active_count() == threads_before + 1

    exits = [events.exited(handle.pid, 30) for handle in handles]

    assert [e.returncode for e in exits] == [0] * 20
    for handle in handles:
        kinds = [type(e) for e in events.events if e.pid == handle.pid]
        assert ffmpeg.SegmentListed in kinds and kinds[-1] is ffmpeg.ProcessExited
    assert watcher.stop(5.0)
    assert threading.active_count() == threads_before
    for handle in handles:
        ffmpeg.stop_process_group(handle, 1.0)
        ffmpeg.remove_run_dir(ledger.work_dir, ledger.instance, handle.tag.session, handle.tag.run)
    ffmpeg.release_instance_dir(ledger.work_dir, ledger.instance)
    assert psutil.Process().num_fds() == fds_before + len(ledger.pidfds)


def test_watch_after_stop_is_refused(ledger):
    watcher = ffmpeg.ProcessWatcher()
    watcher.start()
    assert watcher.stop(5.0)
    handle = ledger.spawn(fake_argv("fails_at_start.sh"), BASH)
    with pytest.raises(RuntimeError):
        watcher.watch(handle, EventLog())
    finish_run(ledger, handle)


def test_a_running_ffmpeg_costs_hlsd_five_fds(ledger, watcher):
    """Three pipes (owned by the watcher once watched) and two pidfds (the owner's, and
    the watcher's for its selector); the ledger's own pidfd is the test's."""
    before = len(os.listdir("/proc/self/fd"))
    events = EventLog()
    handle = ledger.spawn(lambda p, s: segmenting_ffmpeg_args(p, s, realtime=True), FFMPEG)
    watcher.watch(handle, events)
    events.wait_for(lambda es: any(isinstance(e, ffmpeg.SegmentListed) for e in es), 15)
    assert len(os.listdir("/proc/self/fd")) - before == 5 + 1
    finish_run(ledger, handle)
    events.exited(handle.pid, timeout=10)
    assert len(os.listdir("/proc/self/fd")) - before == 1  # the ledger's, closed at the end
