"""The one OS seam for FFmpeg processes: spawn, watch, stop, sweep.

Every process hlsd starts goes through here, so tests can swap in fake FFmpeg scripts
that misbehave on purpose while the rest of hlsd uses the real thing. It implements the
three layers of "no orphaned FFmpeg" (DESIGN.md):

1. **Graceful stop.** ``stop_process_group`` sends SIGTERM (and SIGCONT, for a suspended
   process) to the group, waits on the pidfd until ``grace``, then SIGKILLs the group and
   reaps. Whoever reaps a leader SIGKILLs its group first, while the zombie leader still
   pins the group id, so no grandchild outlives FFmpeg and no reused id is ever signalled.
2. **Link.** ``spawn`` sets ``PR_SET_PDEATHSIG = SIGKILL`` in the child, so the kernel
   kills FFmpeg when the *thread* that spawned it ends, or the whole server dies.
3. **Sweep.** Every process carries a ``Tag`` (argv[0] ``ARGV0_MARKER`` and ``HLSD_*``
   environment variables); ``sweep`` kills tagged processes whose owner is gone or whose
   run is no longer live, and removes the work dirs no live run owns.

Interface::

    Tag(work_dir, instance, session, run, owner_pid, owner_start)
        Tag.for_this_process(work_dir, instance, session, run) -> Tag
    spawn(build_argv: (progress_fd, segment_list_fd) -> args, tag, cwd, executable)
        -> ProcessHandle(pid, pidfd, popen, tag, started, returncode, stderr_tail(), close())
    ProcessWatcher(): start(), watch(handle, on_event), stop(timeout) -> bool, is_alive()
        events: ProgressReported(pid, fields), SegmentListed(pid, line),
                ProcessExited(pid, returncode, stderr_tail)  -- once, after the pipes drained
    stop_process_group(handle, grace) -> StopReport(signal, elapsed, returncode)
    suspend(handle) -> bool, resume(handle) -> bool
    find_tagged(work_dir=None, instance=None) -> list[TaggedProcess(pid, create_time, tag)]
    owner_alive(tag) -> bool
    terminate_tagged(process, grace) -> bool
    sweep(work_dir, instance, live_runs: () -> runs, grace) -> SweepReport(killed, dirs_removed)
    claim_instance_dir(work_dir, instance) -> Path, release_instance_dir(work_dir, instance)
    run_dir(work_dir, instance, session, run) -> Path, remove_run_dir(...) -> bool

Work-dir layout: ``work_dir/<instance>/owner.json`` holds ``{"pid", "start"}`` of the
hlsd process; each FFmpeg run writes into ``work_dir/<instance>/<session>/<run>/``.

Threads: ``spawn`` must run on the owning actor's thread (the link is to that thread);
``stop_process_group``, ``suspend`` and ``resume`` on the owner's thread too. The
watcher's one thread, ``procs-watcher``, reads every pipe and pidfd and calls
``on_event``. The sweep functions run on any thread and block for at most
``grace + KILL_WAIT``.
"""
from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import queue
import select
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection

import psutil

log = logging.getLogger(__name__)

ARGV0_MARKER = "hlsd-ffmpeg"
ENV_WORK_DIR = "HLSD_WORK_DIR"
ENV_INSTANCE = "HLSD_INSTANCE"
ENV_SESSION = "HLSD_SESSION"
ENV_RUN = "HLSD_RUN"
ENV_OWNER_PID = "HLSD_OWNER_PID"
ENV_OWNER_START = "HLSD_OWNER_START"
OWNER_FILE = "owner.json"

STDERR_TAIL_LINES = 40
# How long the kernel may take to finish a SIGKILLed process (uninterruptible I/O).
KILL_WAIT = 1.0
# create_time is boot time + start ticks, and boot time moves with NTP: compare loosely.
# A pid reused within a second of the original's start would need a full pid wrap-around.
START_TOLERANCE = 1.0

_READ_SIZE = 65536
_MAX_LINE = 65536
# Bounds the drain after exit, which a grandchild still writing could otherwise prolong.
_DRAIN_READS = 64

_PR_SET_PDEATHSIG = 1
# Loaded before any fork: a child between fork and exec must not load libraries.
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int


# --- tags -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Tag:
    """Who a process belongs to; carried in its environment so a sweep can find it."""

    work_dir: str
    instance: str
    session: str
    run: str
    owner_pid: int
    owner_start: float

    @classmethod
    def for_this_process(cls, work_dir: Path, instance: str, session: str, run: str) -> Tag:
        return cls(str(work_dir.resolve()), instance, session, run, os.getpid(), _own_start())

    def environ(self) -> dict[str, str]:
        return {
            ENV_WORK_DIR: self.work_dir,
            ENV_INSTANCE: self.instance,
            ENV_SESSION: self.session,
            ENV_RUN: self.run,
            ENV_OWNER_PID: str(self.owner_pid),
            ENV_OWNER_START: repr(self.owner_start),
        }

    @classmethod
    def from_environ(cls, environ: dict[str, str]) -> Tag | None:
        """The tag in a process's environment, or None if it has none (or a broken one)."""
        try:
            tag = cls(environ[ENV_WORK_DIR], environ[ENV_INSTANCE], environ[ENV_SESSION],
                      environ[ENV_RUN], int(environ[ENV_OWNER_PID]),
                      float(environ[ENV_OWNER_START]))
        except (KeyError, ValueError):
            return None
        return tag if tag.owner_pid > 0 else None


def _own_start() -> float:
    return psutil.Process().create_time()


def _same_start(a: float, b: float) -> bool:
    return abs(a - b) < START_TOLERANCE


def _alive(pid: int, start: float) -> bool:
    """True if ``pid`` is still the process that started at ``start`` and not a zombie."""
    try:
        process = psutil.Process(pid)
        return _same_start(process.create_time(), start) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # cannot tell, so never treat it as dead


def owner_alive(tag: Tag) -> bool:
    """True while the hlsd process that spawned the tagged process still runs."""
    return _alive(tag.owner_pid, tag.owner_start)


# --- spawning -------------------------------------------------------------------------

class ProcessHandle:
    """One spawned process group and the parent's ends of its pipes.

    Owned by the spawning thread. The watcher thread fills the stderr tail, which any
    thread may read. ``close`` (done by ``stop_process_group`` once reaped) frees the fds.
    """

    def __init__(self, popen: subprocess.Popen[bytes], tag: Tag, pidfd: int,
                 pipes: tuple[int, int, int]) -> None:
        self.popen = popen
        self.tag = tag
        self.pidfd = pidfd
        self.progress_fd, self.segment_list_fd, self.stderr_fd = pipes
        self.started = time.monotonic()
        self.closed = False
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._stderr_lock = threading.Lock()
        # Held while signalling the group and while reaping its leader: an unreaped
        # leader keeps the group id from being reused, so a signal never hits strangers.
        self._reap_lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped (negative: killed by that signal), else None."""
        return self.popen.returncode

    def stderr_tail(self) -> list[str]:
        with self._stderr_lock:
            return list(self._stderr)

    def _add_stderr(self, line: str) -> None:
        with self._stderr_lock:
            self._stderr.append(line)

    def close(self) -> None:
        """Close the parent's fds; harmless to repeat."""
        if not self.closed:
            self.closed = True
            _close_all((self.pidfd, self.progress_fd, self.segment_list_fd, self.stderr_fd))


def spawn(build_argv: Callable[[int, int], list[str]], tag: Tag, cwd: Path,
          executable: str) -> ProcessHandle:
    """Start ``executable`` as the tagged leader of a new process group, linked to this thread.

    ``build_argv(progress_fd, segment_list_fd)`` returns the arguments after argv[0]; the
    process may write ``-progress`` output to the first fd and its segment list to the
    second. Call it from the owning actor's thread: the kernel SIGKILLs the process when
    that thread ends.
    """
    progress_r, progress_w = os.pipe()
    list_r, list_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    pipes = (progress_r, list_r, stderr_r)
    try:
        popen = subprocess.Popen(
            [ARGV0_MARKER, *build_argv(progress_w, list_w)], executable=executable,
            cwd=cwd, env={**os.environ, **tag.environ()}, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr_w, close_fds=True,
            pass_fds=(progress_w, list_w), start_new_session=True,
            preexec_fn=_link_to_parent(os.getpid()))
    except BaseException:
        _close_all(pipes)
        raise
    finally:
        _close_all((progress_w, list_w, stderr_w))
    for fd in pipes:
        os.set_blocking(fd, False)
    return ProcessHandle(popen, tag, _pidfd_or_kill(popen, pipes), pipes)


def _link_to_parent(parent_pid: int) -> Callable[[], None]:
    def link() -> None:
        # Runs in the child between fork and exec, so: no imports, no allocation-heavy work.
        if _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL.value, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent died before the link was made
    return link


def _pidfd_or_kill(popen: subprocess.Popen[bytes], pipes: tuple[int, ...]) -> int:
    try:
        return os.pidfd_open(popen.pid)
    except OSError:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(KILL_WAIT)
        _close_all(pipes)
        raise


def _close_all(fds: Collection[int]) -> None:
    for fd in fds:
        os.close(fd)


# --- stopping -------------------------------------------------------------------------

@dataclass(frozen=True)
class StopReport:
    """How a stop went. ``signal`` is the strongest one that was needed."""

    signal: str  # "none" (it had exited already), "SIGTERM" or "SIGKILL"
    elapsed: float
    returncode: int | None  # None only if it outlived SIGKILL by KILL_WAIT


def stop_process_group(handle: ProcessHandle, grace: float) -> StopReport:
    """SIGTERM the group, wait up to ``grace``, SIGKILL it, reap; then close the handle.

    Safe to call when the process has exited, was reaped by the watcher, or was already
    stopped. Blocks for at most ``grace + KILL_WAIT``.
    """
    started = time.monotonic()
    if handle.closed:
        return StopReport("none", 0.0, handle.returncode)
    sent = "none"
    if not _exited_by(handle.pidfd, started):
        sent = _terminate_group(handle, started + grace)
    if not _exited_by(handle.pidfd, time.monotonic()):
        return StopReport(sent, time.monotonic() - started, None)
    returncode = _reap(handle)
    handle.close()
    return StopReport(sent, time.monotonic() - started, returncode)


def _terminate_group(handle: ProcessHandle, deadline: float) -> str:
    _signal_group(handle, signal.SIGTERM)
    _signal_group(handle, signal.SIGCONT)  # a suspended process acts on SIGTERM only once continued
    if _exited_by(handle.pidfd, deadline):
        return "SIGTERM"
    _signal_group(handle, signal.SIGKILL)
    _exited_by(handle.pidfd, time.monotonic() + KILL_WAIT)
    return "SIGKILL"


def suspend(handle: ProcessHandle) -> bool:
    """SIGSTOP the group (a paused player); False if the process is already reaped."""
    return _signal_group(handle, signal.SIGSTOP)


def resume(handle: ProcessHandle) -> bool:
    """SIGCONT the group; False if the process is already reaped."""
    return _signal_group(handle, signal.SIGCONT)


def _signal_group(handle: ProcessHandle, sig: signal.Signals) -> bool:
    with handle._reap_lock:
        if handle.returncode is not None:
            return False
        _killpg(handle.pid, sig)
        return True


def _reap(handle: ProcessHandle) -> int:
    """Kill what is left of the group, then reap the leader, which must have exited."""
    with handle._reap_lock:
        if handle.returncode is None:
            _killpg(handle.pid, signal.SIGKILL)
            # The pidfd was readable: the whole thread group has exited, so no waiting here.
            return handle.popen.wait()
        return handle.returncode


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # the group is already empty


def _exited_by(pidfd: int, deadline: float) -> bool:
    """Wait until the process exits or the deadline passes (a past deadline: just look)."""
    return not _unexited([pidfd], deadline)


def _unexited(pidfds: Collection[int], deadline: float) -> set[int]:
    """Wait until every pidfd is readable (its process exited) or the deadline passes."""
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    waiting = set(pidfds)
    while waiting:
        ready = poller.poll(max(0.0, deadline - time.monotonic()) * 1000)
        if not ready:
            break
        for fd, _ in ready:
            waiting.discard(fd)
            poller.unregister(fd)
    return waiting


# --- watching -------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgressReported:
    """One ``-progress`` block, up to and including its ``progress=continue|end`` line."""

    pid: int
    fields: dict[str, str]


@dataclass(frozen=True)
class SegmentListed:
    """One line of the segment list: a segment is complete."""

    pid: int
    line: str


@dataclass(frozen=True)
class ProcessExited:
    """The process has exited and been reaped; sent once, after all its output."""

    pid: int
    returncode: int
    stderr_tail: tuple[str, ...]


ProcessEvent = ProgressReported | SegmentListed | ProcessExited


class _LineStream:
    """The watcher's end of one pipe: reads what is there, hands on complete lines."""

    def __init__(self, fd: int, on_line: Callable[[str], None]) -> None:
        self.fd = fd
        self.on_line = on_line
        self._partial = b""

    def read(self) -> bool:
        """Read once without blocking; False at end of file."""
        chunk = self._read_chunk()
        if chunk is not None:
            self._feed(chunk)
        return chunk != b""

    def drain(self) -> None:
        """Read everything already in the pipe, then hand on an unterminated last line."""
        for _ in range(_DRAIN_READS):
            chunk = self._read_chunk()
            if not chunk:
                break
            self._feed(chunk)
        self._emit(self._partial)
        self._partial = b""

    def _read_chunk(self) -> bytes | None:
        """Bytes, b"" at end of file, or None when the pipe is empty for now."""
        try:
            return os.read(self.fd, _READ_SIZE)
        except BlockingIOError:
            return None

    def _feed(self, chunk: bytes) -> None:
        # FFmpeg ends its stderr status lines with \r.
        *lines, self._partial = (self._partial + chunk).replace(b"\r", b"\n").split(b"\n")
        if len(self._partial) > _MAX_LINE:
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            self._emit(line)

    def _emit(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip()
        if text:
            self.on_line(text)


class _Watched:
    """The watcher thread's state for one process; its fds are dups the watcher owns."""

    def __init__(self, handle: ProcessHandle, on_event: Callable[[ProcessEvent], None]) -> None:
        if handle.closed:
            raise ValueError(f"process {handle.pid} is already closed")
        self.handle = handle
        self.on_event = on_event
        self.pidfd = os.dup(handle.pidfd)
        self.streams = [
            _LineStream(os.dup(handle.progress_fd), self._progress_line),
            _LineStream(os.dup(handle.segment_list_fd), self._segment_line),
            _LineStream(os.dup(handle.stderr_fd), handle._add_stderr),
        ]
        self._progress: dict[str, str] = {}

    def deliver(self, event: ProcessEvent) -> None:
        try:
            self.on_event(event)
        except Exception:  # e.g. a tell to an actor that has died: the watcher serves all
            log.warning("could not deliver %r", event, exc_info=True)

    def _progress_line(self, line: str) -> None:
        key, _, value = line.partition("=")
        self._progress[key] = value
        if key == "progress":
            self.deliver(ProgressReported(self.handle.pid, self._progress))
            self._progress = {}

    def _segment_line(self, line: str) -> None:
        self.deliver(SegmentListed(self.handle.pid, line))


class ProcessWatcher:
    """One thread, ``procs-watcher``, that drains every process's pipes and sees it exit.

    ``watch`` may be called from any thread; ``on_event`` is called on the watcher
    thread, so it should only hand the event on (``actor_ref.tell``). After ``stop``,
    no more events are delivered; processes still running are not touched.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._selector.register(self._wake_fd, selectors.EVENT_READ, self._take_new)
        self._new: queue.SimpleQueue[_Watched] = queue.SimpleQueue()
        self._watched: set[_Watched] = set()
        self._lock = threading.Lock()  # guards _open and the wake fd's life
        self._open = True
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="procs-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def watch(self, handle: ProcessHandle, on_event: Callable[[ProcessEvent], None]) -> None:
        """Deliver ``handle``'s events to ``on_event`` until its ``ProcessExited``."""
        watched = _Watched(handle, on_event)
        with self._lock:
            if not self._open:
                _close_watched(watched)
                raise RuntimeError("the process watcher has stopped")
            self._new.put(watched)
            os.eventfd_write(self._wake_fd, 1)

    def stop(self, timeout: float) -> bool:
        """End the thread and close its fds; False if it did not end within ``timeout``."""
        with self._lock:
            if self._open:
                self._stopping = True
                os.eventfd_write(self._wake_fd, 1)
        if self._thread.ident is None:
            self._close_everything()
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stopping:
                for key, _ in self._selector.select():
                    key.data()
        except Exception:
            log.exception("process watcher failed; its processes are no longer watched")
        finally:
            self._close_everything()

    def _take_new(self) -> None:
        os.eventfd_read(self._wake_fd)
        while not self._new.empty():
            watched = self._new.get()
            self._watched.add(watched)
            self._selector.register(watched.pidfd, selectors.EVENT_READ,
                                    functools.partial(self._finish, watched))
            for stream in watched.streams:
                self._selector.register(stream.fd, selectors.EVENT_READ,
                                        functools.partial(self._read, watched, stream))

    # One select() can report an fd that an earlier callback of the same batch closed
    # (and another thread's dup may already reuse its number): check it is still ours.
    def _read(self, watched: _Watched, stream: _LineStream) -> None:
        if stream in watched.streams and not stream.read():
            self._forget_stream(watched, stream)

    def _finish(self, watched: _Watched) -> None:
        if watched not in self._watched:
            return
        for stream in list(watched.streams):
            stream.drain()
            self._forget_stream(watched, stream)
        self._selector.unregister(watched.pidfd)
        os.close(watched.pidfd)
        self._watched.discard(watched)
        returncode = _reap(watched.handle)
        watched.deliver(ProcessExited(watched.handle.pid, returncode,
                                      tuple(watched.handle.stderr_tail())))

    def _forget_stream(self, watched: _Watched, stream: _LineStream) -> None:
        self._selector.unregister(stream.fd)
        os.close(stream.fd)
        watched.streams.remove(stream)

    def _close_everything(self) -> None:
        with self._lock:
            if not self._open:
                return
            self._open = False
            os.close(self._wake_fd)
        while not self._new.empty():
            self._watched.add(self._new.get())
        for watched in self._watched:
            _close_watched(watched)
        self._watched.clear()
        self._selector.close()


def _close_watched(watched: _Watched) -> None:
    _close_all([watched.pidfd, *(stream.fd for stream in watched.streams)])


# --- sweeping -------------------------------------------------------------------------

@dataclass(frozen=True)
class TaggedProcess:
    """A process found carrying a tag; ``create_time`` pins its identity against pid reuse."""

    pid: int
    create_time: float
    tag: Tag


@dataclass(frozen=True)
class SweepReport:
    killed: int
    dirs_removed: int


def find_tagged(work_dir: Path | None = None, instance: str | None = None) -> list[TaggedProcess]:
    """Every live process spawned by some hlsd (for ``work_dir``/``instance`` if given)."""
    wanted_dir = str(work_dir.resolve()) if work_dir is not None else None
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "environ", "create_time"]):
        tagged = _tagged(process.info)
        if (tagged is not None and wanted_dir in (None, tagged.tag.work_dir)
                and instance in (None, tagged.tag.instance)):
            found.append(tagged)
    return found


def _tagged(info: dict[str, Any]) -> TaggedProcess | None:
    # psutil leaves None for what it may not read (AccessDenied, zombies).
    cmdline, environ, create_time = info["cmdline"], info["environ"], info["create_time"]
    if not (isinstance(cmdline, list) and cmdline and cmdline[0] == ARGV0_MARKER):
        return None
    tag = Tag.from_environ(environ) if isinstance(environ, dict) else None
    if tag is None or not isinstance(create_time, float):
        return None
    return TaggedProcess(info["pid"], create_time, tag)


def terminate_tagged(process: TaggedProcess, grace: float) -> bool:
    """SIGTERM its group, wait up to ``grace``, SIGKILL the group; True if it is now gone.

    Before every signal the pid's create_time is checked again, so a reused pid is never
    signalled. A group is signalled only while its leader is that same process (alive or
    an unreaped zombie): the kernel cannot reuse a pid that still names a process.
    """
    return _terminate_all([process], grace) == 1


@dataclass(frozen=True)
class _Target:
    process: TaggedProcess
    pidfd: int
    leads_group: bool


def _terminate_all(processes: Collection[TaggedProcess], grace: float) -> int:
    """Terminate all at once, with one deadline; return how many are gone."""
    targets = [target for target in map(_open_target, processes) if target is not None]
    try:
        for target in targets:
            _signal_target(target, signal.SIGTERM)
            _signal_target(target, signal.SIGCONT)
        _survivors(targets, time.monotonic() + grace)
        for target in targets:  # also takes the grandchildren of those that obeyed SIGTERM
            _signal_target(target, signal.SIGKILL)
        return len(targets) - len(_survivors(targets, time.monotonic() + KILL_WAIT))
    finally:
        _close_all([target.pidfd for target in targets])


def _open_target(process: TaggedProcess) -> _Target | None:
    try:
        pidfd = os.pidfd_open(process.pid)
    except ProcessLookupError:
        return None
    if not _is_same(process):  # the pid was reused before the pidfd pinned it
        os.close(pidfd)
        return None
    return _Target(process, pidfd, _leads_group(process.pid))


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _is_same(process: TaggedProcess) -> bool:
    try:
        return _same_start(psutil.Process(process.pid).create_time(), process.create_time)
    except psutil.NoSuchProcess:
        return False


def _signal_target(target: _Target, sig: signal.Signals) -> None:
    if not _is_same(target.process):
        return
    if target.leads_group:
        _killpg(target.process.pid, sig)
        return
    try:
        signal.pidfd_send_signal(target.pidfd, sig)
    except ProcessLookupError:
        pass  # exited meanwhile


def _survivors(targets: list[_Target], deadline: float) -> list[_Target]:
    unexited = _unexited([target.pidfd for target in targets], deadline)
    return [target for target in targets if target.pidfd in unexited]


def sweep(work_dir: Path, instance: str, live_runs: Callable[[], Collection[str]],
          grace: float) -> SweepReport:
    """Kill what no live run owns, under ``work_dir``; remove the dirs it leaves.

    Killed: tagged processes of another instance whose owner is dead, and of ``instance``
    whose run is not live. Removed: run dirs of ``instance`` that are not live (and then
    empty session dirs), and whole instance dirs whose owner is dead. ``live_runs`` is
    called after processes and dirs are listed, so a run that starts during the sweep is
    never mistaken for a dead one.
    """
    work_dir = work_dir.resolve()
    processes = find_tagged(work_dir)
    runs = _run_dirs(work_dir, instance)
    instances = _other_instance_dirs(work_dir, instance)
    live = set(live_runs())
    killed = _terminate_all([p for p in processes if _is_stale(p, instance, live)], grace)
    stale_runs = [path for path in runs if path.name not in live and _remove_tree(path)]
    for session in {path.parent for path in stale_runs}:
        _remove_if_empty(session)
    dead_instances = [path for path in instances if _owner_dead(path) and _remove_tree(path)]
    return SweepReport(killed, len(stale_runs) + len(dead_instances))


def _is_stale(process: TaggedProcess, instance: str, live_runs: set[str]) -> bool:
    if process.tag.instance == instance:
        return process.tag.run not in live_runs
    return not owner_alive(process.tag)


# --- work dirs ------------------------------------------------------------------------

def instance_dir(work_dir: Path, instance: str) -> Path:
    return work_dir / _component(instance)


def run_dir(work_dir: Path, instance: str, session: str, run: str) -> Path:
    """Where one FFmpeg run writes (not created here)."""
    return instance_dir(work_dir, instance) / _component(session) / _component(run)


def claim_instance_dir(work_dir: Path, instance: str) -> Path:
    """Create this instance's dir and record this process as its owner."""
    path = instance_dir(work_dir, instance)
    path.mkdir(parents=True, exist_ok=True)
    owner = _read_owner(path)
    if owner is not None and owner[0] != os.getpid() and _alive(*owner):
        raise FileExistsError(f"instance dir {path} is in use by pid {owner[0]}")
    temporary = path / f".{OWNER_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps({"pid": os.getpid(), "start": _own_start()}))
    os.replace(temporary, path / OWNER_FILE)  # a reader never sees half a file
    return path


def release_instance_dir(work_dir: Path, instance: str) -> bool:
    """Remove this instance's dir at a clean shutdown."""
    return _remove_tree(instance_dir(work_dir, instance))


def remove_run_dir(work_dir: Path, instance: str, session: str, run: str) -> bool:
    """Remove a finished run's dir, and its session dir once empty."""
    path = run_dir(work_dir, instance, session, run)
    removed = _remove_tree(path)
    _remove_if_empty(path.parent)
    return removed


def _component(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"{name!r} cannot be a work-dir path component")
    return name


def _subdirs(path: Path) -> list[Path]:
    """Real subdirectories only: symlinks are never followed out of the work dir."""
    try:
        with os.scandir(path) as entries:
            return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _run_dirs(work_dir: Path, instance: str) -> list[Path]:
    own = instance_dir(work_dir, instance)
    if own.is_symlink():
        return []
    return [run for session in _subdirs(own) for run in _subdirs(session)]


def _other_instance_dirs(work_dir: Path, instance: str) -> list[Path]:
    return [path for path in _subdirs(work_dir) if path.name != instance]


def _read_owner(path: Path) -> tuple[int, float] | None:
    try:
        owner = json.loads((path / OWNER_FILE).read_text())
        return int(owner["pid"]), float(owner["start"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("ignoring %s: unreadable %s (%s)", path, OWNER_FILE, error)
        return None


def _owner_dead(path: Path) -> bool:
    # A dir without an owner file is being claimed right now, or is not ours: keep it.
    owner = _read_owner(path)
    return owner is not None and not _alive(*owner)


def _remove_tree(path: Path) -> bool:
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        shutil.rmtree(path)  # never follows symlinks inside, fd-based on Linux
    except OSError as error:
        log.warning("could not remove %s: %s", path, error)
        return False
    return True


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass  # not empty (a new run is starting in it) or already gone
