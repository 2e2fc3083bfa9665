"""Work dirs: ``work_dir/<instance>/owner.json`` holds ``{"pid", "start"}`` of the hlsd
process; each FFmpeg run writes into ``work_dir/<instance>/<session>/<run>/``. The
segment store, ``work_dir/store/`` (``STORE_DIR``), is no instance's: it is kept.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from actors.ffmpeg.tags import own_start, process_alive

log = logging.getLogger(__name__)

OWNER_FILE = "owner.json"
STORE_DIR = "store"  # the segment store (actors.store), kept across restarts


def instance_dir(work_dir: Path, instance: str) -> Path:
    return work_dir / _component(instance)


def run_dir(work_dir: Path, instance: str, session: str, run: str) -> Path:
    """Where one FFmpeg run writes (not created here)."""
    return instance_dir(work_dir, instance) / _component(session) / _component(run)


def claim_instance_dir(work_dir: Path, instance: str) -> Path:
    """Create this instance's dir and record this process as its owner."""
    path = instance_dir(work_dir, instance)
    path.mkdir(parents=True, exist_ok=True)
    owner = _read_owner(path)
    if owner is not None and owner[0] != os.getpid() and process_alive(*owner):
        raise FileExistsError(f"instance dir {path} is in use by pid {owner[0]}")
    temporary = path / f".{OWNER_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps({"pid": os.getpid(), "start": own_start()}))
    os.replace(temporary, path / OWNER_FILE)  # a reader never sees half a file
    return path


def release_instance_dir(work_dir: Path, instance: str) -> bool:
    """Remove this instance's dir at a clean shutdown."""
    return remove_tree(instance_dir(work_dir, instance))


def remove_run_dir(work_dir: Path, instance: str, session: str, run: str) -> bool:
    """Remove a finished run's dir, and its session dir once empty."""
    path = run_dir(work_dir, instance, session, run)
    removed = remove_tree(path)
    remove_if_empty(path.parent)
    return removed


def _component(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"{name!r} cannot be a work-dir path component")
    return name


def _subdirs(path: Path) -> list[Path]:
    """Real subdirectories only: symlinks are never followed out of the work dir."""
    try:
        with os.scandir(path) as entries:
            return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def run_dirs(work_dir: Path, instance: str) -> list[Path]:
    own = instance_dir(work_dir, instance)
    if own.is_symlink():
        return []
    return [run for session in _subdirs(own) for run in _subdirs(session)]


def other_instance_dirs(work_dir: Path, instance: str) -> list[Path]:
    return [path for path in _subdirs(work_dir) if path.name not in (instance, STORE_DIR)]


def _read_owner(path: Path) -> tuple[int, float] | None:
    try:
        owner = json.loads((path / OWNER_FILE).read_text())
        return int(owner["pid"]), float(owner["start"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("ignoring %s: unreadable %s (%s)", path, OWNER_FILE, error)
        return None


def owner_dead(path: Path) -> bool:
    # A dir without an owner file is being claimed right now, or is not ours: keep it.
    owner = _read_owner(path)
    return owner is not None and not process_alive(*owner)


def remove_tree(path: Path) -> bool:
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        shutil.rmtree(path)  # never follows symlinks inside, fd-based on Linux
    except OSError as error:
        log.warning("could not remove %s: %s", path, error)
        return False
    return True


def remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass  # not empty (a new run is starting in it) or already gone

