"""Every rendition of a film whose path is as long as Linux allows, and what a client
hears when an audio or subtitle run fails: at once, in its own terms, with a ``ref`` the
log explains, never a path, a pid or an exception's text. Real hlsd (pserve + waitress),
real FFmpeg as the client."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import m3u8
import pytest

from tests.faults.invariants import assert_invariants, take_baseline
from tests.helpers.runtime import FAKES
from tests.helpers.server import Server, served
from tests.helpers.track_clips import FFMPEG, make_film

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
FOLDER = "f" * 100  # two folders of 100-byte names, then a 250-byte file name
NAME = "A Film Whose Name Is Long " + "x" * (250 - 26 - 4) + ".mkv"
SEGMENT_WAIT = 20


def _long_film(media: Path) -> None:
    scratch = media / "scratch"
    scratch.mkdir()
    film = make_film(scratch, seconds=9)
    target = media / FOLDER / FOLDER / NAME
    target.parent.mkdir(parents=True)
    film.rename(target)
    shutil.rmtree(scratch)


@pytest.fixture(scope="module")
def long_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    assert len(NAME.encode()) == 250
    with served(tmp_path_factory.mktemp("long"), _long_film,
                profiles="\n240p 240 400 96") as server:
        yield server


def _get(server: Server, uri: str) -> bytes:
    status, _, body = server.get(uri, timeout=SEGMENT_WAIT + 10)
    assert status == 200, (uri[-80:], status, body[:300])
    return body


def _decodes(data: bytes, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    done = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_a_film_with_a_long_path_plays_every_rendition(long_server, tmp_path):
    media_id = f"{FOLDER}/{FOLDER}/{NAME}"
    master = m3u8.loads(_get(long_server, f"/media/{quote(media_id)}/master.m3u8").decode())
    audio = [m for m in master.media if m.type == "AUDIO"]
    subtitles = [m for m in master.media if m.type == "SUBTITLES"]
    assert len(master.playlists) == 1 and len(audio) == 3 and len(subtitles) >= 2
    segments = len(m3u8.loads(_get(long_server, master.playlists[0].uri).decode()).segments)
    assert segments >= 4
    video = master.playlists[0].uri.replace("index.m3u8", "0.ts")
    _decodes(_get(long_server, video), tmp_path, "video.ts")
    for number, rendition in enumerate(audio):
        assert len(m3u8.loads(_get(long_server, rendition.uri).decode()).segments) == segments
        _decodes(_get(long_server, rendition.uri.replace("index.m3u8", "0.ts")), tmp_path, f"a{number}.ts")
    texts = [_get(long_server, s.uri.replace("index.m3u8", "0.vtt")).decode() for s in subtitles]
    assert all(text.startswith("WEBVTT") for text in texts)
    assert any("Hello from the start" in text for text in texts)


@pytest.fixture(scope="module")
def failing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """hlsd whose FFmpeg fails every audio and subtitle run (a fake that says so, with a
    path and a pid on stderr); video runs are real."""
    with served(tmp_path_factory.mktemp("failing"), lambda media: make_film(media, seconds=9),
                profiles="\n240p 240 400 96", ffmpeg=FAKES / "ffmpeg-failing-track-runs",
                segment_wait=SEGMENT_WAIT) as server:
        yield server


def _answer(server: Server, uri: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    status, _, body = server.get(uri, timeout=SEGMENT_WAIT + 10)
    return status, json.loads(body), time.monotonic() - started


def _says_nothing_private(answer: dict, server: Server) -> None:
    text = json.dumps(answer)
    assert "/" not in answer["detail"] and "pid" not in text and "rror" not in answer["detail"]
    assert str(server.work_dir) not in text and "Input/output" not in text
    assert re.fullmatch(r"[0-9a-f]{8}", answer["ref"])
    log = server.log.read_text(errors="replace")
    line = next(line for line in log.splitlines() if f"[ref {answer['ref']}]" in line)
    assert "Input/output error" in line  # the operator finds the cause under the ref


def test_a_failed_subtitle_then_audio_run_answers_at_once_in_the_clients_terms(failing_server):
    baseline = take_baseline(failing_server)
    status, headers, body = failing_server.get("/media/Film.mkv/master.m3u8")
    assert status == 200, body
    session, master = headers["X-Session-Id"], m3u8.loads(body.decode())
    subtitles = next(m for m in master.media if m.type == "SUBTITLES")
    english = next(m for m in master.media if m.type == "AUDIO" and m.language == "en")

    status, answer, took = _answer(failing_server, subtitles.uri.replace("index.m3u8", "0.vtt"))
    assert (status, answer["error"]) == (422, "rendition_failed"), answer
    assert re.fullmatch(r"subtitle track \d+ could not be prepared", answer["detail"]), answer
    assert took < SEGMENT_WAIT / 2  # answered when the run failed, not at the wait's end
    _says_nothing_private(answer, failing_server)
    again = _answer(failing_server, subtitles.uri.replace("index.m3u8", "1.vtt"))
    assert again[:2] == (422, answer), "a failed track is not tried again"

    status, answer, took = _answer(failing_server, english.uri.replace("index.m3u8", "0.ts"))
    assert (status, answer["error"]) == (502, "session_failed"), answer
    assert answer["detail"] == "audio track 1 could not be prepared"
    assert took < SEGMENT_WAIT / 2
    _says_nothing_private(answer, failing_server)
    request = urllib.request.Request(f"{failing_server.url}/api/v1/sessions/{session}", method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204
    assert_invariants(failing_server, failing_server.work_dir, baseline)
