"""Helpers for tests that start real or fake FFmpeg through ``actors.ffmpeg``.

``ProcessLedger`` pins every process a test starts with a pidfd, so the end-of-test check
("none of mine is alive") is immune to pid reuse and never looks at processes that
other people's tests started on the same machine.
"""
from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, Callable

import psutil

from actors import ffmpeg, tokens
from actors.settings import INDEX_NAME, TRICKPLAY_SUFFIX, USERS_NAME

FAKES = Path(__file__).parent.parent / "fakes"
REPO = Path(__file__).parent.parent.parent
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
BASH = shutil.which("bash") or "/bin/bash"
SLEEP = shutil.which("sleep") or "/bin/sleep"

_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


def segmenting_ffmpeg_args(progress_fd: int, list_fd: int, *, seconds: float | None = None,
                           realtime: bool = False, size: str = "320x240") -> list[str]:
    """FFmpeg arguments: lavfi test video + sine, 1 s MPEG-TS segments, list and progress on pipes."""
    pace = ["-re"] if realtime else []
    duration = ["-t", str(seconds)] if seconds is not None else []
    return [
        "-nostdin", "-hide_banner", "-loglevel", "warning",
        *pace, "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
        *pace, "-f", "lavfi", "-i", "sine=frequency=440",
        *duration, "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac",
        "-f", "segment", "-segment_time", "1", "-segment_list", f"pipe:{list_fd}",
        "-segment_list_type", "csv", "-progress", f"pipe:{progress_fd}", "seg%03d.ts",
    ]


def fake_argv(name: str) -> Callable[[int, int], list[str]]:
    """Arguments that make ``bash`` (the executable) run fake FFmpeg ``tests/fakes/<name>``."""
    script = FAKES / name
    return lambda progress_fd, list_fd: [str(script), str(progress_fd), str(list_fd)]


def set_child_subreaper(enabled: bool) -> None:
    """Make orphaned descendants come back to this process (and so be counted and reaped)."""
    if _libc.prctl(_PR_SET_CHILD_SUBREAPER, int(enabled), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def pidfd_exited(pidfd: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for the process behind ``pidfd`` to exit."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def wait_all_exited(pidfds: list[int], timeout: float) -> float | None:
    """Seconds until every process exited, or None if some outlived ``timeout``."""
    started = time.monotonic()
    deadline = started + timeout
    for pidfd in pidfds:
        if not pidfd_exited(pidfd, max(0.0, deadline - time.monotonic())):
            return None
    return time.monotonic() - started


def read_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line from a child's stdout, or AssertionError after ``timeout``."""
    poller = select.poll()
    poller.register(stream.fileno(), select.POLLIN)
    assert poller.poll(timeout * 1000), f"no output within {timeout} s"
    return stream.readline()


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def reap_adopted(pids: set[int]) -> None:
    """Reap the zombies among ``pids`` that are this (subreaper) process's children."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass  # a grandchild, or its own parent reaped it


class EventLog:
    """Thread-safe record of ``ProcessEvent``s that tests wait on with a timeout."""

    def __init__(self) -> None:
        self.events: list[ffmpeg.ProcessEvent] = []
        self._condition = threading.Condition()

    def __call__(self, event: ffmpeg.ProcessEvent) -> None:
        with self._condition:
            self.events.append(event)
            self._condition.notify_all()

    def wait_for(self, predicate: Callable[[list[ffmpeg.ProcessEvent]], bool],
                 timeout: float) -> list[ffmpeg.ProcessEvent]:
        with self._condition:
            if not self._condition.wait_for(lambda: predicate(self.events), timeout):
                raise AssertionError(f"timed out after {timeout} s; events: {self.events}")
            return list(self.events)

    def exited(self, pid: int, timeout: float) -> ffmpeg.ProcessExited:
        events = self.wait_for(lambda es: any(_exit_of(e, pid) for e in es), timeout)
        return next(e for e in events if _exit_of(e, pid))

    def of(self, kind: type, pid: int | None = None) -> list[ffmpeg.ProcessEvent]:
        with self._condition:
            return [e for e in self.events if isinstance(e, kind) and pid in (None, e.pid)]


def _exit_of(event: ffmpeg.ProcessEvent, pid: int) -> bool:
    return isinstance(event, ffmpeg.ProcessExited) and event.pid == pid


class ProcessLedger:
    """Everything one test starts: pidfds of its processes, its work dir, its instance id."""

    def __init__(self, work_dir: Path, instance: str) -> None:
        self.work_dir = work_dir
        self.instance = instance
        self.pidfds: dict[int, int] = {}
        self.handles: list[ffmpeg.ProcessHandle] = []

    def track(self, pid: int) -> None:
        """Pin ``pid`` now, while it is known to be ours."""
        try:
            self.pidfds[pid] = os.pidfd_open(pid)
        except ProcessLookupError:
            pass  # already gone and reaped

    def tag(self, session: str = "session", run: str = "run",
            instance: str | None = None) -> ffmpeg.Tag:
        return ffmpeg.Tag.for_this_process(self.work_dir, instance or self.instance, session, run)

    def run_dir(self, session: str = "session", run: str = "run",
                instance: str | None = None) -> Path:
        path = ffmpeg.run_dir(self.work_dir, instance or self.instance, session, run)
        path.mkdir(parents=True)
        return path

    def spawn(self, build_argv: Callable[[int, int], list[str]], executable: str,
              tag: ffmpeg.Tag | None = None, cwd: Path | None = None) -> ffmpeg.ProcessHandle:
        tag = tag or self.tag()
        cwd = cwd or self.run_dir(tag.session, tag.run, tag.instance)
        handle = ffmpeg.spawn(build_argv, tag, cwd, executable)
        self.handles.append(handle)
        self.track(handle.pid)
        return handle

    def survivors(self) -> list[int]:
        return [pid for pid, pidfd in self.pidfds.items() if not pidfd_exited(pidfd, 0)]

    def kill_everything(self) -> None:
        """After a failed test: kill and reap what is left, so one failure stays one."""
        for pid in self.survivors():
            signal.pidfd_send_signal(self.pidfds[pid], signal.SIGKILL)
        for handle in self.handles:
            ffmpeg.stop_process_group(handle, 0)
        for pidfd in self.pidfds.values():
            os.close(pidfd)
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """What this test left behind, described for an assertion message."""
        found = [f"process {pid} alive" for pid in self.survivors()]
        found += [f"tagged {p.pid} {p.tag}" for p in ffmpeg.find_tagged(self.work_dir)]
        found += [f"handle {h.pid} not stopped" for h in self.handles if not h.closed]
        if self.work_dir.exists():
            found += [f"left in work dir: {name}" for name in work_entries(self.work_dir)]
        return found


def persists_in_work_dir(path: Path) -> bool:
    """What hlsd keeps in the work dir across runs on purpose: the media index (the
    database, its WAL, its posters, its trick play files), the accounts (hls.auth =
    accounts: the users file and its WAL), the session secret (tokens must verify after a
    restart) and the segment store (``store_problems`` checks what is in it). Nothing
    else may stay."""
    if path.name == ffmpeg.STORE_DIR:
        return path.is_dir() and not path.is_symlink()
    secret = path.name == tokens.SECRET_FILE and path.is_file() and not path.is_symlink()
    stem = INDEX_NAME.partition('.')[0]
    index = path.name.startswith(INDEX_NAME) or path.name in (f"{stem}-posters",
                                                             f"{stem}{TRICKPLAY_SUFFIX}")
    return secret or index or path.name.startswith(USERS_NAME)


def store_problems(work_dir: Path, bound: int | None = None) -> list[str]:
    """What is wrong with the segment store under ``work_dir``: anything but complete
    segments in it (a put cut short, a dir, a link out), or more bytes than ``bound``
    by more than one segment."""
    root = work_dir / ffmpeg.STORE_DIR
    if not root.is_dir():
        return []
    problems, sizes = [], []
    for path in root.iterdir():
        name, _, number = path.name.rpartition(".")
        if path.is_symlink() or not path.is_file() or not (name.isalnum() and number.isdigit()):
            problems.append(f"stray {path.name} in the segment store")
        else:
            sizes.append(path.stat().st_size)
    if bound is not None and sizes and sum(sizes) > bound + max(sizes):
        problems.append(f"segment store holds {sum(sizes)} bytes, bound {bound} + one segment")
    return problems


def work_entries(work_dir: Path) -> list[str]:
    """Sorted names in ``work_dir`` but what persists there on purpose (the media index,
    the session secret)."""
    return sorted(p.name for p in work_dir.iterdir() if not persists_in_work_dir(p))


def own_children() -> dict[int, str]:
    """pid -> status of every descendant of this process, zombies included."""
    found = {}
    for child in psutil.Process().children(recursive=True):
        try:
            found[child.pid] = child.status()
        except psutil.NoSuchProcess:
            pass
    return found


def tagged_sleep(ledger: ProcessLedger, tag: ffmpeg.Tag, cwd: Path | None = None) -> ffmpeg.ProcessHandle:
    """A stand-in FFmpeg: ``sleep`` with the argv[0] marker and the tag, as hlsd spawns it."""
    return ledger.spawn(lambda progress_fd, list_fd: ["600"], SLEEP, tag=tag, cwd=cwd)


def plant_orphan(ledger: ProcessLedger, instance: str) -> ffmpeg.ProcessHandle:
    """What a SIGKILLed hlsd leaves: a tagged process and a run dir, its owner file naming
    a dead process. The owner file comes last, so a concurrent sweep either sees nothing
    to remove yet or removes the dir of a process that is already running."""
    gone = subprocess.Popen(["true"])
    start = psutil.Process(gone.pid).create_time()
    gone.wait(5)
    path = ledger.work_dir / instance
    run = path / "s0" / "r0"
    run.mkdir(parents=True)
    (run / "0.ts").write_bytes(b"stale")
    tag = replace(ledger.tag("s0", "r0", instance=instance), owner_pid=gone.pid, owner_start=start)
    orphan = tagged_sleep(ledger, tag, cwd=run)
    (path / ffmpeg.OWNER_FILE).write_text(json.dumps({"pid": gone.pid, "start": start}))
    return orphan


def finish_run(ledger: ProcessLedger, handle: ffmpeg.ProcessHandle) -> None:
    """What a transcoder does at the end of a run: stop (harmless if exited), remove dirs."""
    ffmpeg.stop_process_group(handle, 1.0)
    tag = handle.tag
    assert ffmpeg.remove_run_dir(ledger.work_dir, tag.instance, tag.session, tag.run)
    ffmpeg.release_instance_dir(ledger.work_dir, tag.instance)
