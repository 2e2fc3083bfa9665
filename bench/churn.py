"""Row 6: session churn, and what a session costs hlsd itself.

a), b) Viewers who open and leave, per second: ``POST /api/v1/sessions`` (copy, a short
   clip), segment 0 read (a session starts FFmpeg at its first segment request), then
   ``DELETE`` (204 once FFmpeg is gone and its files deleted), by one client and by four
   at once. Bounded by a count and by time; errors are failed viewers only.
c) Threads, RSS and open fds of the hlsd process (FFmpeg excluded: other processes) per
   open session that no one reads (its FFmpeg paused ahead of the player, or done),
   measured at 0 and at N sessions.
d) The same per idle session (``hls.idle_timeout`` passed: its transcoder stopped).
e) After every session is deleted: back to the baseline (SPEC invariant 6); the target is
   0 threads and 0 fds more than before (RSS is shown, not judged).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import psutil

from bench import clips, hlsd
from bench.common import Bench, Client, Line, Stats, Target, expect, now, wait_until
from tests.helpers.server import Server

PROFILE = "copy"
CLIENTS = 4
IDLE_TIMEOUT = 10.0
MAX_SECONDS = 30.0
LEAK_TARGET = Target("max", 0, subject="hlsd", text="0 threads, 0 fds more than before")


def run(bench: Bench) -> list[Line]:
    clip = clips.SMALL
    sessions = bench.pick(50, 20)
    with hlsd.running(bench.scratch, bench.clips.root, max_sessions=sessions + 50,
                      idle_timeout=IDLE_TIMEOUT) as server:
        port = hlsd.port(server)
        _churn(port, clip.media_id, 2, MAX_SECONDS)  # warm-up: probe cache, imports
        lines = [_rate("6a", "churn: create, segment 0, delete; 1 client", port, clip.media_id, 1,
                       bench.pick(150, 30)),
                 _rate("6b", f"churn: create, segment 0, delete; {CLIENTS} clients", port, clip.media_id,
                       CLIENTS, bench.pick(300, 60))]
        lines += _overhead(server, port, clip.media_id, sessions)
    return lines


def _rate(row: str, what: str, port: int, media_id: str, clients: int, total: int) -> Line:
    each = total // clients
    counts = [(0, 0)] * clients
    started = now()

    def client(i: int) -> None:
        counts[i] = _churn(port, media_id, each, MAX_SECONDS)

    threads = [threading.Thread(target=client, args=(i,), name=f"churn-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(MAX_SECONDS + 30)
    elapsed = now() - started
    done, failed = sum(c[0] for c in counts), sum(c[1] for c in counts)
    return Line(row, what, value=f"{done / elapsed:.1f} sessions/s ({done} in {elapsed:.1f} s)",
                errors=failed)


def _churn(port: int, media_id: str, count: int, max_seconds: float) -> tuple[int, int]:
    """Create and delete up to ``count`` sessions within ``max_seconds``: how many made it,
    and how many failed (an answer other than the one expected, or none)."""
    deadline = now() + max_seconds
    done = failed = 0
    with Client(port) as client:
        for _ in range(count):
            if now() >= deadline:
                break
            try:
                session_id = hlsd.open_session(client, media_id, PROFILE)
                expect(client.get(hlsd.segment_path(session_id, PROFILE, 0)), 200, "segment 0")
                hlsd.delete_session(client, session_id)
            except (RuntimeError, OSError):
                failed += 1
                continue
            done += 1
    return done, failed


@dataclass(frozen=True)
class Usage:
    threads: int
    rss: int
    fds: int

    @classmethod
    def of(cls, pid: int) -> Usage:
        process = psutil.Process(pid)
        with process.oneshot():
            return cls(process.num_threads(), process.memory_info().rss, process.num_fds())

    def left_over(self, base: Usage) -> int:
        """Threads and fds more than ``base`` (RSS is not counted: the allocator keeps
        freed memory)."""
        return max(0, self.threads - base.threads) + max(0, self.fds - base.fds)

    def back_to(self, base: Usage) -> bool:
        return self.left_over(base) == 0

    def per(self, base: Usage, count: int) -> str:
        return (f"{(self.threads - base.threads) / count:.2f} threads, "
                f"{(self.rss - base.rss) / count / 1024:.0f} KiB RSS, "
                f"{(self.fds - base.fds) / count:.2f} fds per session")


def _overhead(server: Server, port: int, media_id: str, count: int) -> list[Line]:
    _settle(server)
    base = Usage.of(server.pid)
    fds_before = open_fds(server.pid)
    with Client(port) as client:
        runs_before = hlsd.first_segment_metric(client)[1]
        ids = [hlsd.open_session(client, media_id, PROFILE) for _ in range(count)]
        for session_id in ids:  # as each one's player would: its first segment request
            hlsd.start_ffmpeg(client, session_id, PROFILE)
        wait_until(lambda: _all_paused(client, server, runs_before + count), 60, 0.1,
                   "ffmpeg runs paused or done")
        opened = Usage.of(server.pid)
        wait_until(lambda: _all_idle(client, ids), IDLE_TIMEOUT + 30, 0.2, "sessions idle")
        _settle(server)
        idle = Usage.of(server.pid)
        for session_id in ids:
            hlsd.delete_session(client, session_id)
    _settle(server)
    try:  # closed connections and ended threads go away asynchronously
        wait_until(lambda: Usage.of(server.pid).back_to(base), 10, 0.1, "hlsd back to its baseline")
    except TimeoutError:
        pass  # reported below, as errors
    after = Usage.of(server.pid)
    left = sorted(set(open_fds(server.pid).items()) - set(fds_before.items()))
    return [
        Line("6c", f"cost of an open session no one reads (FFmpeg paused or done), at 0 and {count}",
             value=opened.per(base, count)),
        Line("6d", f"cost of an idle session (after idle_timeout), at 0 and {count}",
             value=idle.per(base, count)),
        Line("6e", "after all sessions deleted, vs before", "threads and fds more",
             hlsd=Stats((after.left_over(base),)), target=LEAK_TARGET,
             value=f"threads {base.threads}→{after.threads}, RSS {base.rss / 2**20:.1f}→"
                   f"{after.rss / 2**20:.1f} MiB, fds {base.fds}→{after.fds}",
             note=("fds open after and not before: " + ", ".join(f"{fd} {what}" for fd, what in left)
                   if left else "")),
    ]


def open_fds(pid: int) -> dict[int, str]:
    """fd -> what it is (``socket``, ``pipe``, ``anon_inode:...``, or a file's name)."""
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        found[int(fd)] = target.split(":[")[0] if ":[" in target else os.path.basename(target)
    return found


def _settle(server: Server) -> None:
    """Until hlsd has no FFmpeg child left (each run has remuxed its short clip)."""
    wait_until(lambda: not _ffmpeg_children(server.pid), 60, 0.05, "ffmpeg runs finished")


def _ffmpeg_children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []


def _all_paused(client: Client, server: Server, runs: float) -> bool:
    """Every session's FFmpeg has made its first segment (hlsd's metric counts ``runs``),
    and is now suspended (hlsd pauses a run far ahead of its player; no one reads these)
    or finished."""
    return (hlsd.first_segment_metric(client)[1] >= runs
            and all(_status(p) in _QUIET for p in _ffmpeg_children(server.pid)))


_QUIET = (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE, "gone")


def _status(process: psutil.Process) -> str:
    try:
        return process.status()
    except psutil.NoSuchProcess:
        return "gone"


def _all_idle(client: Client, ids: list[str]) -> bool:
    states = expect(client.get("/api/v1/sessions"), 200, "sessions").json()
    return all(s["state"] == "idle" for s in states if s["id"] in set(ids))
