"""Row 5: the orphan window -- hlsd SIGKILLed with 10 FFmpeg runs -> the last one gone.

Ten sessions each run a 720p transcode; their FFmpeg pids are held as pidfds. hlsd is
SIGKILLed (by its pid); the kernel's ``PR_SET_PDEATHSIG`` must end every FFmpeg. This
process is a child subreaper (``bench.common.become_subreaper``), so the orphans are
reparented here and reaped here: the window ends at the last pidfd's exit. A survivor
after the deadline is an error, and is killed by its pid.
"""
from __future__ import annotations

import os
import signal

import psutil

from bench import clips, hlsd
from bench.common import (
    Bench,
    Client,
    Line,
    Stats,
    Target,
    expect,
    now,
    pidfd,
    wait_exited,
)
from tests.helpers.server import Server

SESSIONS = 10
PROFILE = "720p"
DEADLINE = 5.0
TARGET = Target("max", 1.0, "hlsd", "max ≤ 1 s")


def run(bench: Bench) -> list[Line]:
    windows, errors, reaped, total = [], 0, 0, 0
    for _ in range(bench.repeats(5, 2)):
        window, survivors, reaped_here = _once(bench)
        errors += survivors
        reaped += reaped_here
        total += SESSIONS
        if window is not None:
            windows.append(window)
    return [Line("5", f"orphan window: hlsd SIGKILLed with {SESSIONS} FFmpeg → last gone", "s",
                 Stats(tuple(windows)) if windows else None, target=TARGET, errors=errors,
                 note=f"{reaped} of {total} FFmpeg came back to the bench (child subreaper) "
                      "and were reaped there")]


def _once(bench: Bench) -> tuple[float | None, int, int]:
    """The window of one kill (None if an FFmpeg survived), the survivors, and how many
    orphans this process reaped."""
    with hlsd.running(bench.scratch, bench.clips.root, max_sessions=SESSIONS * 2) as server:
        pids = _start_sessions(server, clips.SHORT.media_id)
        fds = {pid: fd for pid in pids if (fd := pidfd(pid)) is not None}
        try:
            killed = now()
            server.process.kill()
            exited = wait_exited(fds, killed + DEADLINE)
        finally:
            for fd in fds.values():
                os.close(fd)
        server.process.wait(DEADLINE)
    survivors = [pid for pid in fds if pid not in exited]
    reaped = _end(pids)
    window = max(exited.values()) - killed if exited and not survivors else None
    return window, len(survivors), reaped


def _start_sessions(server: Server, media_id: str) -> list[int]:
    pids = []
    with Client(hlsd.port(server)) as client:
        for _ in range(SESSIONS):
            session_id = expect(client.get(hlsd.master_path(media_id, PROFILE)), 200,
                                "master").headers["X-Session-Id"]
            pids.append(hlsd.start_ffmpeg(client, session_id, PROFILE))
    return pids


def _end(pids: list[int]) -> int:
    """Kill, by pid, any survivor; reap the orphans that came back to this subreaper."""
    reaped = 0
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                os.kill(pid, signal.SIGKILL)
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
        try:
            os.waitpid(pid, 0)
            reaped += 1
        except ChildProcessError:
            pass  # not reparented here: not ours to reap
    return reaped
