"""A crowd pressing play within one second: every answer is 200 (issue #19).

A real hlsd (``pserve`` of ``config/test.ini``, waitress on 127.0.0.1) with
``hls.max_sessions = 100`` and the rest of its sizing at the defaults derived from it;
100 players start within 1 s, each on its own connection: master -> media playlist ->
segment 0. Not one may be refused (no 503 from a full wait limit or thread pool, no 429),
and once every session has ended the invariants hold (threads and fds back to the
baseline).
"""
from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.faults.invariants import assert_invariants, take_baseline
from tests.helpers.server import Server
from tests.helpers.settings import settings_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PLAYERS = 100
WITHIN = 1.0  # s: every player has pressed play by then
ANSWER_TIMEOUT = 60.0  # one request; the crowd's FFmpeg all start at once on two cores
MEDIA, PROFILE = "tiny.mp4", "copy"


def play(server: Server, start_at: float, answers: list[tuple[str, int]], sessions: list[str]) -> None:
    """One player: master, its media playlist, segment 0 (the body read whole)."""
    time.sleep(max(0.0, start_at - time.monotonic()))
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=ANSWER_TIMEOUT)
    try:
        path = f"/media/{MEDIA}/master.m3u8?profile={PROFILE}"
        for what in ("master", "playlist", "segment"):
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            answers.append((what, response.status))
            if response.status != 200:
                return
            if what == "master":
                session = response.headers["X-Session-Id"]
                sessions.append(session)
                path = f"/hls/{session}/{PROFILE}/index.m3u8"
            elif what == "playlist":
                first = next(line for line in body.decode().splitlines() if line and line[0] != "#")
                path = urllib.parse.urljoin(path, first)
            else:
                assert body[:1] == b"G", "segment 0 is not MPEG-TS"  # sync byte 0x47
    except (OSError, http.client.HTTPException) as error:
        answers.append((f"{type(error).__name__}", 0))
    finally:
        connection.close()


def test_a_hundred_players_pressing_play_within_a_second_all_get_200(start_hlsd_server):
    sizing = settings_for(Path("/media"), Path("/work"), max_sessions=PLAYERS)
    server = start_hlsd_server(max_sessions=PLAYERS, ffmpeg="ffmpeg",
                               server={"threads": sizing.server_threads})
    baseline = take_baseline(server)
    answers: list[tuple[str, int]] = []
    sessions: list[str] = []
    begin = time.monotonic() + 0.5
    players = [threading.Thread(target=play, args=(server, begin + i * WITHIN / PLAYERS, answers, sessions),
                                name=f"player-{i}") for i in range(PLAYERS)]
    for player in players:
        player.start()
    for player in players:
        player.join(ANSWER_TIMEOUT * 3 + 10)
    assert not [p.name for p in players if p.is_alive()], "a player hung"
    refused = [answer for answer in answers if answer[1] != 200]
    assert refused == [], f"{len(refused)} answers were not 200: {refused[:5]}"
    assert len(answers) == 3 * PLAYERS
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    for session in sessions:
        connection = http.client.HTTPConnection(host, int(port), timeout=ANSWER_TIMEOUT)
        connection.request("DELETE", f"/api/v1/sessions/{session}")
        assert connection.getresponse().status == 204
        connection.close()
    assert_invariants(server, server.work_dir, baseline)
