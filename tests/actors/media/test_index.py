"""The media index on real SQLite files: restarts, staleness, corruption, threads, speed."""
from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from actors.media.index import MediaIndex, Stamp

STAMP = Stamp(size=1000, mtime_ns=1_700_000_000_000_000_000, inode=42)
PROBE = {"format": {"duration": "125.5"},
         "streams": [{"codec_type": "video", "codec_name": "h264", "width": 1280,
                      "height": 720},
                     {"codec_type": "audio", "codec_name": "aac"}]}
KEYFRAMES = tuple(i * 2.002 + 0.0417 for i in range(3000))


@pytest.fixture
def index(tmp_path: Path):
    opened = MediaIndex(tmp_path / "index.sqlite3")
    yield opened
    opened.close()


def fill(index: MediaIndex, media_id: str = "films/a.mkv", stamp: Stamp = STAMP) -> None:
    index.put_probe(media_id, stamp, PROBE)
    index.put_keyframes(media_id, stamp, KEYFRAMES, complete=True)


def test_an_entry_survives_a_restart(tmp_path: Path) -> None:
    first = MediaIndex(tmp_path / "index.sqlite3")
    fill(first)
    first.set_position("films/a.mkv", 2530.0)
    first.close()
    again = MediaIndex(tmp_path / "index.sqlite3")
    entry = again.get("films/a.mkv", STAMP)
    assert entry is not None and entry.probe == PROBE
    assert (entry.duration, entry.width, entry.height) == (125.5, 1280, 720)
    assert (entry.video_codec, entry.audio_codec) == ("h264", "aac")
    assert entry.keyframes_complete and entry.has_keyframes
    assert again.keyframes("films/a.mkv", STAMP) == KEYFRAMES  # float64: bit for bit
    assert again.position("films/a.mkv") == 2530.0
    again.close()


def test_a_different_stamp_is_stale_and_a_new_write_replaces_the_entry(
        index: MediaIndex) -> None:
    fill(index)
    poster = index.poster_path("films/a.mkv", STAMP)
    poster.parent.mkdir(parents=True)
    poster.write_bytes(b"jpeg")
    index.set_poster("films/a.mkv", STAMP, poster)
    index.set_position("films/a.mkv", 61.0)
    touched = STAMP._replace(mtime_ns=STAMP.mtime_ns + 1)
    for stale in (touched, STAMP._replace(size=999), STAMP._replace(inode=43)):
        assert index.get("films/a.mkv", stale) is None
        assert index.keyframes("films/a.mkv", stale) is None
    index.put_probe("films/a.mkv", touched, PROBE)
    entry = index.get("films/a.mkv", touched)
    assert entry is not None and not entry.has_keyframes and entry.poster is None
    assert index.get("films/a.mkv", STAMP) is None
    assert not poster.exists(), "the old version's poster is deleted with it"
    assert index.position("films/a.mkv") == 61.0, "a viewer's place outlives re-indexing"


def test_garbage_bytes_are_moved_aside_and_rebuilt(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "index.sqlite3"
    path.write_bytes(b"this is not a database\n" * 500)
    with caplog.at_level(logging.ERROR):
        index = MediaIndex(path)
    assert any("unusable" in record.getMessage() for record in caplog.records)
    assert (tmp_path / "index.sqlite3.corrupt").read_bytes().startswith(b"this is not")
    fill(index)
    assert index.keyframes("films/a.mkv", STAMP) == KEYFRAMES
    index.close()
    assert sqlite3.connect(path).execute("PRAGMA quick_check").fetchone()[0] == "ok"


def test_a_truncated_database_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    index = MediaIndex(path)
    for n in range(300):
        fill(index, f"films/{n}.mkv")
    index.close()  # the last connection to close checkpoints the WAL into the file
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    rebuilt = MediaIndex(path)
    assert (tmp_path / "index.sqlite3.corrupt").exists()
    assert rebuilt.stats().files == 0
    fill(rebuilt)
    assert rebuilt.get("films/a.mkv", STAMP) is not None
    rebuilt.close()


def test_a_newer_schema_is_left_alone_and_the_index_runs_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    MediaIndex(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 99")
    index = MediaIndex(path)
    fill(index)
    assert index.get("films/a.mkv", STAMP) is not None
    index.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 99
        assert connection.execute("SELECT count(*) FROM media").fetchone()[0] == 0


def test_an_unwritable_location_runs_in_memory(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    index = MediaIndex(tmp_path / "a-file" / "index.sqlite3")
    fill(index)
    assert index.keyframes("films/a.mkv", STAMP) == KEYFRAMES
    index.close()


def test_two_indexes_on_one_file_from_two_threads(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    indexes = [MediaIndex(path), MediaIndex(path)]
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            for n in range(100):
                fill(indexes[number], f"node{number}/{n}.mkv")
                indexes[number].set_position(f"node{number}/{n}.mkv", n)
                seen = indexes[number].keyframes(f"node{1 - number}/0.mkv", STAMP)
                assert seen in (None, KEYFRAMES)  # not written yet, or written whole
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    for index in indexes:
        assert index.stats().files == 200
        assert index.position("node1/99.mkv") == 99
        index.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_one_index_used_from_many_threads(index: MediaIndex) -> None:
    fill(index)
    results: list[tuple[float, ...] | None] = []
    threads = [threading.Thread(target=lambda: results.append(
        index.keyframes("films/a.mkv", STAMP))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [KEYFRAMES] * 8


@pytest.fixture
def library(index: MediaIndex) -> MediaIndex:
    """5,000 files in 50 folders of 100, positions for every 10th."""
    for n in range(5000):
        media_id = f"shows/show{n // 100:02d}/episode {n % 100:03d}.mkv"
        index.put_probe(media_id, STAMP._replace(inode=n), PROBE)
        if n % 10 == 0:
            index.set_position(media_id, float(n))
    index.put_probe("top.mp4", STAMP, PROBE)
    return index


def test_listing_5000_files_uses_the_folder_index(library: MediaIndex) -> None:
    """Right answers, and the folder listing's query plan walks the folder index in name
    order (no sort): the structure that keeps it fast. Its speed is bench row 9's."""
    rows = library.listing("shows/show07", limit=500)
    found = library.listing(query="EPISODE 042", limit=500)
    assert [row.media_id for row in rows] == [
        f"shows/show07/episode {n:03d}.mkv" for n in range(100)]
    assert rows[0].position == 700.0 and rows[1].position is None
    assert (rows[0].duration, rows[0].width, rows[0].video_codec) == (125.5, 1280, "h264")
    assert [row.media_id for row in found] == [
        f"shows/show{n:02d}/episode 042.mkv" for n in range(50)]
    assert len(library.listing("shows/show03", query="episode 04")) == 10
    plan = " ".join(row[3] for row in library._connection().execute(
        "EXPLAIN QUERY PLAN SELECT media.path FROM media LEFT JOIN positions USING (path) "
        "WHERE media.folder = ? ORDER BY media.name", ("shows/show07",)))
    assert "USING INDEX media_folder" in plan and "TEMP B-TREE" not in plan, plan


def test_listing_pages_and_folders(library: MediaIndex) -> None:
    page = library.listing("shows/show00", limit=30, offset=90)
    assert [row.media_id for row in page] == [
        f"shows/show00/episode {n:03d}.mkv" for n in range(90, 100)]
    assert [row.media_id for row in library.listing("")] == ["top.mp4"]
    assert library.subfolders("") == ["shows"]
    assert library.subfolders("shows") == [f"show{n:02d}" for n in range(50)]
    assert library.subfolders("shows/show01") == []


def test_forget_missing_removes_entries_posters_and_positions(index: MediaIndex) -> None:
    for name in ("a.mkv", "b.mkv", "c.mkv"):
        fill(index, name)
        index.set_position(name, 10.0)
    poster = index.poster_path("b.mkv", STAMP)
    poster.parent.mkdir(parents=True)
    poster.write_bytes(b"jpeg")
    index.set_poster("b.mkv", STAMP, poster)
    assert index.forget_missing(["a.mkv", "c.mkv", "new.mkv"]) == ["b.mkv"]
    assert index.media_ids() == {"a.mkv", "c.mkv"}
    assert not poster.exists() and index.position("b.mkv") is None
    assert index.position("a.mkv") == 10.0
    stats = index.stats()
    assert (stats.files, stats.probed, stats.with_keyframes, stats.positions) == (2, 2, 2, 2)
    assert stats.media_bytes == 2 * STAMP.size and stats.database_bytes > 0
