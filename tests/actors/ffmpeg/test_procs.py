"""actors.ffmpeg against real FFmpeg and fake FFmpeg scripts that misbehave on purpose.

Every test ends with the ``ledger`` check: none of the processes it started is alive, no
work dir is left, no handle is open and the thread count is back to where it was. The
checks look only at this test's own pids, work dir and children: other people's tests
run FFmpeg on this machine at the same time.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from actors import ffmpeg
from tests.helpers.procs import (BASH, FAKES, FFMPEG, SLEEP, EventLog, ProcessLedger,
                                 child_env, fake_argv, pidfd_exited, read_line,
                                 segmenting_ffmpeg_args, wait_all_exited)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def watcher(ledger: ProcessLedger) -> Iterator[ffmpeg.ProcessWatcher]:
    watcher = ffmpeg.ProcessWatcher()
    watcher.start()
    yield watcher
    assert watcher.stop(5.0), "watcher thread did not end"


def finish_run(ledger: ProcessLedger, handle: ffmpeg.ProcessHandle) -> None:
    """What a transcoder does at the end of a run: stop (harmless if exited), remove dirs."""
    ffmpeg.stop_process_group(handle, 1.0)
    tag = handle.tag
    assert ffmpeg.remove_run_dir(ledger.work_dir, tag.instance, tag.session, tag.run)
    ffmpeg.release_instance_dir(ledger.work_dir, tag.instance)


# --- real FFmpeg ------------------------------------------------------------------------

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


# --- fakes ------------------------------------------------------------------------------

def test_fake_ffmpeg_ignoring_sigterm_is_killed_right_after_grace(ledger, watcher):
    events = EventLog()
    handle = ledger.spawn(fake_argv("ignores_sigterm.sh"), BASH)
    watcher.watch(handle, events)
    events.wait_for(lambda es: any(isinstance(e, ffmpeg.SegmentListed) for e in es), 10)

    report = ffmpeg.stop_process_group(handle, grace=0.5)

    assert report.signal == "SIGKILL"
    assert 0.5 <= report.elapsed < 0.6
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


# --- the link (PR_SET_PDEATHSIG) --------------------------------------------------------

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


# --- sweeping ---------------------------------------------------------------------------

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


def test_claim_refuses_an_instance_dir_owned_by_another_live_process(ledger):
    holder = ledger.spawn(lambda p, s: ["60"], SLEEP, cwd=ledger.work_dir.parent)
    path = ffmpeg.instance_dir(ledger.work_dir, ledger.instance)
    path.mkdir(parents=True)
    start = psutil.Process(holder.pid).create_time()
    (path / ffmpeg.OWNER_FILE).write_text(json.dumps({"pid": holder.pid, "start": start}))

    with pytest.raises(FileExistsError):
        ffmpeg.claim_instance_dir(ledger.work_dir, ledger.instance)
    ffmpeg.stop_process_group(holder, 1.0)
    assert ffmpeg.claim_instance_dir(ledger.work_dir, ledger.instance) == path
    ffmpeg.release_instance_dir(ledger.work_dir, ledger.instance)
    ledger.work_dir.rmdir()


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\0b"])
def test_work_dir_paths_refuse_components_that_could_escape(name, ledger):
    with pytest.raises(ValueError):
        ffmpeg.run_dir(ledger.work_dir, ledger.instance, name, "run")


# --- the watcher ------------------------------------------------------------------------

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


# --- helpers ----------------------------------------------------------------------------

def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_status(process: psutil.Process, *statuses: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while process.status() not in statuses:
        assert time.monotonic() < deadline, f"{process.pid} is {process.status()}, not {statuses}"
        pause.wait(0.01)


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
