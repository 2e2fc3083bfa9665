"""A real Runtime (timers, process watcher, prober, metrics) for actor-level tests, and
real in-process HlsSystems."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil

from actors import ffmpeg, trickplay
from actors.runtime import Runtime
from actors.system import HlsSystem
from tests.helpers.settings import settings_for

FAKES = Path(__file__).parent.parent / "fakes"


@contextlib.contextmanager
def running_runtime(media_root: Path, work_dir: Path, **overrides: Any) -> Iterator[Runtime]:
    """Start the shared services; stop them (threads joined) when the block ends."""
    runtime = Runtime.build(settings_for(media_root, work_dir, **overrides))
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.stop(timeout=5)


@contextlib.contextmanager
def hlsd_systems(media_root: Path, work_dir: Path, **defaults: Any) -> Iterator[Callable[..., HlsSystem]]:
    """``start(**overrides)`` starts an HlsSystem on ``work_dir`` (``defaults`` and then
    ``overrides`` over test.ini); when the block ends every one is stopped (stopping one
    twice is harmless) and no FFmpeg and no run dir may be left."""
    systems: list[HlsSystem] = []

    def start(**overrides: Any) -> HlsSystem:
        system = HlsSystem(settings_for(media_root, work_dir, **{**defaults, **overrides})).start()
        systems.append(system)
        return system

    yield start
    for system in systems:
        system.stop()
    assert tagged_pids(work_dir) == [], "an FFmpeg outlived hlsd"
    assert leftover_runs(work_dir) == [], "a run dir outlived hlsd"


def tagged_pids(work_dir: Path, *, scan: bool = True) -> list[int]:
    """Our live (non-zombie) child processes tagged with this work dir, fakes included
    (scoped to this test: other tests run concurrently on the machine). ``scan=False``
    leaves out the library scan's trick play FFmpeg, which belongs to no session."""
    wanted = str(work_dir.resolve())
    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            env = child.environ()
            if (child.status() != psutil.STATUS_ZOMBIE and env.get(ffmpeg.ENV_WORK_DIR) == wanted
                    and (scan or env.get(ffmpeg.ENV_SESSION) != trickplay.SESSION)):
                found.append(child.pid)
    return found


def leftover_runs(work_dir: Path) -> list[Path]:
    return [p for p in work_dir.glob("*/*/*") if p.is_dir()]
