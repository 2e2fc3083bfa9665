"""The segment store (``actors.store.SegmentStore``) and the shelves it is keyed by
(``actors.media.shelves``): whole or nothing, least recently read evicted, never more
than its bound by more than one segment, rebuilt after a restart, and another shelf for
anything that changes the bytes."""
from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from actors import ffmpeg, media
from actors.media import RenditionKey
from actors.media.shelves import shelf
from actors.store import SegmentStore
from tests.helpers.procs import store_problems
from tests.helpers.track_clips import film_plan

SHELF = "a" * 32


def segment(directory: Path, name: str, size: int) -> Path:
    path = directory / name
    path.write_bytes(bytes([len(name)]) * size)
    return path


def fresh(tmp_path: Path, bound: int) -> SegmentStore:
    store = SegmentStore(tmp_path / "work" / ffmpeg.STORE_DIR, bound)
    store.rebuild()
    return store


def test_a_put_segment_is_read_back_whole_and_the_source_may_go(tmp_path):
    store = fresh(tmp_path, 10_000)
    source = segment(tmp_path, "0.ts", 1000)
    assert store.put(SHELF, 0, source)
    source.unlink()  # the run dir goes; the store keeps its own name
    with store.open(SHELF, 0) as opened:
        assert opened.read() == b"\x04" * 1000
    assert store.open(SHELF, 1) is None and store.usage() == (1, 1000)
    assert [p.name for p in store.root.iterdir()] == [f"{SHELF}.0"]  # no temporary left


def test_a_kept_segment_is_put_once_and_a_failed_runs_segments_go(tmp_path):
    store = fresh(tmp_path, 10_000)
    assert store.put(SHELF, 0, segment(tmp_path, "0.ts", 100))
    assert not store.put(SHELF, 0, segment(tmp_path, "again.ts", 50))  # the first one stays
    assert store.put(SHELF, 1, segment(tmp_path, "1.ts", 100))
    store.discard(SHELF, [0, 1, 7])
    assert store.usage() == (0, 0) and list(store.root.iterdir()) == []


def test_a_put_cut_short_leaves_nothing_behind(tmp_path):
    store = fresh(tmp_path, 10_000)
    assert not store.put(SHELF, 0, tmp_path / "gone.ts")  # vanished before it was linked
    assert list(store.root.iterdir()) == [] and store.usage() == (0, 0)
    (store.root / ".put-deadbeef").write_bytes(b"half")  # what a killed hlsd left mid-put
    store.rebuild()
    assert list(store.root.iterdir()) == []


def test_the_least_recently_read_goes_first_and_the_bound_holds(tmp_path):
    store = fresh(tmp_path, 3000)
    for n in range(3):
        assert store.put(SHELF, n, segment(tmp_path, f"{n}.ts", 1000))
    store.open(SHELF, 0).close()  # 0 is read: 1 is now the least recently read
    assert store.put(SHELF, 3, segment(tmp_path, "3.ts", 1000))
    assert [store.has(SHELF, n) for n in range(4)] == [True, False, True, True]
    for n in range(4, 40):
        store.put(SHELF, n, segment(tmp_path, f"{n}.ts", 700 + n))
        count, total = store.usage()
        assert total <= 3000
        assert store_problems(tmp_path / "work", bound=3000) == []
        assert sum(p.stat().st_size for p in store.root.iterdir()) == total
    assert not store.put(SHELF, 99, segment(tmp_path, "big.ts", 3001))  # never fits


def test_a_zero_bound_keeps_nothing(tmp_path):
    store = SegmentStore(tmp_path / "work" / ffmpeg.STORE_DIR, 0)
    store.rebuild()
    assert not store.enabled and not store.put(SHELF, 0, segment(tmp_path, "0.ts", 10))
    assert not store.root.exists()


def test_a_restart_rebuilds_the_store_and_its_reading_order(tmp_path):
    store = fresh(tmp_path, 3000)
    for n in range(3):
        store.put(SHELF, n, segment(tmp_path, f"{n}.ts", 1000))
        os.utime(store.root / f"{SHELF}.{n}", ns=(10**18 + n, 10**18 + n))
    store.open(SHELF, 0).close()  # read last: it must outlive 1 after the restart
    again = fresh(tmp_path, 3000)
    assert again.usage() == (3, 3000)
    again.put(SHELF, 3, segment(tmp_path, "3.ts", 1000))
    assert [again.has(SHELF, n) for n in range(4)] == [True, False, True, True]
    smaller = fresh(tmp_path, 1500)  # a smaller bound at start-up evicts at once
    assert smaller.usage()[1] <= 1500


def test_an_open_segment_stays_readable_after_its_eviction(tmp_path):
    store = fresh(tmp_path, 2000)
    store.put(SHELF, 0, segment(tmp_path, "0.ts", 1000))
    readers = [store.open(SHELF, 0) for _ in range(4)]
    errors: list[BaseException] = []

    def evict() -> None:
        try:
            for n in range(1, 30):
                store.put(SHELF, n, segment(tmp_path, f"e{n}.ts", 1000))
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    thread = threading.Thread(target=evict)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and errors == []
    assert not store.has(SHELF, 0) and not (store.root / f"{SHELF}.0").exists()
    for reader in readers:
        with reader:
            assert reader.read() == b"\x04" * 1000


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> media.Plan:
    return film_plan(tmp_path_factory.mktemp("shelves"), "\n240p 240 400k 96k\n180p 180 300k 64k\ncopy copy",
                     seconds=20)


def test_a_shelf_is_the_same_whatever_the_run_starts_at_and_differs_for_other_bytes(plan):
    v240, version = RenditionKey.video("240p"), "ffmpeg version 5.1.9"
    base = shelf(plan, v240, version)
    later = replace(plan, start_segment=5)  # another session, starting later in the film
    assert shelf(later, v240, version) == base and base.isalnum()
    others = {
        "ffmpeg upgraded": shelf(plan, v240, "ffmpeg version 6.0"),
        "another rendition": shelf(plan, RenditionKey.video("180p"), version),
        "copy": shelf(plan, RenditionKey.video("copy"), version),
        "an audio track": shelf(plan, RenditionKey.audio(plan.audio[0].index), version),
        "audio muxed": shelf(replace(plan, audio=()), v240, version),
        "another file version": shelf(replace(plan, info=replace(plan.info, mtime=plan.info.mtime + 1)),
                                      v240, version),
        "another grid": shelf(replace(plan, boundaries={
            name: tuple(b * 1.5 for b in grid) for name, grid in plan.boundaries.items()}), v240, version),
    }
    embedded = next(t for t in plan.subtitles if t.path is None)
    burned = replace(embedded, kind="image", codec="hdmv_pgs_subtitle")  # as if it were PGS
    others["a burned track"] = shelf(replace(plan, burn=burned), v240, version)
    assert base not in others.values()
    assert len(set(others.values())) == len(others), others


def test_a_sidecar_subtitle_file_changed_gets_another_shelf(plan):
    sidecar = next(t for t in plan.subtitles if t.path is not None)
    key, version = RenditionKey.subtitles(sidecar.index), "ffmpeg version 5.1.9"
    before = shelf(plan, key, version)
    stat = sidecar.path.stat()
    os.utime(sidecar.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert shelf(plan, key, version) != before
