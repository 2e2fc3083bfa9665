"""Faults injected into a session whose audio and subtitle runs are active, through a real
hlsd (pserve + waitress) and ``POST /api/v1/faults``: playback of video and alternate
audio goes on, and every scenario ends with SPEC's invariants asserted."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import m3u8
import pytest

from tests.faults.invariants import assert_invariants, take_baseline
from tests.helpers.server import Server, spawned, start_server
from tests.helpers.track_clips import FFMPEG, make_film

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
RETRIES = 20  # 503 "retry" answers while a run restarts, 0.25 s apart


@pytest.fixture(scope="module")
def film_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("track-faults")
    media = base / "media"
    media.mkdir()
    make_film(media, seconds=30)  # long enough that the audio run is still there (paced)
    # No segment store: each test's session must run its own audio and subtitle runs (with
    # one, a later test's session would be served what an earlier one's runs made).
    server = start_server(base, media, profiles="\n240p 240 400 96", stall_timeout=3,
                          segment_store_bytes=0)
    try:
        yield server
    finally:
        server.stop()
        assert not spawned(server.work_dir)


def _post(server: Server, path: str, body: dict) -> dict:
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _state(server: Server, session: str) -> dict:
    status, _, body = server.get(f"/api/v1/sessions/{session}")
    assert status == 200, body
    return json.loads(body)


def _fetch(server: Server, uri: str) -> bytes:
    """A segment as a player gets it: a "retry" (503) is retried, a bounded number of times."""
    for _ in range(RETRIES):
        status, _, body = server.get(uri, timeout=30)
        if status != 503:
            assert status == 200, (uri, status, body)
            return body
        time.sleep(0.25)
    raise AssertionError(f"{uri} still 503 after {RETRIES} tries")


def _decodes(data: bytes, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert data[:1] == b"G", data[:200]  # an MPEG-TS packet
    done = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def _kill_audio_ffmpeg(server: Server, session: str) -> None:
    """The audio run's FFmpeg killed from outside (the OOM killer, an operator)."""
    pid = _state(server, session)["track_runs"]["audio:1"]["pid"]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


def _play_through(server: Server, session: str, master: m3u8.M3U8, fault: str,
                  tmp_path: Path) -> None:
    """Audio and subtitles first (their runs start), the fault, then the whole video and
    audio renditions as a player fetches them: every segment served and decoding."""
    video = master.playlists[0].uri.replace("index.m3u8", "{}.ts")
    english = next(m for m in master.media if m.type == "AUDIO" and m.language == "en")
    audio = english.uri.replace("index.m3u8", "{}.ts")
    subs = next(m for m in master.media if m.type == "SUBTITLES").uri.replace("index.m3u8", "0.vtt")
    first_audio = _fetch(server, audio.format(0))
    assert "Hello from the start" in _fetch(server, subs).decode()
    assert "audio:1" in _state(server, session)["track_runs"]  # the audio run is alive
    if fault == "kill_audio_ffmpeg":
        _kill_audio_ffmpeg(server, session)
    else:
        assert _post(server, "/api/v1/faults", {"fault": fault, "session": session})
    segments = len(m3u8.loads(_fetch(server, master.playlists[0].uri).decode()).segments)
    assert segments == 15
    _decodes(b"".join(_fetch(server, video.format(n)) for n in range(segments)), tmp_path, "v.ts")
    rest = b"".join(_fetch(server, audio.format(n)) for n in range(1, segments))
    _decodes(first_audio + rest, tmp_path, "a.ts")
    assert "Hello from the start" in _fetch(server, subs).decode()


@pytest.mark.parametrize("fault", ["kill_ffmpeg", "crash_transcoder", "crash_supervisor",
                                   "crash_session", "kill_audio_ffmpeg"])
def test_a_fault_with_audio_and_subtitle_runs_active(film_server, tmp_path, fault):
    baseline = take_baseline(film_server)
    status, headers, body = film_server.get("/media/Film.mkv/master.m3u8")
    assert status == 200, body
    session, master = headers["X-Session-Id"], m3u8.loads(body.decode())
    try:
        _play_through(film_server, session, master, fault, tmp_path)
    finally:
        request = urllib.request.Request(f"{film_server.url}/api/v1/sessions/{session}",
                                         method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204
    assert_invariants(film_server, film_server.work_dir, baseline)
