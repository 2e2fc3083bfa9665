"""A real Runtime (timers, process watcher, prober, metrics) for actor-level tests."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import psutil

from actors import ffmpeg
from actors.runtime import Runtime
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


def tagged_pids(work_dir: Path) -> list[int]:
    """Our live (non-zombie) child processes tagged with this work dir, fakes included
    (scoped to this test: other tests run concurrently on the machine)."""
    wanted = str(work_dir.resolve())
    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.status() != psutil.STATUS_ZOMBIE and child.environ().get(ffmpeg.ENV_WORK_DIR) == wanted:
                found.append(child.pid)
    return found


def leftover_runs(work_dir: Path) -> list[Path]:
    return [p for p in work_dir.glob("*/*/*") if p.is_dir()]
