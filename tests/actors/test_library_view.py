"""LibraryView: the library page, the ``GET /media`` listing, posters and resume points,
read from a real SQLite index that a real pass (ffprobe, FFmpeg posters) filled."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.library_view import RESUME_MIN, LibraryView
from actors.media.scan import ScanProgress, Work
from actors.runtime import Runtime
from tests.helpers import ffmpeg_tools
from tests.helpers.media import make_clip
from tests.helpers.runtime import running_runtime

pytestmark = pytest.mark.timeout(60)

VIDEOS = ("a.mp4", "shows/b.mkv", "shows/s01/c.mp4")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three videos in three folders, an audio-only file, a fake ``.mp4`` and a text file."""
    root = tmp_path_factory.mktemp("library") / "media"
    for name in VIDEOS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        make_clip(root / name, 3, width=160, height=90, fps=10, gop=1)
    make_clip(root / "music.mp4", 3, video=None)
    (root / "fake.mp4").write_bytes(b"not an mp4 " * 400)
    (root / "notes.txt").write_text("not media")
    return root


@pytest.fixture(scope="module")
def scanned(library: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """A running Runtime whose index one whole pass filled, its progress on the board."""
    with running_runtime(library, tmp_path_factory.mktemp("work")) as runtime:
        tools = ffmpeg_tools
        ffmpeg_tools.scan_pass(library, runtime.index,
                               Work(tools.probe, tools.keyframes, tools.poster, runtime.scan.update))
        yield runtime


@pytest.fixture
def view(scanned: Runtime) -> LibraryView:
    return LibraryView(scanned)


def ids(page: dict) -> list[str]:
    return [entry["id"] for entry in page["entries"]]


def test_a_page_is_one_folder_its_subfolders_and_only_its_videos(view: LibraryView) -> None:
    page = view.page()
    assert (page["folder"], page["query"], page["parents"]) == ("", "", [])
    assert page["folders"] == ["shows"] and ids(page) == ["a.mp4"]  # no music, no fake
    (entry,) = page["entries"]
    assert entry["duration"] == pytest.approx(3, abs=0.1)
    assert (entry["width"], entry["height"], entry["video"], entry["audio"]) == (160, 90, "h264", "aac")
    assert entry["poster"] is True and entry["position"] is None


def test_a_folder_page_names_its_parents(view: LibraryView) -> None:
    page = view.page("/shows/s01/")
    assert page["folder"] == "shows/s01" and ids(page) == ["shows/s01/c.mp4"]
    assert page["parents"] == [("shows", "shows"), ("s01", "shows/s01")]
    assert page["folders"] == [] and view.page("shows")["folders"] == ["s01"]


def test_a_query_lists_every_file_under_the_folder_that_matches(view: LibraryView) -> None:
    assert ids(view.page("", "shows/")) == ["shows/b.mkv", "shows/s01/c.mp4"]
    assert ids(view.page("shows", ".MP4")) == ["shows/s01/c.mp4"]  # case-insensitive
    assert view.page("", "mp4")["folders"] == [] and ids(view.page("", "nothing")) == []


def test_a_viewer_who_stopped_early_starts_from_the_beginning(view: LibraryView,
                                                             scanned: Runtime) -> None:
    scanned.index.set_position("shows/b.mkv", 42.5)
    assert view.position("shows/b.mkv") == 42.5
    assert [e["position"] for e in view.page("shows")["entries"]] == [42.5]
    scanned.index.set_position("shows/b.mkv", RESUME_MIN - 0.5)
    assert view.position("shows/b.mkv") is None and view.position("a.mp4") is None


def test_the_poster_is_the_current_versions_jpeg(view: LibraryView, library: Path) -> None:
    poster = view.poster("shows/s01/c.mp4")
    assert poster is not None and poster.read_bytes()[:2] == b"\xff\xd8"
    assert view.poster("music.mp4") is None and view.poster("fake.mp4") is None
    assert view.poster("../media/a.mp4") is None and view.poster("missing.mp4") is None
    touched = library / "shows" / "s01" / "c.mp4"
    stamp = touched.stat()
    os.utime(touched, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    assert view.poster("shows/s01/c.mp4") is None  # a new version has no poster yet


def test_the_listing_is_every_file_the_prober_accepts(view: LibraryView) -> None:
    listing = {entry["id"]: entry for entry in view.listing()}
    assert sorted(listing) == sorted(VIDEOS)
    first = listing["a.mp4"]
    assert (first["video"], first["width"], first["height"]) == ("h264", 160, 90)
    assert first["duration"] == pytest.approx(3, abs=0.1) and first["subtitles"] == []
    assert [track["codec"] for track in first["audio"]] == ["aac"]


def test_progress_before_during_and_after_a_pass(tmp_path: Path, library: Path,
                                                 view: LibraryView) -> None:
    with running_runtime(library, tmp_path / "work") as fresh:
        assert LibraryView(fresh).progress() == {
            "running": False, "pass": 0, "done": 0, "total": 0, "bytes_done": 0,
            "bytes_total": 0, "fraction": 0.0, "current": None, "errors": 0, "elapsed": 0.0,
            "thumbnails": {"done": 0, "total": 0, "seconds": 0.0, "seconds_total": 0.0,
                           "fraction": 1.0, "current": None}}
        fresh.scan.update(ScanProgress(1, 4, 250, 1000, "a.mp4", time.time() - 2, 0, indexed=1))
        during = LibraryView(fresh).progress()
        assert (during["running"], during["pass"], during["fraction"], during["current"]) == \
            (True, 1, 0.25, "a.mp4")
        assert 2 <= during["elapsed"] < 30
    after = view.progress()  # the module's pass: finished, every file visited
    assert (after["running"], after["pass"], after["done"], after["total"]) == (False, 1, 5, 5)
    assert after["errors"] == 1 and after["indexed"] == 4  # the fake fails; music is indexed
