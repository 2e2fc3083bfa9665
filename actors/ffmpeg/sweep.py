"""The sweep: layer 3 of "no orphaned FFmpeg" (DESIGN.md).

``sweep`` kills tagged processes whose owner is gone or whose run is no longer live, and
removes the work dirs no live run owns. Runs on any thread; blocks for at most
``grace + KILL_WAIT`` plus the process listing.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection

import psutil

from actors.ffmpeg.spawn import KILL_WAIT, close_all, killpg
from actors.ffmpeg.stop import unexited
from actors.ffmpeg.tags import ARGV0_MARKER, Tag, owner_alive, same_start
from actors.ffmpeg.workdirs import (
    other_instance_dirs,
    owner_dead,
    remove_if_empty,
    remove_tree,
    run_dirs,
)

log = logging.getLogger(__name__)


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
        close_all([target.pidfd for target in targets])


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
        return same_start(psutil.Process(process.pid).create_time(), process.create_time)
    except psutil.NoSuchProcess:
        return False


def _signal_target(target: _Target, sig: signal.Signals) -> None:
    if not _is_same(target.process):
        return
    if target.leads_group:
        killpg(target.process.pid, sig)
        return
    try:
        signal.pidfd_send_signal(target.pidfd, sig)
    except ProcessLookupError:
        pass  # exited meanwhile


def _survivors(targets: list[_Target], deadline: float) -> list[_Target]:
    waiting = unexited([target.pidfd for target in targets], deadline)
    return [target for target in targets if target.pidfd in waiting]


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
    runs = run_dirs(work_dir, instance)
    instances = other_instance_dirs(work_dir, instance)
    live = set(live_runs())
    killed = _terminate_all([p for p in processes if _is_stale(p, instance, live)], grace)
    stale_runs = [path for path in runs if path.name not in live and remove_tree(path)]
    for session in {path.parent for path in stale_runs}:
        remove_if_empty(session)
    dead_instances = [path for path in instances if owner_dead(path) and remove_tree(path)]
    return SweepReport(killed, len(stale_runs) + len(dead_instances))


def _is_stale(process: TaggedProcess, instance: str, live_runs: set[str]) -> bool:
    if process.tag.instance == instance:
        return process.tag.run not in live_runs
    return not owner_alive(process.tag)


