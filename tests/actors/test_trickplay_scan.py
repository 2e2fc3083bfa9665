"""Trick play made by the library scan, on a real generated film with real FFmpeg.

The film's brightness is its time (luma = 16 + 2.2 x whole seconds, in video range), keyframes every 2 s, so
a thumbnail or an I-frame shows which second of the film it is: each sheet cell and each
I-frame entry is compared with the source frame at its time, decoded the same way. The
scanner runs under a real supervisor on a real Runtime; every test ends with no tagged
process of its work dir alive and no partial folder left.
"""
from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import m3u8
import pytest

from actors.media import trickplay
from actors.media.index import Stamp
from actors.media.trickplay_files import PARTIAL, TrickplayStore
from actors.messages import ScanNow
from actors.runtime import Runtime
from tests.helpers import scanning
from tests.helpers.kernel import eventually
from tests.helpers.media import FFMPEG, FFPROBE
from tests.helpers.ramp import gray_mean, make_ramp
from tests.helpers.runtime import tagged_pids

pytestmark = pytest.mark.timeout(120)

FILM = "films/ramp.mp4"
PASS_TIMEOUT = 60.0
LUMA_TOLERANCE = 3.5  # one second of film is ~2.6 gray steps: a cell 2 s off is caught


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ramp(tmp_path_factory.mktemp("film") / "ramp.mp4")


@pytest.fixture(scope="module")
def expected(film: Path) -> list[float]:
    """The source's picture at each tick, as the thumbnails are compared."""
    return [gray_mean(["-ss", str(10 * n), "-i", str(film)], 32, 18) for n in range(10)]


@pytest.fixture
def library(film: Path, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / FILM).parent.mkdir(parents=True)
    os.link(film, root / FILM) if film.stat().st_dev == root.stat().st_dev else \
        (root / FILM).write_bytes(film.read_bytes())
    return root


class Scanned(scanning.Scanned):
    """The scanner, and where its trick play files are."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime, pass_timeout=PASS_TIMEOUT)
        self.store = TrickplayStore(runtime.settings.trickplay_path, runtime.settings.trickplay_bytes)

    def manifest(self, media_id: str = FILM) -> trickplay.Manifest | None:
        root = self.runtime.settings.media_root
        return self.store.manifest(media_id, Stamp.of(os.stat(root / media_id)))

    def folder(self, media_id: str = FILM) -> Path:
        root = self.runtime.settings.media_root
        return self.store.path(media_id, Stamp.of(os.stat(root / media_id)))


@pytest.fixture
def scanned(library: Path, tmp_path: Path) -> Iterator[Any]:
    """``scanned(**overrides)``: a scanner with these settings; stopped after, then the
    invariants: no tagged process of the work dir, no partial folder, threads back."""
    threads = threading.active_count()
    with scanning.scanners(library, tmp_path / "work", Scanned) as start:
        yield start
    assert tagged_pids(tmp_path / "work") == []
    assert not list((tmp_path / "work").glob(f"*/{PARTIAL}*"))
    eventually(lambda: threading.active_count() <= threads, timeout=10)


def test_each_thumbnail_shows_the_film_at_its_time(scanned, expected: list[float]) -> None:
    world = scanned()
    final = world.passes_finished(1)
    assert (final.thumbnails_done, final.thumbnails_total, final.thumbnail_fraction) == (1, 1, 1.0)
    manifest = world.manifest()
    assert manifest is not None and manifest.shape.ticks == 10 and manifest.shape.sheets == 1
    sheet = world.folder() / "0.jpg"
    for tick, want in enumerate(expected):
        _, x, y, _ = manifest.shape.cell(tick)
        got = gray_mean(["-i", str(sheet)], 32, 18, crop=f"320:180:{x}:{y}")
        assert abs(got - want) < LUMA_TOLERANCE, f"cell {tick}: {got:.1f}, the film {want:.1f}"
    cues = [line for line in trickplay.thumbnails_vtt(manifest).splitlines() if "#xywh" in line]
    assert len(cues) == 10 and cues[3] == "0.jpg#xywh=960,0,320,180"


def test_each_iframe_entry_decodes_alone_as_one_keyframe_at_its_time(scanned, expected: list[float],
                                                                    tmp_path: Path) -> None:
    world = scanned()
    world.passes_finished(1)
    manifest = world.manifest()
    assert manifest is not None
    playlist = m3u8.loads(trickplay.iframe_playlist(manifest))
    data = (world.folder() / trickplay.IFRAMES).read_bytes()
    init_length = int(playlist.segment_map[0].byterange.split("@")[0])
    assert len(playlist.segments) == 10
    for number, segment in enumerate(playlist.segments):
        length, offset = map(int, segment.byterange.split("@"))
        alone = tmp_path / f"entry{number}.mp4"
        alone.write_bytes(data[:init_length] + data[offset:offset + length])
        frames = subprocess.run([FFPROBE, "-v", "error", "-show_entries",
                                 "frame=pts_time,key_frame,width,height", "-of", "csv=p=0", str(alone)],
                                check=True, capture_output=True, text=True, timeout=30).stdout.split()
        assert len(frames) == 1, f"entry {number}: {frames}"
        key, pts, width, height = frames[0].split(",")[:4]
        assert (key, int(width), int(height)) == ("1", 480, 270)
        assert abs(float(pts) - number * 10) < 0.04
        assert abs(gray_mean(["-i", str(alone)], 32, 18) - expected[number]) < LUMA_TOLERANCE
    probe = subprocess.run([FFPROBE, "-v", "error", "-show_entries", "stream=profile,level",
                            "-of", "csv=p=0", str(world.folder() / trickplay.IFRAMES)],
                           check=True, capture_output=True, text=True, timeout=30).stdout.strip()
    assert probe == "Main,30"  # what IFRAME_CODECS (avc1.4d401e) says


def test_made_once_per_version_kept_across_a_restart_and_swept_with_the_file(scanned, library: Path) -> None:
    world = scanned()
    world.passes_finished(1)
    old_folder = world.folder()
    made = (old_folder / trickplay.MANIFEST).stat().st_mtime_ns
    world.supervisor.stop(timeout=40)
    again = scanned()
    again.passes_finished(1)
    assert again.facts()["trickplay_runs"] == 0  # found made: no FFmpeg ran
    assert (old_folder / trickplay.MANIFEST).stat().st_mtime_ns == made
    make_ramp(library / FILM, seconds=30, shade=7)  # a new version of the file
    again.scanner().tell(ScanNow())
    again.passes_finished(2)
    assert again.manifest() is not None and again.manifest().shape.ticks == 3
    assert not old_folder.exists()
    (library / FILM).unlink()
    again.scanner().tell(ScanNow())
    again.passes_finished(3)
    assert list(again.store.folder.iterdir()) == []


def hanging_fake(tmp_path: Path) -> Path:
    fake = tmp_path / "ffmpeg-hangs-on-trickplay"
    fake.write_text("#!/bin/bash\n# Fake FFmpeg: the poster is real, the trick play pass hangs.\n"
                    f'case "$*" in *{trickplay.IFRAMES}*) exec -a hlsd-ffmpeg sleep 600;; esac\n'
                    f'exec {FFMPEG} "$@"\n')
    fake.chmod(0o755)
    return fake


def test_a_scanner_stopped_mid_pass_kills_its_ffmpeg_with_a_fake_ffmpeg_that_hangs(
        scanned, tmp_path: Path) -> None:
    world = scanned(ffmpeg=str(hanging_fake(tmp_path)))
    pid = eventually(lambda: world.facts()["trickplay_pid"], timeout=PASS_TIMEOUT)
    eventually(lambda: pid in tagged_pids(tmp_path / "work"), timeout=5)  # bash has exec'd sleep
    assert world.runtime.live.runs() == {"trickplay-1"}  # the reaper leaves it alone
    world.supervisor.stop(timeout=40)
    assert tagged_pids(tmp_path / "work") == [] and world.runtime.live.runs() == set()
    assert world.manifest() is None


def test_a_pass_past_its_deadline_is_given_up_with_a_fake_ffmpeg_that_hangs(
        scanned, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("actors.trickplay.BASE_TIMEOUT", 1.0)
    monkeypatch.setattr("actors.trickplay.TIMEOUT_PER_FILM_SECOND", 0.0)
    world = scanned(ffmpeg=str(hanging_fake(tmp_path)))
    final = world.passes_finished(1)  # the deadline ended the pass, not a hang
    assert (final.thumbnails_done, final.thumbnail_fraction) == (1, 1.0)
    assert world.manifest() is None and tagged_pids(tmp_path / "work") == []
    world.scanner().tell(ScanNow())
    world.passes_finished(2)
    assert world.facts()["trickplay_runs"] == 1  # not tried again until a restart


def test_no_new_files_once_the_store_reaches_hls_trickplay_bytes(scanned, library: Path) -> None:
    (library / "films" / "again.mp4").write_bytes((library / FILM).read_bytes())
    world = scanned(trickplay_bytes=1000)  # the first film's files pass it
    final = world.passes_finished(1)
    assert (final.thumbnails_done, final.thumbnails_total) == (2, 2)
    made = [world.manifest(media_id) for media_id in ("films/again.mp4", FILM)]
    assert sum(manifest is not None for manifest in made) == 1  # the first one visited
    assert world.facts()["trickplay_runs"] == 1
