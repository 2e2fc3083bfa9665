"""The chaos soak: simulated players and a fault injector against a real hlsd, for a while.

    python -m tests.chaos --minutes 10 --seed 42 [--clients 6] [--checkpoint 120]

Serves a small library with a real ``pserve`` (``tests.helpers.server``), FFmpeg paced by
``tests/faults/ffmpeg-faulty``. ``--clients`` threads play over HTTP on 127.0.0.1: each
episode opens a session, then plays, seeks, pauses, sends heartbeats, and ends by
stopping it or by vanishing (the idle timeout ends it). Meanwhile an injector fires
random faults (``POST /api/v1/faults``) and a monitor samples, every second, that every
FFmpeg and run dir belongs to a live transcoder, allowing ``kill_grace`` + 1 s (+ a
sampling margin) after its transcoder ends (invariants 1-2), and that the segment store
(small here, so that it evicts) holds only whole segments within its bound.

Every ``--checkpoint`` seconds, and at the end, the clients and the injector pause, every
session ends, and ``assert_invariants`` runs against the baseline taken at the start
(threads, fds, RSS). At the very end hlsd gets SIGTERM and must leave no FFmpeg and no
work dir. A 503 is retried after its Retry-After and a segment body cut short (hlsd
ends a segment it sent as FFmpeg wrote it that way when the run stops first) at once,
as hls.js does, within the patience. Violations: a request without an answer in time, an answer that is no clear
error (a 500, a bad body), an episode that neither played nor got a clear error, an
orphan, a stray dir, a failed checkpoint. The summary table is printed; the exit status
is 1 if there was any. The seed fixes every random choice (threads still interleave as
they will), so a failing run can be replayed with its ``--seed``.
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from actors.ffmpeg import STORE_DIR
from tests.chaos_tally import (FAULTS, LIBRARY, PATIENCE, REQUEST_TIMEOUT, SAMPLE_EVERY,
                               SAMPLE_MARGIN, SETTINGS, WHOLE_TREE_CRASH_EVERY, Report, Tally)
from tests.faults.invariants import (
    Baseline,
    assert_invariants,
    dir_problems,
    settle,
    tagged_processes,
    take_baseline,
    transcoders,
)
from tests.faults.players import CUT_SHORT, Answer, HttpClient
from tests.helpers.media import make_clip
from tests.helpers.procs import (own_children, persists_in_work_dir, reap_adopted, set_child_subreaper,
                                 store_problems)
from tests.helpers.server import Server, start_server


class Pausable(threading.Thread):
    """A soak thread that parks between steps while ``pause`` is set, until ``done``."""

    def __init__(self, name: str, soak: Soak) -> None:
        super().__init__(name=name, daemon=True)
        self.soak = soak
        self.parked = threading.Event()

    def wait_while_paused(self) -> bool:
        """False once the soak is over; otherwise returns when not paused."""
        while self.soak.pause.is_set() and not self.soak.done.is_set():
            self.parked.set()
            self.soak.done.wait(0.1)
        self.parked.clear()
        return not self.soak.done.is_set()


class Client(Pausable):
    """One simulated viewer: episode after episode until the soak ends."""

    def __init__(self, number: int, soak: Soak) -> None:
        super().__init__(f"chaos-client-{number}", soak)
        self.random = random.Random(f"{soak.seed}:client:{number}")
        self.http = HttpClient(soak.server.url, timeout=REQUEST_TIMEOUT)

    def run(self) -> None:
        while self.wait_while_paused():
            self.episode()

    def call(self, what: str, answer: Answer) -> Answer:
        self.soak.tally.answer(f"{self.name} {what}", answer)
        return answer

    def episode(self) -> None:
        media, profile, segments = self.random.choice(LIBRARY)
        start = self.random.choice([0.0, 0.0, self.random.uniform(0, segments - 2)])
        opened = self.call(f"open {media}", self.http.open(media, profile, start))
        if opened.status != 201:
            self.soak.tally.count("outcomes", "clear error" if opened.clear_error else "violation")
            return
        self.soak.tally.add("sessions")
        session = opened.json()["id"]
        position, played, error = int(start), 0, None
        for step in range(self.random.randint(2, 10)):
            action = "play" if step == 0 else self.random.choices(
                ["play", "seek", "pause", "heartbeat"], [6, 2, 1, 1])[0]
            if action == "play":
                count = min(self.random.randint(1, 6), segments - position)
                read, error = self.play(session, profile, position, count)
                position, played = position + read, played + read
            elif action == "seek":
                position = self.random.randrange(segments)
            elif action == "pause":
                self.pause(session)
            else:
                answer = self.call("heartbeat", self.http.heartbeat(session, float(position)))
                error = None if answer.ok else answer
            if error is not None or position >= segments or self.soak.pause.is_set():
                break
        self.finish(session, played, error)

    def play(self, session: str, profile: str, first: int, count: int) -> tuple[int, Answer | None]:
        for number in range(first, first + count):
            deadline = time.monotonic() + PATIENCE
            while True:
                answer = self.call(f"segment {number}", self.http.segment(session, profile, number))
                if answer.status == 200:
                    self.soak.tally.add("segments")
                    break
                # A 503 is retried after its Retry-After, a body cut short (a segment read
                # as FFmpeg wrote it, whose run ended first) at once, as hls.js does.
                if answer.status not in (503, CUT_SHORT) or time.monotonic() > deadline \
                        or self.soak.done.is_set():
                    return number - first, answer
                self.soak.tally.count("retried", "cut short" if answer.status == CUT_SHORT else "503")
                self.soak.done.wait(0.0 if answer.status == CUT_SHORT else
                                    min(answer.retry_after or 1.0, 1.0))
        return count, None

    def pause(self, session: str) -> None:
        self.call("pause", self.http.heartbeat(session, paused=True))
        self.soak.done.wait(self.random.uniform(0.5, 3.0))
        self.call("resume", self.http.heartbeat(session, paused=False))

    def finish(self, session: str, played: int, error: Answer | None) -> None:
        if played:
            outcome = "played"
        elif error is not None and error.clear_error:
            outcome = "clear error"
        else:
            outcome = "violation"
            self.soak.tally.violation(f"{self.name}: session {session} neither played nor got "
                                      f"a clear error ({error})")
        self.soak.tally.count("outcomes", outcome)
        if self.random.random() < 0.75:
            stopped = self.call("stop", self.http.stop(session))
            self.soak.tally.count("endings", "stopped" if stopped.ok else f"stop: {stopped.status}")
            if stopped.status not in (204, 404):
                self.soak.tally.violation(f"{self.name}: stop answered {stopped.status}")
        else:
            self.soak.tally.count("endings", "vanished")


class Injector(Pausable):
    """Fires a random fault every 1-3 s at a random session (or none)."""

    def __init__(self, soak: Soak) -> None:
        super().__init__("chaos-injector", soak)
        self.random = random.Random(f"{soak.seed}:faults")
        self.http = HttpClient(soak.server.url, timeout=REQUEST_TIMEOUT)
        self.last_tree_crash = time.monotonic()

    def run(self) -> None:
        while self.wait_while_paused():
            self.soak.done.wait(self.random.uniform(1.0, 3.0))
            if not self.soak.pause.is_set() and not self.soak.done.is_set():
                self.fire()

    def fire(self) -> None:
        fault = self.random.choices(list(FAULTS), list(FAULTS.values()))[0]
        listed = self.http.request("GET", "/api/v1/sessions")
        self.soak.tally.answer("list sessions", listed)
        ids = [s["id"] for s in listed.body] if listed.ok and isinstance(listed.body, list) else []
        session = self.random.choice(ids) if ids else None
        if fault == "crash_supervisor" and (session is None or self.random.random() < 0.2):
            if time.monotonic() - self.last_tree_crash < WHOLE_TREE_CRASH_EVERY:
                return  # the whole sessions supervisor: rarely, within the root's intensity
            self.last_tree_crash, session = time.monotonic(), None
        answer = self.http.fault(fault, session)
        self.soak.tally.answer(f"fault {fault}", answer)
        label = fault if fault != "crash_supervisor" else f"crash_supervisor ({'session' if session else 'all'})"
        self.soak.tally.count("faults", f"{label}: {answer.status}")


class Monitor(threading.Thread):
    """Samples invariants 1-2 every second while the soak runs."""

    def __init__(self, soak: Soak) -> None:
        super().__init__(name="chaos-monitor", daemon=True)
        self.soak = soak
        self.http = HttpClient(soak.server.url, timeout=REQUEST_TIMEOUT)
        self.grace = SETTINGS["kill_grace"] + 1 + SAMPLE_MARGIN
        self.first_seen: dict[Any, float] = {}
        self.reported: set[Any] = set()

    def run(self) -> None:
        while not self.soak.done.wait(SAMPLE_EVERY):
            self.sample()

    def sample(self) -> None:
        answer = self.http.request("GET", "/api/v1/tree")
        self.soak.tally.answer("tree", answer)
        if not answer.ok:
            return
        owners = transcoders(answer.json())
        server = self.soak.server
        now, seen = time.monotonic(), set()
        for process in tagged_processes(server.work_dir, server.pid):
            if owners.get(process.tag.run) != process.pid:
                seen.add(key := ("process", process.pid, process.create_time))
                self.judge(key, now, f"orphan: FFmpeg {process.pid} of run {process.tag.run}", "orphans")
        for problem in dir_problems(server.work_dir, server.instance, set(owners)):
            seen.add(key := ("dir", problem))
            self.judge(key, now, problem, "stray_dirs")
        for problem in store_problems(server.work_dir, SETTINGS["segment_store_bytes"]):
            seen.add(key := ("store", problem))
            self.judge(key, now, problem, "store_problems")
        kept = len(list((server.work_dir / STORE_DIR).glob("*.*")))
        with self.soak.tally.lock:
            self.soak.tally.store_most = max(self.soak.tally.store_most, kept)
        self.first_seen = {key: first for key, first in self.first_seen.items() if key in seen}

    def judge(self, key: Any, now: float, text: str, counter: str) -> None:
        first = self.first_seen.setdefault(key, now)
        if now - first > self.grace and key not in self.reported:
            self.reported.add(key)
            self.soak.tally.add(counter)
            self.soak.tally.violation(f"{text} (for {now - first:.1f} s)")


class Soak:
    def __init__(self, server: Server, seed: int, clients: int) -> None:
        self.server = server
        self.seed = seed
        self.tally = Tally()
        self.pause = threading.Event()
        self.done = threading.Event()
        self.clients = [Client(number, self) for number in range(clients)]
        self.injector = Injector(self)
        self.monitor = Monitor(self)

    def run(self, seconds: float, checkpoint: float, baseline: Baseline) -> None:
        workers = [*self.clients, self.injector]
        for thread in [*workers, self.monitor]:
            thread.start()
        try:
            deadline = time.monotonic() + seconds
            next_checkpoint = time.monotonic() + (checkpoint or seconds + 1)
            while not self.done.wait(max(0.0, min(deadline, next_checkpoint) - time.monotonic())):
                if time.monotonic() >= deadline:
                    break
                self.checkpoint(workers, baseline)
                next_checkpoint = time.monotonic() + checkpoint
            self.checkpoint(workers, baseline)
        finally:
            self.done.set()
            for thread in [*workers, self.monitor]:
                thread.join(REQUEST_TIMEOUT + 5)
                if thread.is_alive():
                    self.tally.violation(f"{thread.name} still running: a request did not return")

    def live_sessions(self) -> list[str]:
        listed = self.monitor.http.request("GET", "/api/v1/sessions")
        if not listed.ok or not isinstance(listed.body, list):
            return [f"cannot list sessions: {listed.status}"]
        return [session["id"] for session in listed.body]

    def checkpoint(self, workers: list[Pausable], baseline: Baseline) -> None:
        """Pause the clients and the injector, let every session end, check everything."""
        self.pause.set()
        try:
            quiet = time.monotonic() + REQUEST_TIMEOUT + PATIENCE + 10
            for worker in workers:
                if not worker.parked.wait(max(0.0, quiet - time.monotonic())):
                    self.tally.violation(f"checkpoint: {worker.name} did not pause")
            ended = SETTINGS["idle_timeout"] + SETTINGS["resume_window"] + SETTINGS["kill_grace"] + 10
            settle(self.live_sessions, ended, "every session ending (stopped, or idle after its client vanished)")
            assert_invariants(self.server, self.server.work_dir, baseline)
            self.tally.add("checkpoints")
        except AssertionError as failure:
            self.tally.violation(f"checkpoint: {failure}")
        finally:
            self.pause.clear()


def metric(server: Server, name: str) -> int:
    status, _, body = server.get("/metrics")
    for line in body.decode().splitlines() if status == 200 else []:
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return -1


def make_library(root: Path) -> Path:
    root.mkdir(parents=True)
    make_clip(root / "clip.mp4", 30, width=320, height=180, fps=25, gop=1)
    make_clip(root / "tiny.mp4", 20, width=160, height=90, fps=25, gop=1)
    return root


def run_soak(seconds: float, seed: int, clients: int = 6, checkpoint: float = 120.0) -> Report:
    """Run the soak; never raises for a violation (they are in the report)."""
    base = Path(tempfile.mkdtemp(prefix="hlsd-chaos-"))
    media = make_library(base / "media")
    children_before = set(own_children())
    set_child_subreaper(True)  # what a dying hlsd orphans comes back here, to be seen and reaped
    try:
        server = start_server(base, media, **SETTINGS)
        try:
            soak = Soak(server, seed, clients)
            soak.run(seconds, checkpoint, take_baseline(server))
            restarts = {"transcoders (metric)": metric(server, "hlsd_transcoder_restarts_total"),
                        "sessions supervisor (by root)": root_restarts(soak.monitor.http)}
            shutdown = sigterm(server, soak.tally)
        finally:
            if server.process.poll() is None:
                server.kill()
    finally:
        reap_adopted(set(own_children()) - children_before)
        set_child_subreaper(False)
    report = Report(seed, seconds, clients, soak.tally, restarts, shutdown)
    if report.violations:
        report.log = base / "hlsd.log"
    else:
        shutil.rmtree(base, ignore_errors=True)
    return report


def root_restarts(http: HttpClient) -> int:
    tree = http.request("GET", "/api/v1/tree")
    return tree.json().get("total_restarts", -1) if tree.ok else -1


def sigterm(server: Server, tally: Tally) -> str:
    """hlsd's orderly stop: it exits, leaving no FFmpeg and no work dir."""
    leftovers = [p.pid for p in tagged_processes(server.work_dir, server.pid)]
    try:
        code = server.stop()
    except AssertionError as failure:
        tally.violation(f"SIGTERM: {str(failure)[:300]}")
        return "did not exit in time"
    survivors = [p.pid for p in tagged_processes(server.work_dir, server.pid)]
    dirs = ([p for p in server.work_dir.iterdir() if not persists_in_work_dir(p)]
            if server.work_dir.exists() else [])
    if survivors or dirs:
        tally.violation(f"SIGTERM: left FFmpeg {survivors} and dirs {dirs}")
    return f"exit {code}, {len(leftovers)} FFmpeg before, {len(survivors)} after, {len(dirs)} dirs left"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=None, help="replay a run (default: from the clock)")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--checkpoint", type=float, default=120.0,
                        help="seconds between full invariant checks (0: only at the end)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    print(f"hlsd chaos soak: {args.minutes:g} min, seed {seed}, {args.clients} clients", flush=True)
    report = run_soak(args.minutes * 60, seed, args.clients, args.checkpoint)
    print(report.table())
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
