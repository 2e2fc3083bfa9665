"""Stopping FFmpeg: layer 1 of "no orphaned FFmpeg" (DESIGN.md), the graceful stop.

``stop_process_group`` sends SIGTERM (and SIGCONT, for a suspended process) to the group,
waits on the pidfd until ``grace``, then SIGKILLs the group and reaps. Whoever reaps a
leader SIGKILLs its group first, while the zombie leader still pins the group id, so no
grandchild outlives FFmpeg and no reused id is ever signalled. ``suspend``/``resume``
pause a run (SIGSTOP/SIGCONT). All run on the owner's thread.
"""
from __future__ import annotations

import logging
import select
import signal
import time
from dataclasses import dataclass
from typing import Collection

from actors.ffmpeg.spawn import KILL_WAIT, ProcessHandle

log = logging.getLogger(__name__)


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
    returncode = handle.kill_and_reap()
    handle.close()
    return StopReport(sent, time.monotonic() - started, returncode)


def _terminate_group(handle: ProcessHandle, deadline: float) -> str:
    handle.signal_group(signal.SIGTERM)
    handle.signal_group(signal.SIGCONT)  # a suspended process acts on SIGTERM only once continued
    if _exited_by(handle.pidfd, deadline):
        return "SIGTERM"
    handle.signal_group(signal.SIGKILL)
    _exited_by(handle.pidfd, time.monotonic() + KILL_WAIT)
    return "SIGKILL"


def suspend(handle: ProcessHandle) -> bool:
    """SIGSTOP the group (a paused player); False if the process is already reaped."""
    return handle.signal_group(signal.SIGSTOP)


def resume(handle: ProcessHandle) -> bool:
    """SIGCONT the group; False if the process is already reaped."""
    return handle.signal_group(signal.SIGCONT)



def _exited_by(pidfd: int, deadline: float) -> bool:
    """Wait until the process exits or the deadline passes (a past deadline: just look)."""
    return not unexited([pidfd], deadline)


def unexited(pidfds: Collection[int], deadline: float) -> set[int]:
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


