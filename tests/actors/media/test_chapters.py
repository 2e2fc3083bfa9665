"""Chapters: read by ffprobe from real MKV and MP4 files, kept in the media index (a
restart runs no ffprobe), and the rules a listing follows (sorted, clipped, named)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from actors.media import Prober, chapter_json
from actors.media._schema import MIGRATIONS
from actors.media.chapters import parse_chapters
from actors.media.index import MediaIndex, Stamp
from tests.helpers import ffmpeg_tools
from tests.helpers.chapters import make_chaptered_clip
from tests.helpers.media import FFPROBE

EXPECTED = [{"title": "Opening", "start": 0.0, "end": 6.0},
            {"title": "Chapter 2", "start": 6.0, "end": 14.0},
            {"title": "The End", "start": 14.0, "end": 24.0}]


@pytest.fixture(scope="module")
def chaptered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chaptered")
    for name in ("film.mkv", "film.mp4"):
        make_chaptered_clip(root / name, 24, width=320, height=180)
    return root


@pytest.mark.parametrize("name", ["film.mkv", "film.mp4"])
def test_the_chapters_of_a_matroska_and_an_mp4_file_are_listed(chaptered: Path, name: str) -> None:
    info = Prober(FFPROBE).probe(chaptered / name)
    expected = [dict(EXPECTED[1], title="Middle") if c["start"] == 6.0 and name.endswith(".mp4") else c
                for c in EXPECTED]
    assert chapter_json(info.chapters) == expected


def test_chapters_are_kept_in_the_index_so_a_restart_runs_no_ffprobe(chaptered: Path, tmp_path: Path) -> None:
    script, log = ffmpeg_tools.counting_ffprobe(tmp_path, delay=0.0)
    index = MediaIndex(tmp_path / "index.sqlite3")
    first = Prober(str(script), index=index, media_root=chaptered).probe(chaptered / "film.mkv")
    assert len(log.read_text().splitlines()) == 1
    index.close()
    index = MediaIndex(tmp_path / "index.sqlite3")  # the next start of hlsd
    again = Prober(str(script), index=index, media_root=chaptered).probe(chaptered / "film.mkv")
    index.close()
    assert len(log.read_text().splitlines()) == 1
    assert again.chapters == first.chapters and chapter_json(again.chapters) == EXPECTED


def test_a_probe_stored_before_chapters_is_read_again_once(tmp_path: Path) -> None:
    """Schema 1 stored probes without ``-show_chapters``; migrating to 2 drops those (not
    the rest of the entry), and keeps probes that carry a chapters list, empty or not."""
    path = tmp_path / "index.sqlite3"
    with sqlite3.connect(path) as connection:
        for statement in MIGRATIONS[0]:
            connection.execute(statement)
        connection.execute("PRAGMA user_version = 1")
        for name, probe in (("old.mkv", {"format": {}}), ("new.mkv", {"format": {}, "chapters": []})):
            connection.execute("INSERT INTO media (path, folder, name, search_key, size, mtime_ns, inode, probe,"
                               " video_codec, indexed_at) VALUES (?, '', ?, ?, 1, 2, 3, ?, 'h264', 0)",
                               (name, name, name, json.dumps(probe)))
    index = MediaIndex(path)
    old, new = index.get("old.mkv", Stamp(1, 2, 3)), index.get("new.mkv", Stamp(1, 2, 3))
    index.close()
    assert old is not None and old.probe is None and old.video_codec == "h264"
    assert new is not None and new.probe == {"format": {}, "chapters": []}
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def chapter(start: object, end: object, title: str | None = None) -> dict[str, object]:
    return {"start_time": start, "end_time": end, **({"tags": {"title": title}} if title is not None else {})}


def test_chapters_are_sorted_clipped_to_the_file_and_named() -> None:
    probed = {"chapters": [chapter("50.0", "130.0", "Last"), chapter("10.5", "10.5", "No end"),
                           chapter("10.0", "50.0", "  "), chapter("150", "160", "Past the end"),
                           chapter("nan", "3", "Broken"), chapter("5.0", "10.0"),
                           chapter("50.0", "130.0", "Last, listed again")]}
    # start_time 5: the media timeline starts at the container's first timestamp.
    listed = chapter_json(parse_chapters(probed, start_time=5.0, duration=100.0))
    assert listed == [{"title": "Chapter 1", "start": 0.0, "end": 5.0},
                      {"title": "Chapter 2", "start": 5.0, "end": 5.5},  # clipped by the next
                      {"title": "No end", "start": 5.5, "end": 45.0},  # zero length: until the next
                      {"title": "Last", "start": 45.0, "end": 100.0}]


def test_a_chapter_without_an_end_ends_where_the_next_begins() -> None:
    probed = {"chapters": [chapter("0", None, "A"), chapter("30", "20", "B")]}
    assert chapter_json(parse_chapters(probed, 0.0, 60.0)) == [
        {"title": "A", "start": 0.0, "end": 30.0}, {"title": "B", "start": 30.0, "end": 60.0}]
    assert parse_chapters({}, 0.0, 60.0) == ()
