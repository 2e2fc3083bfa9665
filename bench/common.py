"""What every row shares: the run's options, statistics, result lines, HTTP, processes.

A row module exposes ``run(bench: Bench) -> list[Line]``. A ``Line`` is one line of the
table: hlsd's numbers, the baseline's numbers from the same run, and a target.
"""
from __future__ import annotations

import ctypes
import http.client
import json
import math
import os
import select
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

import psutil

if TYPE_CHECKING:
    from bench.clips import Clips

T = TypeVar("T")
U = TypeVar("U")

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
HTTP_TIMEOUT = 30.0

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Bench:
    """The options of one run, and where it may write."""

    quick: bool
    repeat: int | None
    scratch: Path  # removed at the end of the run
    clips: Clips

    def repeats(self, full: int, quick: int) -> int:
        return self.repeat if self.repeat is not None else (quick if self.quick else full)

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full


# --- statistics -----------------------------------------------------------------------

@dataclass(frozen=True)
class Stats:
    """Median, 95th percentile (nearest rank) and worst of repeated measurements."""

    values: tuple[float, ...]

    @property
    def p50(self) -> float:
        return statistics.median(self.values)

    @property
    def p95(self) -> float:
        return percentile(self.values, 95)

    @property
    def p99(self) -> float:
        return percentile(self.values, 99)

    @property
    def max(self) -> float:
        return max(self.values)

    @property
    def n(self) -> int:
        return len(self.values)


def percentile(values: Iterable[float], pct: float) -> float:
    """Nearest-rank percentile: always one of the measured values, never interpolated."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


# --- result lines ---------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """``statistic`` of ``subject`` must be at most ``limit`` (at least, with ``at_least``:
    a rate, where higher is better).

    ``subject``: "ratio" (hlsd / baseline), "hlsd", or "errors" (the line's error count).
    A line with errors misses whatever its target.
    """

    statistic: str  # "p50", "p95", "p99" or "max"
    limit: float
    subject: str = "ratio"
    text: str = ""
    at_least: bool = False

    def value(self, line: Line) -> float | None:
        if self.subject == "errors":
            return line.errors
        if self.subject == "ratio":
            if line.hlsd is None or line.baseline is None:
                return None
            return getattr(line.hlsd, self.statistic) / getattr(line.baseline, self.statistic)
        return getattr(line.hlsd, self.statistic) if line.hlsd is not None else None

    def met(self, line: Line) -> bool | None:
        value = self.value(line)
        if value is None:
            return None
        within = value >= self.limit if self.at_least else value <= self.limit
        return within and not line.errors


@dataclass(frozen=True)
class Line:
    """One line of the results table.

    ``hlsd`` and ``baseline`` are measured in ``unit`` ("s", "count", ...); ``value``
    replaces them for single figures (rates, per-session costs).
    """

    row: str
    what: str
    unit: str = "s"
    hlsd: Stats | None = None
    baseline: Stats | None = None
    baseline_name: str = ""
    target: Target | None = None
    value: str = ""
    errors: int = 0
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "info"
        met = self.target.met(self)
        if self.errors or met is False:
            return "MISS"
        return "n/a" if met is None else "PASS"


def side_by_side(repeats: int, measure: Callable[[], T], baseline: Callable[[], U]) -> tuple[list[T], list[U]]:
    """``repeats`` rounds of both, alternating which goes first, so drift in the machine's
    load hits hlsd and its baseline alike."""
    measured: list[T] = []
    baselines: list[U] = []
    for i in range(repeats):
        if i % 2 == 0:
            measured.append(measure())
            baselines.append(baseline())
        else:
            baselines.append(baseline())
            measured.append(measure())
    return measured, baselines


# --- clocks and bounded waiting -------------------------------------------------------

def now() -> float:
    return time.monotonic()


def generate_once(path: Path, ffmpeg_args: list[str], timeout: float) -> Path:
    """``path``, made once by FFmpeg with ``ffmpeg_args`` (inputs and options; the output
    is appended): written beside, then renamed, so never half a file."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        partial = Path(scratch) / path.name
        subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                        *ffmpeg_args, str(partial)], check=True, timeout=timeout,
                       capture_output=True)
        os.replace(partial, path)
    return path


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.01,
               what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy; raises ``TimeoutError`` at the deadline.

    For things nothing can be waited on for (another process's state over HTTP).
    """
    deadline = now() + timeout
    while True:
        result = condition()
        if result:
            return result
        if now() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:g} s")
        time.sleep(interval)


def accepts(port: int) -> bool:
    """Something accepts TCP connections on the loopback ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_exited(pidfds: dict[int, int], deadline: float) -> dict[int, float]:
    """Wait on pidfds (pid -> fd) until each is readable; returns pid -> exit time seen."""
    poller = select.poll()
    for fd in pidfds.values():
        poller.register(fd, select.POLLIN)
    by_fd = {fd: pid for pid, fd in pidfds.items()}
    exited: dict[int, float] = {}
    while len(exited) < len(pidfds):
        ready = poller.poll(max(0.0, deadline - now()) * 1000)
        if not ready:
            break
        seen = now()
        for fd, _ in ready:
            exited[by_fd[fd]] = seen
            poller.unregister(fd)
    return exited


def pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def wait_reaped(pid: int, timeout: float) -> float | None:
    """When ``pid`` stops existing (exited *and* reaped by its parent), or None.

    Polled every millisecond: a pidfd tells the exit, but not the parent's ``wait``.
    """
    deadline = now() + timeout
    while psutil.pid_exists(pid):  # a zombie still exists
        if now() >= deadline:
            return None
        time.sleep(0.001)
    return now()


# --- processes ------------------------------------------------------------------------

def end_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM by its pid, wait ``grace``, then SIGKILL: for a server the bench started."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace)


def become_subreaper() -> None:
    """Orphans of a SIGKILLed hlsd come back to this process, to be counted and reaped."""
    if _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def die_with_parent() -> None:
    """In a child (preexec_fn): SIGKILL when the thread that started it ends."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL.value, 0, 0, 0)


def reap_strays(known: Iterable[int] = ()) -> list[int]:
    """SIGKILL and reap, by pid, every child of this process not in ``known``."""
    ended = []
    skip = set(known)
    for child in psutil.Process().children():
        if child.pid in skip:
            continue
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
        try:
            os.waitpid(child.pid, 0)
        except ChildProcessError:
            pass
        ended.append(child.pid)
    return ended


# --- HTTP -----------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float = 0.0  # request sent -> last byte of the body read
    first_byte: float = 0.0  # request sent -> status line and headers read

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """One keep-alive HTTP/1.1 connection to a loopback server, as a player holds one."""

    port: int
    timeout: float = HTTP_TIMEOUT
    _connection: http.client.HTTPConnection | None = field(default=None, repr=False)

    def request(self, method: str, path: str, body: Any = None) -> Reply:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):  # a kept-alive connection the server closed: reconnect once
            connection = self._connect()
            started = now()
            try:
                connection.request(method, path, body=data, headers=headers)
                response = connection.getresponse()
                headers_read = now()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return Reply(response.status, dict(response.getheaders()), payload, now() - started,
                         headers_read - started)
        raise AssertionError("unreachable")

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def expect(reply: Reply, status: int, what: str) -> Reply:
    if reply.status != status:
        raise RuntimeError(f"{what}: HTTP {reply.status} (expected {status}): {reply.body[:300]!r}")
    return reply
