"""The media index inside a running hlsd: it survives a restart, a corrupt file is
rebuilt, and a file not yet indexed plays without a whole-file pass.

ffprobe runs are counted by a wrapper script (``ffprobe-counting``) that appends its
niceness and arguments to a log, then execs the real ffprobe: the library scan's runs
carry niceness 10, the player's do not.
"""
from __future__ import annotations

import contextlib
import os
import resource
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest

from actors.media.index import Stamp
from actors.system import HlsSystem
from actors.media import RenditionKey
from tests.helpers import ffmpeg_tools
from tests.helpers.media import make_clip
from tests.helpers.server import wait_for_scan
from tests.helpers.settings import settings_for


@pytest.fixture
def counting_ffprobe(tmp_path: Path) -> tuple[Path, Path]:
    return ffmpeg_tools.counting_ffprobe(tmp_path)


def runs(log: Path, *, scan: bool | None = None) -> list[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    base = os.nice(0)
    return [line for line in lines
            if scan is None or (int(line.split()[0]) > base) == scan]


@contextlib.contextmanager
def hlsd(media: Path, work: Path, ffprobe: Path) -> Iterator[HlsSystem]:
    system = HlsSystem(settings_for(media, work, ffprobe=ffprobe)).start()
    try:
        yield system
    finally:
        system.stop(timeout=30)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    make_clip(root / "film.mp4", 8, width=320, height=180, fps=15)
    return root


def test_index_survives_a_restart(media: Path, tmp_path: Path, counting_ffprobe) -> None:
    script, log = counting_ffprobe
    with hlsd(media, tmp_path / "work", script) as system:
        first = system.plan("film.mp4", None, 0.0)
        wait_for_scan(system)
    assert runs(log)  # the first hlsd had to probe
    before = len(runs(log))
    with hlsd(media, tmp_path / "work", script) as system:
        again = system.plan("film.mp4", None, 0.0)
        wait_for_scan(system)  # the scan found nothing to do either
    assert len(runs(log)) == before
    assert again.info.keyframes == first.info.keyframes and again.boundaries == first.boundaries
    assert again.info.duration == first.info.duration


def test_a_corrupt_index_is_rebuilt(media: Path, tmp_path: Path, counting_ffprobe) -> None:
    script, _ = counting_ffprobe
    work = tmp_path / "work"
    work.mkdir()
    (work / "index.sqlite3").write_bytes(b"this is not a database " * 512)
    with hlsd(media, work, script) as system:
        plan = system.plan("film.mp4", None, 0.0)
        assert plan.info.keyframes
        wait_for_scan(system)
    assert (work / "index.sqlite3.corrupt").read_bytes().startswith(b"this is not")
    with sqlite3.connect(work / "index.sqlite3") as db:
        assert db.execute("SELECT path FROM media").fetchall() == [("film.mp4",)]


def test_a_file_not_yet_indexed_plays_at_once(media: Path, tmp_path: Path,
                                               counting_ffprobe) -> None:
    """A new MP4 of a long film: the plan reads keyframes from its stss, no packet pass,
    and the first segment comes before any scan has looked at the file."""
    script, log = counting_ffprobe
    with hlsd(media, tmp_path / "work", script) as system:
        wait_for_scan(system)
        make_clip(media / "new.mp4", 180, width=160, height=90, fps=10, gop=2.0)
        plan = system.plan("new.mp4", None, 0.0)
        player_runs = [line for line in runs(log, scan=False) if "new.mp4" in line]
        assert len(player_runs) == 1 and "-show_format" in player_runs[0]
        assert plan.profile == "copy" and len(plan.info.keyframes) == 90
        state = system.open_session("new.mp4", None, 0.0)
        try:
            with system.segment(state["id"], RenditionKey.video(plan.profile), 0) as segment:
                assert segment.read(188)[0] == 0x47  # an MPEG-TS packet
        finally:
            system.stop_session(state["id"])
        entry = system.runtime.index.get("new.mp4", Stamp.of((media / "new.mp4").stat()))
        assert entry is not None and entry.has_keyframes and entry.keyframes_complete


def test_start_raises_the_open_files_limit_to_the_hard_limit(media: Path, tmp_path: Path,
                                                             counting_ffprobe) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    try:
        with hlsd(media, tmp_path / "work", counting_ffprobe[0]):
            assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
