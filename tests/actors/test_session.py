"""Sessions and playback through the real HlsSystem: real FFmpeg, real files, real timers."""
from __future__ import annotations

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import m3u8
import psutil
import pytest

from actors import tokens
from actors.errors import NotFound, SessionFailed, Unavailable
from actors.errors import HlsError as MediaError, NotMedia, Unplayable
from actors.session import Session
from actors.media import RenditionKey
from tests.helpers.kernel import eventually
from tests.helpers.media import make_clip
from tests.helpers.runtime import FAKES, hlsd_systems, leftover_runs, tagged_pids

pytestmark = pytest.mark.timeout(120)
PROFILES = "\n copy copy\n 360p 360 600k 64k"
COPY, P360 = RenditionKey.video("copy"), RenditionKey.video("360p")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    make_clip(root / "movie.mp4", 60, width=1280, height=720, fps=30, bframes=2)
    make_clip(root / "mp3.mkv", 12, width=640, height=360, fps=25, audio="mp3")
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 5000)
    return root


@pytest.fixture
def start_system(library, tmp_path):
    """Start an HlsSystem with settings overrides; stop it and check the invariants."""
    with hlsd_systems(library, tmp_path / "work", profiles=PROFILES) as start:
        yield start


def state_or_none(system, session_id):
    try:
        return system.session_state(session_id)["state"]
    except Unavailable:
        return None


def read(system, session_id, profile, number) -> bytes:
    with system.segment(session_id, RenditionKey.video(profile), number) as segment:
        return segment.read()


def segment_count(system, session_id, profile):
    playlist = m3u8.loads(system.media_playlist(session_id, RenditionKey.video(profile), str).decode())
    return len(playlist.segments)


def decode(path: Path) -> tuple[str, float]:
    """Decode like a player would; return (errors, decoded duration)."""
    errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=60).stderr
    duration = float(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=30).stdout.strip())
    return errors, duration


def test_playlists_are_valid_vod_playlists_of_the_whole_file(start_system):
    system = start_system()
    session = system.open_session("movie.mp4")
    master = m3u8.loads(system.master_playlist(session["id"], lambda name: f"{name}/index.m3u8"))
    assert {p.stream_info.resolution for p in master.playlists} == {(1280, 720), (640, 360)}
    assert {variant.uri for variant in master.playlists} == {"copy/index.m3u8", "360p/index.m3u8"}
    for variant in master.playlists:
        assert variant.stream_info.bandwidth > 0 and "avc1" in variant.stream_info.codecs
    for profile in ("copy", "360p"):
        playlist = m3u8.loads(system.media_playlist(session["id"], RenditionKey.video(profile), str).decode())
        assert playlist.playlist_type == "vod" and playlist.is_endlist
        assert playlist.media_sequence == 0
        assert all(round(s.duration) <= playlist.target_duration for s in playlist.segments)
        assert abs(sum(s.duration for s in playlist.segments) - 60.0) < 1 / 30 + 1e-3


@pytest.mark.parametrize("profile", ["copy", "360p"])
def test_every_segment_decodes_end_to_end_as_a_player_reads_them(start_system, tmp_path, profile):
    system = start_system()
    session = system.open_session("movie.mp4", profile)
    stream = tmp_path / "stream.ts"
    with stream.open("wb") as out:
        for number in range(segment_count(system, session["id"], profile)):
            out.write(read(system, session["id"], profile, number))
    errors, duration = decode(stream)
    assert errors == ""
    assert abs(duration - 60.0) < 0.1
    assert system.session_state(session["id"])["restarts"] == 0


def test_seek_to_the_middle_then_back_splices_cleanly_with_one_run_per_seek(start_system, tmp_path):
    system = start_system()
    session_id = system.open_session("movie.mp4", "copy")["id"]
    total = segment_count(system, session_id, "copy")
    middle = total // 2
    parts = {middle: read(system, session_id, "copy", middle)}
    parts[0] = read(system, session_id, "copy", 0)
    for number in range(1, total):
        if number not in parts:
            parts[number] = read(system, session_id, "copy", number)
    stream = tmp_path / "seeked.ts"
    stream.write_bytes(b"".join(parts[n] for n in range(total)))
    errors, duration = decode(stream)
    assert "non monotonically" not in errors and errors == ""
    assert abs(duration - 60.0) < 0.1
    # Lazy start: the first request (the middle) is where the first run begins, not a
    # seek; the jump back to 0 is the one seek. Exactly two runs in all.
    assert system.runtime.metrics.seeks._value.get() == 1, "one new run per seek, no more"
    assert system.session_state(session_id)["run"].endswith("-2")


def test_concurrent_requests_for_the_same_missing_segment_cause_one_restart(start_system):
    system = start_system()
    session_id = system.open_session("movie.mp4", "360p")["id"]
    far = segment_count(system, session_id, "360p") - 3
    with ThreadPoolExecutor(6) as pool:
        bodies = list(pool.map(lambda _: read(system, session_id, "360p", far), range(6)))
    assert len(set(bodies)) == 1 and bodies[0]
    # Lazy start: the first of them starts the one run, the others join it.
    assert system.runtime.metrics.seeks._value.get() == 0
    assert system.session_state(session_id)["run"].endswith("-1")


def test_start_makes_the_first_run_begin_at_that_segment(start_system):
    system = start_system()
    session_id = system.open_session("movie.mp4", "copy", start=30.0)["id"]
    # Lazy start: nothing runs until the player asks for the segment at 30 s.
    assert tagged_pids(system.settings.work_dir, scan=False) == [] and system.session_state(session_id)["run"] is None
    plan = system.runtime.directory.plan(session_id)
    start = tokens.verify(session_id, system.secret, 60, time.time()).start
    assert start == plan.start_segment and plan.boundaries["copy"][start] <= 30.0 < plan.boundaries["copy"][start + 1]
    assert read(system, session_id, "copy", start)
    assert min(system.session_state(session_id)["segments_ready"]) >= start - 1
    assert read(system, session_id, "copy", start + 1)
    assert system.runtime.metrics.seeks._value.get() == 0


def test_idle_session_stops_ffmpeg_and_resumes_at_the_segment_asked_for(start_system):
    system = start_system(idle_timeout=1.0)
    session_id = system.open_session("movie.mp4", "360p")["id"]
    assert read(system, session_id, "360p", 0)
    work = system.settings.work_dir
    eventually(lambda: system.session_state(session_id)["state"] == "idle", timeout=5)
    eventually(lambda: tagged_pids(work, scan=False) == [] and leftover_runs(work) == [],
               timeout=system.settings.kill_grace + 1)
    assert read(system, session_id, "360p", 10)
    assert system.session_state(session_id)["state"] == "playing"


def test_a_transcoder_far_ahead_of_the_player_is_suspended_then_resumed(start_system):
    system = start_system(pause_ahead=2)
    session_id = system.open_session("movie.mp4", "360p")["id"]
    read(system, session_id, "360p", 0)
    pid = eventually(lambda: system.session_state(session_id)["transcoder_pid"])
    eventually(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, timeout=30)
    assert max(system.session_state(session_id)["segments_ready"]) <= 4
    read(system, session_id, "360p", 3)
    eventually(lambda: psutil.Process(pid).status() != psutil.STATUS_STOPPED, timeout=5)
    assert read(system, session_id, "360p", 5)


def test_max_sessions_refuses_with_retry_after(start_system):
    system = start_system(max_sessions=1)
    system.open_session("mp3.mkv")
    with pytest.raises(Unavailable) as refused:
        system.open_session("mp3.mkv")
    assert refused.value.retry_in


@pytest.mark.parametrize("number", [-1, 10_000])
def test_segment_numbers_out_of_range_are_not_found(start_system, number):
    system = start_system()
    session_id = system.open_session("mp3.mkv")["id"]
    with pytest.raises(NotFound):
        system.segment(session_id, COPY, number)


def test_corrupt_media_is_refused_before_anything_is_spawned(start_system):
    system = start_system()
    with pytest.raises(MediaError) as refused:
        system.open_session("corrupt.mp4")
    assert isinstance(refused.value, (NotMedia, Unplayable))
    assert len(system.runtime.directory) == 0 and tagged_pids(system.settings.work_dir, scan=False) == []


def test_mp3_audio_is_transcoded_under_copy_and_plays(start_system, tmp_path):
    system = start_system()
    session_id = system.open_session("mp3.mkv", "copy")["id"]
    stream = tmp_path / "mp3.ts"
    stream.write_bytes(b"".join(read(system, session_id, "copy", n)
                                for n in range(segment_count(system, session_id, "copy"))))
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                            "-of", "csv=p=0", str(stream)], capture_output=True, text=True, timeout=30)
    assert set(probe.stdout.split()) == {"aac", "h264"}  # TS lists streams per program too


def test_stop_returns_once_ffmpeg_is_gone_and_files_are_deleted(start_system):
    system = start_system()
    session_id = system.open_session("movie.mp4", "360p")["id"]
    read(system, session_id, "360p", 0)  # lazy start: the first segment request starts FFmpeg
    eventually(lambda: system.session_state(session_id)["transcoder_pid"])
    system.stop_session(session_id)
    assert tagged_pids(system.settings.work_dir, scan=False) == []
    assert leftover_runs(system.settings.work_dir) == []
    with pytest.raises(NotFound):
        system.session_state(session_id)


def test_a_transcoder_failing_beyond_its_intensity_gives_the_client_an_error(start_system):
    system = start_system(ffmpeg=str(FAKES / "ffmpeg-failing-at-start"), restart_intensity="2/10")
    session_id = system.open_session("mp3.mkv")["id"]
    with pytest.raises((SessionFailed, NotFound)):
        system.segment(session_id, COPY, 0)
    eventually(lambda: system.runtime.directory.lookup(session_id) is None)


def test_a_crashed_session_is_restarted_and_resumes_on_the_next_request(start_system):
    system = start_system()
    session_id = system.open_session("mp3.mkv")["id"]
    read(system, session_id, "copy", 0)
    system.operators.inject_fault("crash_session", session_id)
    eventually(lambda: state_or_none(system, session_id) == "idle")
    assert read(system, session_id, "copy", 1)


def test_segments_far_behind_the_player_are_deleted(start_system):
    system = start_system(keep_behind=2)
    session_id = system.open_session("movie.mp4", "copy")["id"]
    for number in range(8):
        read(system, session_id, "copy", number)
    eventually(lambda: system.session_state(session_id)["segments_ready"][:1] == [5])
    run_dir = leftover_runs(system.settings.work_dir)[0]
    assert not (run_dir / "0.ts").exists() and (run_dir / "7.ts").exists()


# --- the ready board: made segments served without the session's round trip ---------------

@dataclass(frozen=True)
class Hold:
    """Test -> session: keep the session's thread until ``release`` is set (bounded)."""

    release: threading.Event


@pytest.fixture
def holdable(monkeypatch):
    """Sessions that understand ``Hold``, to be kept busy on purpose."""
    handle = Session.handle

    def holding(self, message):
        if isinstance(message, Hold):
            return message.release.wait(10)
        return handle(self, message)

    monkeypatch.setattr(Session, "handle", holding)


def test_a_made_segment_is_served_while_its_session_is_busy_and_counts_as_activity(start_system, holdable):
    system = start_system(segment_wait=2)  # a request the session must answer fails long before the hold ends
    session_id = system.open_session("movie.mp4", "copy")["id"]
    read(system, session_id, "copy", 0)
    eventually(lambda: 2 in system.session_state(session_id)["segments_ready"], timeout=30)
    eventually(lambda: system.session_state(session_id)["idle"] >= 0.5, timeout=5)
    release = threading.Event()
    system.runtime.directory.lookup(session_id).tell(Hold(release))
    try:
        with system.segment(session_id, COPY, 2) as segment:  # before the session is free
            data = segment.read()
    finally:
        release.set()
    assert data[0] == 0x47 and len(data) % 188 == 0  # MPEG-TS packets
    state = system.session_state(session_id)  # answered after the session heard of the request
    assert state["idle"] < 0.5 and state["state"] == "playing"


def test_a_made_segment_deleted_since_is_answered_by_the_session(start_system):
    system = start_system()
    session_id = system.open_session("movie.mp4", "copy")["id"]
    read(system, session_id, "copy", 0)
    eventually(lambda: 1 in system.session_state(session_id)["segments_ready"], timeout=30)
    ref = system.runtime.directory.lookup(session_id)
    Path(system.runtime.directory.ready(session_id, ref, COPY, 1)).unlink()
    with pytest.raises(Unavailable) as vanished:
        system.segment(session_id, COPY, 1)
    assert "vanished" in str(vanished.value) and vanished.value.retry_in


def test_a_stopped_session_shows_no_segment_to_the_web_threads(start_system):
    system = start_system()
    session_id = system.open_session("movie.mp4", "copy")["id"]
    read(system, session_id, "copy", 0)
    ref = system.runtime.directory.lookup(session_id)
    assert system.runtime.directory.ready(session_id, ref, COPY, 0) is not None
    system.stop_session(session_id)  # its files are deleted: its board is blank first
    assert system.runtime.directory.ready(session_id, ref, COPY, 0) is None
    assert not ref.is_alive()
