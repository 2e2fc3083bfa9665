"""Spawning FFmpeg: layer 2 of "no orphaned FFmpeg" (DESIGN.md), the kernel link.

``spawn`` starts a tagged process in its own process group with ``PR_SET_PDEATHSIG =
SIGKILL``, so the kernel kills it when the *thread* that spawned it ends, or the whole
server dies. It must run on the owning actor's thread. The process gets a ``-progress``
pipe and a segment-list pipe (their fds are handed to ``build_argv``) and a stderr pipe;
``ProcessHandle`` holds them and a pidfd for the watcher.

How: ``setpriv --pdeathsig KILL -- hlsd-ffmpeg ARGS`` (util-linux) sets the death signal
and execs the executable. With no ``preexec_fn``, ``subprocess`` spawns by ``vfork`` (or
``posix_spawn``) instead of forking a copy of the server: the parent thread waits only
until ``setpriv`` runs. The death signal belongs to the thread that spawned (it survives
``execve``). argv[0] stays ``ARGV0_MARKER``: ``setpriv`` execs by name, found through a
private directory put first on ``PATH`` that holds a ``hlsd-ffmpeg`` symlink to the
executable (a script gets its own path, as before: the kernel replaces a script's
argv[0] anyway, and scripts that need the marker ``exec -a`` it).

The race check: ``spawn`` returns only once the child has left ``setpriv`` (its
``/proc/PID/exe`` is no longer ``setpriv``), that is, once the death signal is set while
the spawning thread still lives; a child that did not get there within ``KILL_WAIT`` is
killed. What no check in the parent can cover - the whole server SIGKILLed in the
millisecond between ``vfork`` and ``setpriv``'s ``prctl`` - the start-up sweep covers
(layer 3: the tagged survivor of a dead owner is killed before the next hlsd serves).
"""
from __future__ import annotations

import hashlib
import logging
import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Collection

import psutil

from actors.ffmpeg.tags import ARGV0_MARKER, Tag

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 40
# How long the kernel may take to finish a SIGKILLed process (uninterruptible I/O).
KILL_WAIT = 1.0

SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
_SETPRIV_REAL = os.path.realpath(SETPRIV)
_EXEC_POLL = 0.0002  # s between looks at /proc/PID/exe while setpriv runs (~1 ms)
_links: dict[str, str] = {}
_links_lock = threading.Lock()


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
        self._process: psutil.Process | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped (negative: killed by that signal), else None."""
        return self.popen.returncode

    def signal_group(self, sig: signal.Signals) -> bool:
        """Send ``sig`` to the group; False if the leader is already reaped (the group id
        may belong to strangers by now)."""
        with self._reap_lock:
            if self.returncode is not None:
                return False
            killpg(self.pid, sig)
            return True

    def signal_leader(self, sig: int) -> bool:
        """Fault injection: ``sig`` to FFmpeg alone, as a crash or a stray kill would hit
        it; False if it is already reaped."""
        with self._reap_lock:
            if self.returncode is not None:
                return False
            os.kill(self.pid, sig)
            return True

    def kill_and_reap(self) -> int:
        """Kill what is left of the group, then reap the leader, which must have exited."""
        with self._reap_lock:
            if self.returncode is None:
                killpg(self.pid, signal.SIGKILL)
                # The pidfd was readable: the whole thread group has exited, no waiting here.
                return self.popen.wait()
            return self.returncode

    def usage(self) -> tuple[float, int] | None:
        """The leader's CPU percent since the last call and its RSS, or None once gone."""
        try:
            if self._process is None:
                self._process = psutil.Process(self.pid)
            with self._process.oneshot():
                return self._process.cpu_percent(None), self._process.memory_info().rss
        except psutil.Error:
            return None

    def stderr_tail(self) -> list[str]:
        with self._stderr_lock:
            return list(self._stderr)

    def _add_stderr(self, line: str) -> None:
        with self._stderr_lock:
            self._stderr.append(line)

    def take_pipes(self) -> tuple[int, int, int]:
        """Hand the three pipes (progress, segment list, stderr) to the caller, who closes
        them from now on (the watcher: no duplicates, so 5 fds per process, not 8)."""
        if self.closed or self.progress_fd < 0:
            raise ValueError(f"the pipes of process {self.pid} are closed or taken")
        pipes = (self.progress_fd, self.segment_list_fd, self.stderr_fd)
        self.progress_fd = self.segment_list_fd = self.stderr_fd = -1
        return pipes

    def close(self) -> None:
        """Close the parent's fds (the pipes unless taken); harmless to repeat."""
        if not self.closed:
            self.closed = True
            close_all([fd for fd in (self.pidfd, self.progress_fd, self.segment_list_fd,
                                     self.stderr_fd) if fd >= 0])


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
    name, path = _exec_name(executable)
    try:
        popen = subprocess.Popen(
            [SETPRIV, "--pdeathsig", "KILL", "--", name, *build_argv(progress_w, list_w)],
            cwd=cwd, env={**os.environ, **tag.environ(), "PATH": path},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr_w,
            close_fds=True, pass_fds=(progress_w, list_w), start_new_session=True)
    except BaseException:
        close_all(pipes)
        raise
    finally:
        close_all((progress_w, list_w, stderr_w))
    for fd in pipes:
        os.set_blocking(fd, False)
    pidfd = _pidfd_or_kill(popen, pipes)
    if not _left_setpriv(popen):
        _kill(popen, pidfd, pipes)
        raise OSError(f"{executable} was not started with its death signal within {KILL_WAIT} s")
    return ProcessHandle(popen, tag, pidfd, pipes)


def _exec_name(executable: str) -> tuple[str, str]:
    """What ``setpriv`` execs, and the ``PATH`` it looks it up in."""
    path = os.environ.get("PATH", os.defpath)
    executable = executable if os.sep in executable else shutil.which(executable) or executable
    with open(executable, "rb") as file:
        if file.read(2) == b"#!":
            return os.path.abspath(executable), path
    return ARGV0_MARKER, f"{_link_dir(os.path.realpath(executable))}{os.pathsep}{path}"


def _link_dir(real: str) -> str:
    """A directory (this user's only) whose ``ARGV0_MARKER`` is a symlink to ``real``."""
    with _links_lock:
        if real in _links:
            return _links[real]
        base = Path(tempfile.gettempdir()) / f"hlsd-argv0-{os.getuid()}"
        base.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(base)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise PermissionError(f"{base} is not a private directory of this user")
        folder = base / hashlib.sha256(real.encode()).hexdigest()[:16]
        folder.mkdir(mode=0o700, exist_ok=True)
        link = folder / ARGV0_MARKER
        if not link.is_symlink() or os.readlink(link) != real:
            temporary = folder / f".{ARGV0_MARKER}.{os.getpid()}.{threading.get_ident()}"
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(real)
            os.replace(temporary, link)  # atomic: a concurrent spawn sees old or new
        _links[real] = str(folder)
        return _links[real]


def _left_setpriv(popen: subprocess.Popen[bytes]) -> bool:
    """Wait (at most ``KILL_WAIT``) until the child runs the executable, or has exited
    (its exit is then reported like any other)."""
    deadline = time.monotonic() + KILL_WAIT
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{popen.pid}/exe") != _SETPRIV_REAL:
                return True
        except OSError:
            return True  # exited already (a zombie has no exe): the watcher reaps it
        time.sleep(_EXEC_POLL)
    return False


def _kill(popen: subprocess.Popen[bytes], pidfd: int, pipes: tuple[int, ...]) -> None:
    os.killpg(popen.pid, signal.SIGKILL)
    popen.wait(KILL_WAIT)
    close_all((pidfd, *pipes))


def _pidfd_or_kill(popen: subprocess.Popen[bytes], pipes: tuple[int, ...]) -> int:
    try:
        return os.pidfd_open(popen.pid)
    except OSError:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(KILL_WAIT)
        close_all(pipes)
        raise


def close_all(fds: Collection[int]) -> None:
    for fd in fds:
        os.close(fd)


def raise_open_files_limit() -> None:
    """Every running FFmpeg costs its owner 5 fds, every client a socket: soft = hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.info("open files limit raised from %d to %d", soft, hard)


def killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # the group is already empty
