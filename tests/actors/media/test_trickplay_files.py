"""The trick play folders: one per file version, partial ones renamed into place, and the
sweep that keeps only the versions still in the library and partials being written."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from actors.media.index import Stamp
from actors.media.trickplay_files import PARTIAL, TrickplayStore

pytestmark = pytest.mark.timeout(30)

STAMP = Stamp(1000, 123456789, 42)


def test_a_version_s_folder_is_named_by_media_id_and_stamp(tmp_path: Path) -> None:
    store = TrickplayStore(tmp_path, 1 << 20)
    assert store.path("a.mkv", STAMP) != store.path("a.mkv", STAMP._replace(size=1001))
    assert store.path("a.mkv", STAMP).parent == tmp_path
    assert store.manifest("a.mkv", STAMP) is None
    partial = store.partial("a.mkv", STAMP)
    assert partial.is_dir() and partial.name == f"{PARTIAL}{os.getpid()}-{store.name('a.mkv', STAMP)}"
    assert store.manifest("a.mkv", STAMP) is None  # a partial folder is not made yet


def test_the_sweep_keeps_the_library_s_versions_and_partials_others_write(tmp_path: Path) -> None:
    store = TrickplayStore(tmp_path, 1 << 20)
    kept, gone = store.path("a.mkv", STAMP), store.path("b.mkv", STAMP)
    for folder in (kept, gone):
        folder.mkdir()
        (folder / "0.jpg").write_bytes(b"\xff\xd8")
    own = store.partial("c.mkv", STAMP)
    finished = subprocess.Popen(["true"])
    finished.wait(5)
    dead = tmp_path / f"{PARTIAL}{finished.pid}-x"
    alive = tmp_path / f"{PARTIAL}{os.getppid()}-y"  # another live process writes it
    dead.mkdir()
    alive.mkdir()
    assert store.sweep({kept.name}) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kept.name, alive.name])
    assert not own.exists() and not gone.exists()
    assert store.total_bytes() == 2 and store.has_room()
    assert not TrickplayStore(tmp_path, 2).has_room()
