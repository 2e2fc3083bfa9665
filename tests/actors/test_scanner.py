"""The scanner actor: passes at start-up, every interval and on ``ScanNow``, one file per
message at low priority; a restarted scanner starts a new pass that skips what is indexed.

A real Runtime (SQLite index, timers) and the scanner under a real supervisor, as in the
root; real ffprobe and FFmpeg on generated clips. ffprobe runs are counted by
``ffprobe-counting``, which logs each run's niceness before it execs the real one.
"""
from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.kernel import Crash
from actors.media.index import Stamp
from actors.messages import ScanNow
from actors.runtime import Runtime
from tests.helpers import ffmpeg_tools
from tests.helpers.kernel import eventually
from tests.helpers.scanning import PASS_TIMEOUT, Scanned, scanners
from tests.helpers.media import make_clip

pytestmark = pytest.mark.timeout(90)

CLIPS = ("a.mp4", "shows/b.mp4", "shows/s01/c.mkv")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three short clips in three folders, a file that only looks like media, and a
    file that is not media."""
    root = tmp_path_factory.mktemp("pristine")
    for name in CLIPS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        make_clip(root / name, 2, width=160, height=90, fps=10, gop=1)
    (root / "broken.mp4").write_bytes(b"\x00" * 4096)
    (root / "notes.txt").write_text("not media")
    return root


@pytest.fixture
def library(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    shutil.copytree(pristine, root)
    return root


@pytest.fixture
def ffprobe(tmp_path: Path) -> tuple[Path, Path]:
    return ffmpeg_tools.counting_ffprobe(tmp_path)


@pytest.fixture
def scanned(library: Path, tmp_path: Path, ffprobe: tuple[Path, Path]) -> Iterator[Any]:
    """``scanned(**overrides)``: the scanner running with these settings; stopped after."""
    with scanners(library, tmp_path / "work", lambda runtime: Scanned(runtime, ffprobe[1]),
                  ffprobe=ffprobe[0]) as start:
        yield start


def entry(runtime: Runtime, root: Path, media_id: str):
    return runtime.index.get(media_id, Stamp.of(os.stat(root / media_id)))


def test_a_pass_at_start_up_indexes_the_library_at_low_priority(scanned, library: Path) -> None:
    world = scanned()
    final = world.passes_finished(1)
    assert (final.done, final.total, final.indexed, final.errors) == (4, 4, 3, 1)
    assert world.runtime.index.media_ids() == set(CLIPS)
    for media_id in CLIPS:
        found = entry(world.runtime, library, media_id)
        assert found is not None and found.keyframes_complete and found.duration
        assert found.poster is not None and Path(found.poster).is_file()
    low = min(os.nice(0) + 10, 19)  # nice -n 10, as far as the test's own niceness allows
    assert world.probes() and all(int(line.split()[0]) == low for line in world.probes())
    assert world.facts()["passes"] == 1 and world.facts()["pending"] == 0


def test_scan_now_starts_a_pass_that_probes_only_what_changed(scanned, library: Path) -> None:
    world = scanned()
    world.passes_finished(1)
    before = len(world.probes())
    (library / "shows" / "b.mp4").unlink()
    make_clip(library / "d.mp4", 2, width=160, height=90, fps=10, gop=1)
    world.scanner().tell(ScanNow())
    final = world.passes_finished(2)
    assert (final.indexed, final.removed) == (1, 1)
    assert world.runtime.index.media_ids() == {"a.mp4", "shows/s01/c.mkv", "d.mp4"}
    new_runs = world.probes()[before:]
    assert all("d.mp4" in line or "broken.mp4" in line for line in new_runs)  # broken: retried


def test_passes_repeat_every_scan_interval(scanned, library: Path) -> None:
    world = scanned(scan_interval=0.5)
    world.passes_finished(1)
    make_clip(library / "late.mp4", 2, width=160, height=90, fps=10, gop=1)
    world.passes_finished(3)  # at least one whole pass began after the file was written
    assert "late.mp4" in world.runtime.index.media_ids()


def test_with_scan_off_only_scan_now_starts_a_pass(scanned, library: Path) -> None:
    world = scanned(scan="false", scan_interval=0.2)
    # Absence needs a wait: five intervals in which no pass may begin.
    threading.Event().wait(1.0)
    assert world.runtime.scan.latest() is None and world.probes() == []
    world.scanner().tell(ScanNow())
    world.passes_finished(1)
    threading.Event().wait(1.0)
    assert world.runtime.scan.passes() == 1  # no interval re-arms it


def test_scan_now_during_a_pass_does_not_start_another(scanned, library: Path,
                                                       tmp_path: Path) -> None:
    (tmp_path / "slow").mkdir()
    slow, _ = ffmpeg_tools.counting_ffprobe(tmp_path / "slow", delay=1.0)
    world = scanned(ffprobe=slow)
    eventually(lambda: (latest := world.runtime.scan.latest()) and latest.done >= 1,
               timeout=PASS_TIMEOUT)
    world.scanner().tell(ScanNow())  # three files left, a second of ffprobe each
    final = world.passes_finished(1)
    assert world.runtime.scan.passes() == 1 and final.done == final.total == 4


def test_a_crashed_scanner_is_restarted_and_skips_what_is_indexed(scanned) -> None:
    world = scanned()
    world.passes_finished(1)
    first = world.scanner()
    before = [line for line in world.probes() if "broken.mp4" not in line]
    first.tell(Crash())
    eventually(lambda: world.scanner() is not None and world.scanner() != first, timeout=10)
    final = world.passes_finished(2)
    assert final.indexed == 0 and final.errors == 1  # only the broken file is tried again
    assert [line for line in world.probes() if "broken.mp4" not in line] == before
