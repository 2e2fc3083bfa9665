"""SPEC.md's invariants as checks and fixtures that any suite can use.

The hlsd under test is either an ``HlsSystem`` running in the test process or a served
hlsd (``tests.helpers.server.Server``); ``hlsd_view`` wraps either in the same small
interface (its process, its tree, its instance). Every check is scoped to what *this*
test started: processes tagged with its work dir, its hlsd's own children, its dirs.

Checks:

- ``take_baseline(hlsd)``: threads, open fds and RSS of the hlsd process once its tree
  is up, before any session (the in-process hlsd is the test process itself).
- ``assert_invariants(hlsd, work_dir, baseline)``, with bounded waits:
  1. every FFmpeg tagged with ``work_dir`` is the process of a live transcoder of this
     instance (its run in the tree with that pid; in process, also in
     ``runtime.live``), one per run; no FFmpeg zombie left unreaped by hlsd; once all
     sessions have ended, no tagged process at all. Waits ``kill_grace`` + 2 s.
  2. every run dir under ``work_dir/<instance>`` is a live transcoder's run; nothing
     else under ``work_dir`` but the instance dir and its ``owner.json``; no empty
     session dir.
  6. once all sessions have ended: threads and open fds back to the baseline (waits
     ``SETTLE`` s), RSS within ``rss_tolerance`` of it.
  Invariants 3-5 are about time and are asserted where they happen: ``kill_hlsd`` times
  3 (FFmpeg dead within ``KILLED_WITHIN`` of a SIGKILLed hlsd), players time 4 and 5.

Fixtures are in ``tests.faults.fixtures`` (``tests/faults/conftest.py`` imports them;
another suite may import them too).
"""
from __future__ import annotations

import configparser
import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil

from actors import ffmpeg
from actors.system import HlsSystem
from tests.helpers.procs import persists_in_work_dir, store_problems, wait_all_exited
from tests.helpers.server import Server

FAULTS_DIR = Path(__file__).parent
# Real FFmpeg at 4x real time, or the fake that a media file's name asks for.
FAULTY_FFMPEG = str(FAULTS_DIR / "ffmpeg-faulty")
PROFILES = "\n copy copy\n 180p 180 200k 32k"
# Small segments and short timeouts, so that every fault and its recovery take seconds.
DEFAULTS: dict[str, Any] = {
    "ffmpeg": FAULTY_FFMPEG,
    "profiles": PROFILES,
    "segment_seconds": 1,
    "segment_wait": 10,
    "kill_grace": 1,
    "stall_timeout": 5,
    "idle_timeout": 60,
    "max_sessions": 60,
    # hls.ffmpeg here injects faults: the library scan must not run it for posters.
    "scan": "false",
}
FAKES = ("ffmpeg-ignoring-sigterm", "ffmpeg-failing-at-start", "ffmpeg-hanging", "ffmpeg-disk-full")
# Process names of real and fake FFmpeg (fakes are bash scripts that may exec sleep).
FFMPEG_NAMES = frozenset({"ffmpeg", "ffmpeg-faulty", "bash", "sleep"})
SETTLE = 10.0  # for threads and fds to return once the last session has ended
RSS_TOLERANCE = 64 * 2**20
UP_TIMEOUT = 10.0
KILLED_WITHIN = 1.0  # invariant 3


# --- the hlsd under test -------------------------------------------------------------------

class HlsdView:
    """What the checks need of an hlsd, in process or served."""

    pid: int
    instance: str
    kill_grace: float

    def tree(self) -> dict[str, Any]:
        raise NotImplementedError

    def live_runs(self) -> set[str] | None:
        """hlsd's own record of live runs, when the test can read it (in process)."""
        return None

    def thread_names(self) -> list[str]:
        return []


class InProcessHlsd(HlsdView):
    def __init__(self, system: HlsSystem) -> None:
        self.system = system
        self.pid = os.getpid()
        self.instance = system.settings.instance
        self.kill_grace = system.settings.kill_grace

    def tree(self) -> dict[str, Any]:
        return self.system.operators.tree()

    def live_runs(self) -> set[str]:
        return self.system.runtime.live.runs()

    def thread_names(self) -> list[str]:
        return sorted(t.name for t in threading.enumerate())


class ServedHlsd(HlsdView):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.pid = server.pid
        self.instance = server.instance
        ini = configparser.ConfigParser(interpolation=None)
        ini.read(server.ini)
        self.kill_grace = float(ini["app:main"]["hls.kill_grace"])

    def tree(self) -> dict[str, Any]:
        status, _, body = self.server.get("/api/v1/tree")  # with the operator's token, if any
        assert status == 200, (status, body[:200])
        return json.loads(body)


def hlsd_view(hlsd: HlsSystem | Server | HlsdView) -> HlsdView:
    if isinstance(hlsd, HlsdView):
        return hlsd
    if isinstance(hlsd, HlsSystem):
        return InProcessHlsd(hlsd)
    return ServedHlsd(hlsd)


def transcoders(tree: dict[str, Any]) -> dict[str, int | None]:
    """run -> FFmpeg pid of every live transcoder in the tree."""
    found = {}
    for node in _nodes(tree):
        if node.get("kind") == "transcoder" and node.get("run"):
            found[node["run"]] = node.get("pid")
    return found


def session_nodes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """The children of the sessions supervisor: live, restarting or stuck sessions."""
    sessions = next((n for n in tree.get("children", []) if n.get("name") == "sessions"), None)
    return [] if sessions is None else list(sessions.get("children", []))


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("children", []):
        yield from _nodes(child)


def wait_until_up(hlsd: HlsSystem | Server | HlsdView, timeout: float = UP_TIMEOUT) -> None:
    """Until root, timers, reaper and sessions all answer (actors start asynchronously)."""
    view = hlsd_view(hlsd)

    def up() -> bool:
        tree = view.tree()
        names = {n.get("name"): n.get("state") for n in tree.get("children", [])}
        return tree.get("state") == "alive" and names == dict.fromkeys(("timers", "reaper", "scanner", "sessions"), "alive")

    settle(lambda: [] if up() else ["the actor tree is not up"], timeout, "hlsd start")


# --- baseline and invariants ---------------------------------------------------------------

@dataclass(frozen=True)
class Baseline:
    threads: int
    fds: int
    rss: int
    thread_names: tuple[str, ...]
    fd_targets: tuple[str, ...]


def take_baseline(hlsd: HlsSystem | Server | HlsdView) -> Baseline:
    view = hlsd_view(hlsd)
    wait_until_up(view)
    process = psutil.Process(view.pid)
    return Baseline(process.num_threads(), process.num_fds(), process.memory_info().rss,
                    tuple(view.thread_names()), tuple(fd_targets(view.pid)))


def fd_targets(pid: int) -> list[str]:
    found = []
    with contextlib.suppress(FileNotFoundError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return sorted(found)


def assert_invariants(hlsd: HlsSystem | Server | HlsdView, work_dir: Path, baseline: Baseline,
                      *, sessions_ended: bool = True, rss_tolerance: int = RSS_TOLERANCE,
                      settle_for: float = SETTLE) -> None:
    """Invariants 1, 2 and 6 (see the module docstring). ``sessions_ended``: the test has
    stopped every session, so nothing of any session may remain; otherwise only what
    live transcoders own may exist, and resources are not compared. ``settle_for``: how
    long threads and fds may take to return to the baseline."""
    view = hlsd_view(hlsd)
    if sessions_ended:
        settle(lambda: [f"session {n['name']} still alive ({n.get('state')})"
                        for n in session_nodes(view.tree())], view.kill_grace + 10, "sessions ending")
    settle(lambda: ownership_problems(view, work_dir, sessions_ended), view.kill_grace + 2,
           "invariants 1-2 (FFmpeg and work dirs owned by live transcoders)")
    if sessions_ended:
        settle(lambda: resource_problems(view, baseline), settle_for, "invariant 6 (threads, fds)")
        rss = psutil.Process(view.pid).memory_info().rss
        assert rss <= baseline.rss + rss_tolerance, \
            f"RSS grew from {baseline.rss >> 20} MiB to {rss >> 20} MiB (tolerance {rss_tolerance >> 20} MiB)"


def settle(problems: Callable[[], list[str]], timeout: float, what: str) -> None:
    """Re-check until ``problems()`` is empty; fail with the last ones after ``timeout``."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        found = problems()
        if not found:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still wrong after {timeout:g} s:\n  " + "\n  ".join(found))
        pause.wait(0.05)


def ownership_problems(view: HlsdView, work_dir: Path, sessions_ended: bool) -> list[str]:
    """Invariants 1 and 2 at this instant; a list of what is wrong."""
    tree = view.tree()
    owners = transcoders(tree)
    live = view.live_runs()
    problems = [f"transcoder of run {run} is in the tree but not in runtime.live"
                for run in owners if live is not None and run not in live]
    per_run: Counter[str] = Counter()
    for process in tagged_processes(work_dir, view.pid):
        tag = process.tag
        per_run[tag.run] += 1
        if sessions_ended:
            problems.append(f"FFmpeg {process.pid} (run {tag.run}) outlived every session")
        elif tag.instance != view.instance:
            problems.append(f"FFmpeg {process.pid} of instance {tag.instance}, not {view.instance}")
        elif tag.run not in owners:
            problems.append(f"FFmpeg {process.pid} of run {tag.run}: no live transcoder owns it")
        elif owners[tag.run] != process.pid:
            problems.append(f"FFmpeg {process.pid} of run {tag.run}: its transcoder runs {owners[tag.run]}")
    problems += [f"run {run} has {count} FFmpeg processes" for run, count in per_run.items() if count > 1]
    problems += [f"FFmpeg {zombie} exited but hlsd did not reap it" for zombie in unreaped_ffmpeg(view.pid)]
    return problems + dir_problems(work_dir, view.instance, set() if sessions_ended else set(owners))


def tagged_processes(work_dir: Path, hlsd_pid: int) -> list[ffmpeg.TaggedProcess]:
    """Processes tagged with ``work_dir``: those a sweep finds (argv[0] marker), and hlsd's
    children carrying the tag in their environment only (fakes that are scripts)."""
    found = {p.pid: p for p in ffmpeg.find_tagged(work_dir)}
    wanted = str(work_dir.resolve())
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(hlsd_pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                tag = ffmpeg.Tag.from_environ(child.environ())
                if tag is not None and tag.work_dir == wanted and child.pid not in found:
                    found[child.pid] = ffmpeg.TaggedProcess(child.pid, child.create_time(), tag)
    return list(found.values())


def unreaped_ffmpeg(pid: int) -> list[str]:
    """Zombie FFmpeg children of ``pid`` (hlsd reaps every FFmpeg it started)."""
    zombies = []
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(pid).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.status() == psutil.STATUS_ZOMBIE and child.name() in FFMPEG_NAMES:
                    zombies.append(f"{child.pid} ({child.name()})")
    return zombies


def dir_problems(work_dir: Path, instance: str, live_runs: set[str]) -> list[str]:
    """Nothing under ``work_dir`` but this instance's owner file and live runs' dirs, and
    what persists there on purpose (the media index, the session secret)."""
    if not work_dir.exists():
        return []
    problems = [f"stray {path.relative_to(work_dir)} in the work dir"
                for path in work_dir.iterdir()
                if path.name != instance and not persists_in_work_dir(path)]
    problems += store_problems(work_dir)
    own = work_dir / instance
    for path in sorted(own.iterdir()) if own.is_dir() else []:
        if path.name == ffmpeg.OWNER_FILE:
            continue
        if not path.is_dir() or path.is_symlink():
            problems.append(f"stray file {path.relative_to(work_dir)}")
            continue
        runs = list(path.iterdir())
        if not runs:
            problems.append(f"empty session dir {path.relative_to(work_dir)}")
        problems += [f"stray {run.relative_to(work_dir)}: no live transcoder runs {run.name}"
                     for run in runs if run.name not in live_runs]
    return problems


def resource_problems(view: HlsdView, baseline: Baseline) -> list[str]:
    process = psutil.Process(view.pid)
    threads, fds = process.num_threads(), process.num_fds()
    problems = []
    if threads > baseline.threads:
        extra = sorted((Counter(view.thread_names()) - Counter(baseline.thread_names)).elements())
        problems.append(f"{threads} threads, baseline {baseline.threads}: {extra or 'not Python threads'}")
    if fds > baseline.fds:
        extra = sorted((Counter(fd_targets(view.pid)) - Counter(baseline.fd_targets)).elements())
        problems.append(f"{fds} open fds, baseline {baseline.fds}: {extra}")
    return problems


@contextlib.contextmanager
def pinned(pids: list[int]) -> Iterator[list[int]]:
    """pidfds of ``pids`` (those still running), so later waits are immune to pid reuse."""
    pidfds = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            pidfds.append(os.pidfd_open(pid))
    try:
        yield pidfds
    finally:
        for pidfd in pidfds:
            os.close(pidfd)


# --- invariant 3 -----------------------------------------------------------------------------

def kill_hlsd(server: Server) -> tuple[list[int], float | None]:
    """SIGKILL a served hlsd. Returns the pids of its FFmpeg (pinned before the kill) and
    the seconds until all of them had exited, or None if one outlived ``KILLED_WITHIN``
    (invariant 3: they die with hlsd, by ``PR_SET_PDEATHSIG``)."""
    descendants = {child.pid for child in psutil.Process(server.pid).children(recursive=True)}
    pids = [p.pid for p in tagged_processes(server.work_dir, server.pid) if p.pid in descendants]
    with pinned(pids) as pidfds:
        server.process.send_signal(signal.SIGKILL)
        took = wait_all_exited(pidfds, KILLED_WITHIN)
    server.process.wait(10)
    return pids, took
