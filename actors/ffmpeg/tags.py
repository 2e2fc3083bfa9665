"""Tags: who an FFmpeg process belongs to, carried in its argv[0] and environment.

Every process hlsd starts carries a ``Tag`` (argv[0] ``ARGV0_MARKER`` and ``HLSD_*``
environment variables), so a sweep can find it even after the hlsd that started it is
gone; ``owner_alive`` tells whether that hlsd still runs (pid and start time, so a reused
pid is not mistaken for it).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

ARGV0_MARKER = "hlsd-ffmpeg"
ENV_WORK_DIR = "HLSD_WORK_DIR"
ENV_INSTANCE = "HLSD_INSTANCE"
ENV_SESSION = "HLSD_SESSION"
ENV_RUN = "HLSD_RUN"
ENV_OWNER_PID = "HLSD_OWNER_PID"
ENV_OWNER_START = "HLSD_OWNER_START"
# create_time is boot time + start ticks, and boot time moves with NTP: compare loosely.
# A pid reused within a second of the original's start would need a full pid wrap-around.
START_TOLERANCE = 1.0


@dataclass(frozen=True)
class Tag:
    """Who a process belongs to; carried in its environment so a sweep can find it."""

    work_dir: str
    instance: str
    session: str
    run: str
    owner_pid: int
    owner_start: float

    @classmethod
    def for_this_process(cls, work_dir: Path, instance: str, session: str, run: str) -> Tag:
        return cls(str(work_dir.resolve()), instance, session, run, os.getpid(), own_start())

    def environ(self) -> dict[str, str]:
        return {
            ENV_WORK_DIR: self.work_dir,
            ENV_INSTANCE: self.instance,
            ENV_SESSION: self.session,
            ENV_RUN: self.run,
            ENV_OWNER_PID: str(self.owner_pid),
            ENV_OWNER_START: repr(self.owner_start),
        }

    @classmethod
    def from_environ(cls, environ: dict[str, str]) -> Tag | None:
        """The tag in a process's environment, or None if it has none (or a broken one)."""
        try:
            tag = cls(environ[ENV_WORK_DIR], environ[ENV_INSTANCE], environ[ENV_SESSION],
                      environ[ENV_RUN], int(environ[ENV_OWNER_PID]),
                      float(environ[ENV_OWNER_START]))
        except (KeyError, ValueError):
            return None
        return tag if tag.owner_pid > 0 else None


def own_start() -> float:
    return psutil.Process().create_time()


def same_start(a: float, b: float) -> bool:
    return abs(a - b) < START_TOLERANCE


def process_alive(pid: int, start: float) -> bool:
    """True if ``pid`` is still the process that started at ``start`` and not a zombie."""
    try:
        process = psutil.Process(pid)
        return same_start(process.create_time(), start) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # cannot tell, so never treat it as dead


def owner_alive(tag: Tag) -> bool:
    """True while the hlsd process that spawned the tagged process still runs."""
    return process_alive(tag.owner_pid, tag.owner_start)


