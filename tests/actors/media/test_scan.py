"""The library scan with real ffprobe/FFmpeg over a generated library."""
from __future__ import annotations

import os
import shutil
import struct
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from actors.media.index import MediaIndex, Stamp
from actors.media.scan import ScanProgress, Work
from tests.helpers import ffmpeg_tools
from tests.helpers.ffmpeg_tools import remux
from tests.helpers.media import make_clip

CLIPS = 20


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 one-second clips in three folders (MP4 and MKV), plus a file that is not media."""
    root = tmp_path_factory.mktemp("library")
    seed = make_clip(root / "seed.mp4", 1, width=160, height=120, fps=24, gop=0.5)
    seeds = {".mp4": seed, ".mkv": remux(seed, root / "seed.mkv")}
    for n in range(CLIPS):
        folder = root / ("films", "shows/s01", "")[n % 3]
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".mkv" if n % 4 == 0 else ".mp4"
        shutil.copyfile(seeds[suffix], folder / f"clip{n:02d}{suffix}")
    for path in seeds.values():
        path.unlink()
    (root / "films" / "notes.txt").write_text("not media")
    return root


@pytest.fixture
def small(pristine: Path, tmp_path: Path) -> Path:
    """Four of the clips."""
    root = tmp_path / "media"
    root.mkdir()
    for name in ("films/clip00.mkv", "films/clip03.mp4", "clip02.mp4", "clip05.mp4"):
        shutil.copyfile(pristine / name, root / Path(name).name)
    return root


@pytest.fixture
def index(tmp_path: Path):
    opened = MediaIndex(tmp_path / "work" / "index.sqlite3")
    yield opened
    opened.close()


class Tools:
    """The real ffprobe/FFmpeg callables, counting their calls per file."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.reports: list[ScanProgress] = []

    def _counted(self, kind: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def counted(path: Path, *args: Any) -> Any:
            self.calls[kind, path.name] += 1
            return call(path, *args)
        return counted

    def scan(self, root: Path, index: MediaIndex) -> ScanProgress:
        self.calls.clear()
        return ffmpeg_tools.scan_pass(root, index, Work(
            self._counted("probe", ffmpeg_tools.probe), self._counted("keyframes", ffmpeg_tools.keyframes),
            self._counted("poster", ffmpeg_tools.poster), self.reports.append))

    def files(self, kind: str) -> set[str]:
        return {name for (called, name) in self.calls if called == kind}


def ids(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("clip*")}


@pytest.fixture(scope="module")
def scanned(pristine: Path, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the library scanned once; the tests below read it, the last one edits it."""
    root = tmp_path_factory.mktemp("scanned") / "media"
    shutil.copytree(pristine, root)
    index = MediaIndex(root.parent / "work" / "index.sqlite3")
    tools = Tools()
    first = tools.scan(root, index)
    yield root, index, tools, first
    index.close()


def test_a_scan_indexes_every_file(scanned: Any) -> None:
    root, index, tools, final = scanned
    assert final.finished and final.errors == 0 and final.indexed == CLIPS
    assert (final.done, final.total) == (CLIPS, CLIPS)
    assert final.bytes_done == final.bytes_total == sum(
        (root / i).stat().st_size for i in ids(root))
    assert index.media_ids() == ids(root)
    assert len(tools.files("probe")) == CLIPS and max(tools.calls.values()) == 1
    dones = [report.done for report in tools.reports]
    assert dones == sorted(dones) and dones[-1] == CLIPS
    for media_id in ids(root):
        entry = index.get(media_id, Stamp.of(os.stat(root / media_id)))
        assert entry is not None and entry.keyframes_complete and entry.duration
    for media_id in ("films/clip00.mkv", "films/clip03.mp4"):  # the others are copies
        stamp = Stamp.of(os.stat(root / media_id))
        assert index.keyframes(media_id, stamp) == pytest.approx(
            ffmpeg_tools.packet_keyframes(root / media_id), abs=0.001)


def test_a_second_scan_runs_nothing(scanned: Any) -> None:
    root, index, tools, _ = scanned
    started = time.perf_counter()
    again = tools.scan(root, index)
    print(f"\nrescan of {CLIPS} unchanged files: {(time.perf_counter() - started) * 1000:.1f} ms")
    assert again.finished and again.indexed == 0 and again.done == CLIPS and not tools.calls


def test_posters_are_jpegs_320_wide(scanned: Any) -> None:
    root, index, _, _ = scanned
    for media_id in ids(root):
        entry = index.get(media_id, Stamp.of(os.stat(root / media_id)))
        assert entry is not None and entry.poster is not None
        poster = Path(entry.poster)
        assert poster.parent == index.poster_dir
        assert jpeg_size(poster.read_bytes()) == (320, 240)
    (stream,) = ffmpeg_tools.probe(poster)["streams"]  # and FFmpeg agrees, for one
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", 320, 240)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a baseline JPEG's start-of-frame segment."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    start = data.index(b"\xff\xc0")
    height, width = struct.unpack(">HH", data[start + 5:start + 9])
    return width, height


def test_a_touched_file_is_reindexed_alone_and_a_deleted_one_forgotten(scanned: Any) -> None:
    root, index, tools, _ = scanned
    touched, deleted = root / "films" / "clip03.mp4", root / "shows/s01" / "clip01.mp4"
    old_stamp = Stamp.of(os.stat(touched))
    old_poster = index.get("films/clip03.mp4", old_stamp).poster
    deleted_poster = index.get("shows/s01/clip01.mp4", Stamp.of(os.stat(deleted))).poster
    os.utime(touched, ns=(time.time_ns(), old_stamp.mtime_ns + 1_000_000_000))
    deleted.unlink()
    final = tools.scan(root, index)
    assert (final.indexed, final.removed, final.total) == (1, 1, CLIPS - 1)
    assert tools.files("probe") == tools.files("poster") == {"clip03.mp4"}
    assert "shows/s01/clip01.mp4" not in index.media_ids()
    assert index.get("films/clip03.mp4", Stamp.of(os.stat(touched))) is not None
    assert not Path(old_poster).exists() and not Path(deleted_poster).exists()


def test_a_broken_file_is_an_error_not_the_end_of_the_scan(small: Path,
                                                           index: MediaIndex) -> None:
    (small / "broken.mp4").write_bytes(b"\x00" * 4096)
    final = Tools().scan(small, index)
    assert final.finished and final.errors == 1 and final.indexed == len(ids(small))
    assert index.media_ids() == ids(small)

