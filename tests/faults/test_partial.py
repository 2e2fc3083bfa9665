"""The segment a live run is writing is served as it grows (issue #19), and a body cut
short never looks whole.

A real hlsd (``pserve``, waitress on 127.0.0.1); FFmpeg is real, reading its input at 4x
real time (``ffmpeg-faulty``), with 4 s segments, so segment 0 of a cold session is
written over about a second and a request for it finds the file growing. (A remux of a
clip of keyframes only: FFmpeg writes a segment file in 256 KiB blocks, so a small
segment of a low-rate transcode would appear whole at once.)
"""
from __future__ import annotations

import http.client
import subprocess
from typing import Any

import pytest

from tests.faults.invariants import assert_invariants, take_baseline
from tests.faults.players import HttpClient, wait_for
from tests.helpers.server import Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CLIP, PROFILE = "clip.mp4", "copy"
SLOW = {"segment_seconds": 4}
FIRST_BYTES = 1


def get_segment(server: Server, session: str, number: int) -> http.client.HTTPResponse:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", f"/hls/{session}/{PROFILE}/{number}.ts")
    return connection.getresponse()


def cold_growing_segment(start_hlsd_server) -> tuple[Server, Any, HttpClient, str, http.client.HTTPResponse]:
    """A served hlsd, its baseline, a client, a new session, and the answer to segment 0
    while FFmpeg writes it (chunked: no length yet)."""
    server = start_hlsd_server(**SLOW)
    baseline = take_baseline(server)
    client = HttpClient(server.url)
    session = client.open(CLIP, PROFILE).json()["id"]
    growing = get_segment(server, session, 0)
    assert growing.status == 200
    assert growing.getheader("Transfer-Encoding") == "chunked"
    return server, baseline, client, session, growing


def decodes(data: bytes) -> bool:
    done = subprocess.run(["ffmpeg", "-v", "error", "-f", "mpegts", "-i", "pipe:0", "-f", "null", "-"],
                          input=data, capture_output=True, timeout=60, check=False)
    return done.returncode == 0 and not done.stderr


def test_a_cold_segment_is_sent_while_ffmpeg_writes_it_and_equals_the_file(start_hlsd_server):
    server, baseline, client, session, growing = cold_growing_segment(start_hlsd_server)
    assert growing.getheader("Content-Length") is None
    first = growing.read(FIRST_BYTES)
    body = first + growing.read()
    whole = get_segment(server, session, 0)  # made now: from the session's board
    assert whole.getheader("Content-Length") == str(len(body))
    assert whole.read() == body
    assert decodes(body)
    assert client.stop(session).status == 204
    assert_invariants(server, server.work_dir, baseline)


def test_a_run_killed_mid_segment_aborts_the_growing_body(start_hlsd_server):
    """The reader of a growing segment whose FFmpeg is killed (fault ``kill_ffmpeg``) gets
    a body that is cut off (no last chunk: ``IncompleteRead``), or, where the restarted
    run made the same bytes, the whole segment; never a short body that looks whole."""
    server, baseline, client, session, growing = cold_growing_segment(start_hlsd_server)
    first = growing.read(FIRST_BYTES)
    pid = wait_for(lambda: (client.state(session).json() or {}).get("transcoder_pid"), 10, "FFmpeg")
    assert client.fault("kill_ffmpeg", session).status == 200
    try:
        body: bytes | None = first + growing.read()
    except http.client.IncompleteRead:
        body = None
    whole = get_segment(server, session, 0)
    assert whole.status == 200
    complete = whole.read()
    assert body is None or body == complete, "a short body looked whole"
    assert decodes(complete)
    assert (client.state(session).json() or {}).get("transcoder_pid") != pid
    assert client.stop(session).status == 204
    assert_invariants(server, server.work_dir, baseline)


def test_a_session_stopped_mid_segment_aborts_the_growing_body(start_hlsd_server):
    """The run ends for good before the segment is whole (its session is stopped): the
    reader's body is cut off, with no last chunk."""
    server, baseline, client, session, growing = cold_growing_segment(start_hlsd_server)
    growing.read(FIRST_BYTES)
    assert client.stop(session).status == 204
    with pytest.raises(http.client.IncompleteRead):
        growing.read()
    assert_invariants(server, server.work_dir, baseline)
