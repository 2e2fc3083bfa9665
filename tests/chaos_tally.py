"""The chaos soak's settings, its tally (everything counted, thread-safe) and its report
(the summary table). ``tests.chaos`` runs the soak."""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.invariants import DEFAULTS
from tests.faults.players import CUT_SHORT, NO_CONNECTION, TIMED_OUT, Answer

# A vanished client's session stops its FFmpeg after idle_timeout and ends resume_window
# later: short, so that checkpoints see every session end.
# A small segment store: sessions of one clip share their runs' segments, and it evicts.
SETTINGS = {**DEFAULTS, "idle_timeout": 4, "resume_window": 4, "stall_timeout": 3,
            "max_sessions": 24, "reap_interval": 5, "segment_wait": 10,
            "segment_store_bytes": 1024 ** 2}
LIBRARY = (("clip.mp4", "180p", 30), ("clip.mp4", "copy", 30), ("tiny.mp4", "copy", 20))
FAULTS = {"kill_ffmpeg": 3, "term_ffmpeg": 2, "stop_ffmpeg": 2, "crash_transcoder": 2,
          "crash_session": 2, "crash_supervisor": 1}
# The root supervisor allows 5 restarts in 60 s: a sessions-supervisor crash at most this often.
WHOLE_TREE_CRASH_EVERY = 20.0
REQUEST_TIMEOUT = SETTINGS["segment_wait"] + 5.0
SAMPLE_EVERY = 1.0
SAMPLE_MARGIN = 1.5  # a sample may see a process up to one interval (plus a request) late
PATIENCE = 20.0  # a player retries a 503 this long before counting it as its error


@dataclass
class Tally:
    """Everything counted during the soak; thread-safe through one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    endings: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)  # segment answers a player retries
    sessions: int = 0
    segments: int = 0
    checkpoints: int = 0
    orphans: int = 0
    stray_dirs: int = 0
    store_problems: int = 0
    store_most: int = 0  # the most segments the store held at a sample
    violations: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def answer(self, what: str, answer: Answer) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[str(answer.status)] += 1
        if answer.status == TIMED_OUT:
            self.violation(f"{what}: no answer within {REQUEST_TIMEOUT:g} s")
        elif answer.status == NO_CONNECTION:
            self.violation(f"{what}: {answer.body}")
        elif answer.status == CUT_SHORT:
            pass  # a segment sent as FFmpeg wrote it, its run ended first: the player retries
        elif not answer.ok and not answer.clear_error:
            self.violation(f"{what}: unclear answer {answer.status} {str(answer.body)[:200]}")

    def count(self, counter: str, key: str) -> None:
        with self.lock:
            getattr(self, counter)[key] += 1

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(f"{time.monotonic() - self.started:7.1f}s  {text}")


@dataclass
class Report:
    seed: int
    seconds: float
    clients: int
    tally: Tally
    restarts: dict[str, int]
    shutdown: str
    log: Path | None = None

    @property
    def violations(self) -> list[str]:
        return self.tally.violations

    def table(self) -> str:
        t = self.tally
        errors = {status: n for status, n in sorted(t.statuses.items()) if status not in ("200", "201", "204")}
        rows = [
            ("seed / duration / clients", f"{self.seed} / {self.seconds / 60:.1f} min / {self.clients}"),
            ("sessions opened", t.sessions),
            ("episodes", ", ".join(f"{k} {v}" for k, v in sorted(t.outcomes.items())) or "none"),
            ("episodes ended", ", ".join(f"{k} {v}" for k, v in sorted(t.endings.items())) or "none"),
            ("segments retried", ", ".join(f"{k} {v}" for k, v in sorted(t.retried.items())) or "none"),
            ("segments served", t.segments),
            ("requests", f"{t.requests} (timed out: {t.statuses.get(str(TIMED_OUT), 0)})"),
            ("answers by status", ", ".join(f"{k}: {v}" for k, v in sorted(t.statuses.items()))),
            ("errors by status", ", ".join(f"{k}: {v}" for k, v in errors.items()) or "none"),
            *[(f"fault {name}", n) for name, n in sorted(t.faults.items())],
            *[(f"restarts: {name}", n) for name, n in self.restarts.items()],
            ("checkpoints passed", t.checkpoints),
            ("orphans", t.orphans),
            ("stray dirs", t.stray_dirs),
            ("segment store", f"{t.store_problems} problems, at most {t.store_most} segments kept"),
            ("SIGTERM shutdown", self.shutdown),
            ("violations", len(t.violations)),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        lines += [f"  {v}" for v in t.violations[:50]]
        if self.log is not None:
            lines.append(f"hlsd's log (kept): {self.log}")
        return "\n".join(lines)
