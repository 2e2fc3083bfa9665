"""Sessions that use each other's work, through the real HlsSystem: real FFmpeg, real
files. Spawns are counted (``ffmpeg.spawn`` wrapped, the real one still runs); segments
are decoded as a player would."""
from __future__ import annotations

import json
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from actors import ffmpeg, trickplay
from actors.errors import Unavailable
from actors.media import RenditionKey
from actors.system import HlsSystem
from tests.helpers.kernel import eventually
from tests.helpers.media import make_clip
from tests.helpers.procs import store_problems
from tests.helpers.runtime import hlsd_systems
from tests.helpers.track_clips import make_film

pytestmark = pytest.mark.timeout(120)
PROFILES = "\n 240p 240 400k 64k\n copy copy"
V240 = RenditionKey.video("240p")
SEGMENTS = 15  # 30 s in 2 s segments


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared-media")
    make_clip(root / "movie.mp4", 30, width=640, height=360, fps=25, bframes=2)
    make_film(root, seconds=12)
    return root


@pytest.fixture
def spawns(monkeypatch):
    """Every FFmpeg hlsd spawns for a session, by the run it makes (the real spawn still
    runs; the library scan's trick play passes are not a session's)."""
    made: list[str] = []
    real = ffmpeg.spawn

    def counting(build_argv, tag, cwd, executable):
        if tag.session != trickplay.SESSION:
            made.append(tag.run)
        return real(build_argv, tag, cwd, executable)

    monkeypatch.setattr(ffmpeg, "spawn", counting)
    return made


@pytest.fixture
def start_system(library, tmp_path):
    systems: list[HlsSystem] = []
    with hlsd_systems(library, tmp_path / "work", profiles=PROFILES) as start:
        def started(**overrides):
            systems.append(start(**overrides))
            return systems[-1]

        yield started
    for system in systems:
        assert system.runtime.shared.counts() == (0, 0), "a session left an offer or a watch"
    assert store_problems(tmp_path / "work", bound=systems[0].settings.segment_store_bytes) == []


def read(system: HlsSystem, session: str, number: int, key: RenditionKey = V240, tries: int = 40) -> bytes:
    """A segment as a player reads it: a "retry" answer is retried (bounded)."""
    for _ in range(tries):
        try:
            answer = system.segment(session, key, number)
        except Unavailable as error:
            threading.Event().wait(min(error.retry_in or 0.25, 0.25))
            continue
        if isinstance(answer, str):
            return answer.encode()
        with answer:
            return answer.read()
    raise AssertionError(f"segment {number} of {key.describe()} never came")


def frames(stream: bytes, work: Path) -> tuple[str, list[float]]:
    """Decode ``stream`` like a player; (FFmpeg's errors, every video frame's pts)."""
    path = work / f"stream-{len(stream)}.ts"
    path.write_bytes(stream)
    errors = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=60).stderr
    probed = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                             "frame=pts_time", "-of", "json", str(path)],
                            capture_output=True, text=True, timeout=60).stdout
    return errors, [float(f["pts_time"]) for f in json.loads(probed)["frames"]]


def assert_continuous(stream: bytes, work: Path, seconds: float, fps: float = 25) -> None:
    errors, times = frames(stream, work)
    assert errors == ""
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(0 < gap < 1.5 / fps for gap in gaps), "a gap or an overlap at a splice"
    assert abs((times[-1] - times[0] + 1 / fps) - seconds) < 1.5 / fps


def test_a_second_viewer_is_served_by_the_first_viewers_run(start_system, spawns, tmp_path):
    # No pacing here (each viewer reads as fast as it can, so either may lag the run).
    system = start_system(pause_ahead=100)
    first, second = (system.open_session("movie.mp4", "240p")["id"] for _ in range(2))
    read(system, first, 0)
    with ThreadPoolExecutor(2) as pool:
        streams = list(pool.map(lambda s: b"".join(read(system, s, n) for n in range(SEGMENTS)),
                                (first, second)))
    assert spawns == [system.session_state(first)["run"]], "one transcode for both viewers"
    state = system.session_state(second)
    assert state["video_runs"] == 0 and state["transcoder_pid"] is None
    assert state["shared"]["from_store"] >= SEGMENTS  # each one stored, some after a wait
    assert streams[0] == streams[1]
    assert_continuous(streams[1], tmp_path, 30)
    count, size = system.runtime.store.usage()
    assert count == SEGMENTS and size > 0


def test_a_late_viewer_splices_the_first_viewers_segments_with_its_own(start_system, spawns, tmp_path):
    system = start_system()
    first, second = (system.open_session("movie.mp4", "240p")["id"] for _ in range(2))
    early = [read(system, first, n) for n in range(5)]
    assert [read(system, second, n) for n in range(5)] == early  # from the store
    system.stop_session(first)  # the first viewer stops mid-film: the second goes on
    rest = [read(system, second, n) for n in range(5, SEGMENTS)]
    state = system.session_state(second)
    assert len(spawns) == 2 and state["video_runs"] == 1 and state["restarts"] == 0
    assert_continuous(b"".join(early + rest), tmp_path, 30)


def test_a_viewer_waiting_on_a_run_that_ends_takes_over(start_system, spawns, tmp_path):
    system = start_system(pause_ahead=100)
    first, second = (system.open_session("movie.mp4", "240p")["id"] for _ in range(2))
    read(system, first, 0)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(read(system, second, n) for n in range(SEGMENTS)))
    reader.start()
    eventually(lambda: len(got) >= 2 or None, timeout=30)
    system.stop_session(first)  # the run the second viewer leans on goes, mid-read
    reader.join(timeout=90)
    assert not reader.is_alive() and len(got) == SEGMENTS
    assert system.session_state(second)["video_runs"] <= 1 and len(spawns) <= 2
    assert_continuous(b"".join(got), tmp_path, 30)


def test_a_viewer_leaning_on_a_suspended_run_takes_over_rather_than_starve(start_system, spawns):
    system = start_system(pause_ahead=2)
    first, second = (system.open_session("movie.mp4", "240p")["id"] for _ in range(2))
    read(system, first, 0)  # the first viewer then pauses at 0: its run is soon suspended
    eventually(lambda: system.session_state(first)["transcoder_pid"] and
               _suspended(system.session_state(first)["transcoder_pid"]) or None, timeout=30)
    made = max(system.session_state(first)["segments_ready"])
    assert read(system, second, made + 1)  # within reach of the suspended run: no wait on it
    assert system.session_state(second)["video_runs"] == 1 and len(spawns) == 2


def _suspended(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.NoSuchProcess:
        return False


def test_audio_tracks_and_subtitles_are_shared_too(start_system, spawns):
    system = start_system()
    first, second = (system.open_session("Film.mkv")["id"] for _ in range(2))
    plan = system.gateway.plan(first)[1]
    audio, subtitles = RenditionKey.audio(plan.audio[0].index), RenditionKey.subtitles(plan.subtitles[0].index)
    made = {key: [read(system, first, n, key) for n in range(3)] for key in (audio, subtitles)}
    assert b"WEBVTT" in made[subtitles][0]
    before = len(spawns)
    for key, segments in made.items():
        assert [read(system, second, n, key) for n in range(3)] == segments
    assert len(spawns) == before == 2, "the second viewer's tracks came from the store"
    assert system.session_state(second)["track_runs"] == {}


def test_the_store_outlives_a_restart_and_an_upgrade_of_ffmpeg_misses_it(start_system, spawns, library, tmp_path):
    system = start_system()
    session = system.open_session("movie.mp4", "240p")["id"]
    kept = read(system, session, 3)
    system.stop()
    again = start_system()
    session = again.open_session("movie.mp4", "240p")["id"]
    assert read(again, session, 3) == kept and len(spawns) == 1  # nothing transcoded again
    again.stop()
    upgraded = start_system()
    upgraded.runtime.ffmpeg_version += " (upgraded)"
    session = upgraded.open_session("movie.mp4", "240p")["id"]
    read(upgraded, session, 3)
    assert len(spawns) == 2, "a segment of another FFmpeg version was served"
