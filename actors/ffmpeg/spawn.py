"""Spawning FFmpeg: layer 2 of "no orphaned FFmpeg" (DESIGN.md), the kernel link.

``spawn`` starts a tagged process in its own process group with ``PR_SET_PDEATHSIG =
SIGKILL``, so the kernel kills it when the *thread* that spawned it ends, or the whole
server dies. It must run on the owning actor's thread. The process gets a ``-progress``
pipe and a segment-list pipe (their fds are handed to ``build_argv``) and a stderr pipe;
``ProcessHandle`` holds them and a pidfd for the watcher.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Collection

from actors.ffmpeg.tags import ARGV0_MARKER, Tag

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 40
# How long the kernel may take to finish a SIGKILLed process (uninterruptible I/O).
KILL_WAIT = 1.0

_PR_SET_PDEATHSIG = 1
# Loaded before any fork: a child between fork and exec must not load libraries.
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int


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
            close_all((self.pidfd, self.progress_fd, self.segment_list_fd, self.stderr_fd))


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
        close_all(pipes)
        raise
    finally:
        close_all((progress_w, list_w, stderr_w))
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
        close_all(pipes)
        raise


def close_all(fds: Collection[int]) -> None:
    for fd in fds:
        os.close(fd)


