"""The streaming routes through WebTest: library, playlists, segments, CORS, HEAD."""
from __future__ import annotations

import re
from urllib.parse import urljoin

import m3u8
import pytest
from webtest import TestApp

from actors.system import HlsSystem

MPEGURL = "application/vnd.apple.mpegurl"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{24,200}")  # media key, token: one path segment


# SPEC "Every stream of a file": the track list (was the first track's codec).
AAC_TRACK = [{"index": 1, "language": "und", "codec": "aac", "channels": 1, "default": True}]


def test_media_lists_only_servable_files(app: TestApp) -> None:
    response = app.get("/media")
    assert response.content_type == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.json == [
        {"id": "clip.mp4", "duration": 12.0, "video": "h264", "audio": AAC_TRACK,
         "subtitles": [], "chapters": [], "width": 640, "height": 360, "master": "/media/clip.mp4/master.m3u8"},
        {"id": "shows/second clip.mkv", "duration": pytest.approx(6.0, abs=0.1), "video": "h264",
         "audio": [{**AAC_TRACK[0], "default": False}],  # Matroska: no default flag set
         "subtitles": [], "chapters": [], "width": 640, "height": 360,
         "master": "/media/shows/second%20clip.mkv/master.m3u8"},
    ]


def test_head_of_master_creates_nothing(app: TestApp, nothing_spawned: None) -> None:
    response = app.head("/media/clip.mp4/master.m3u8")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == MPEGURL
    assert "X-Session-Id" not in response.headers
    app.head("/media/missing.mp4/master.m3u8", status=404)


def test_master_of_media_opens_a_session(app: TestApp, system: HlsSystem) -> None:
    response = app.get("/media/clip.mp4/master.m3u8")
    session_id = response.headers["X-Session-Id"]
    try:
        assert SESSION_ID.fullmatch(session_id)
        assert response.headers["Content-Type"] == MPEGURL
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        master = m3u8.loads(response.text)
        assert master.is_variant
        assert [p.uri for p in master.playlists] == [
            f"/hls/{session_id}/{name}/index.m3u8" for name in ("copy", "360p", "240p")]
        assert system.runtime.directory.ids() == [session_id]
    finally:
        app.delete(f"/api/v1/sessions/{session_id}", status=204)


def test_master_takes_profile_and_start(app: TestApp) -> None:
    response = app.get("/media/clip.mp4/master.m3u8?profile=240p&start=4.5")
    session_id = response.headers["X-Session-Id"]
    try:
        state = app.get(f"/api/v1/sessions/{session_id}").json
        assert state["profile"] == "240p"
    finally:
        app.delete(f"/api/v1/sessions/{session_id}", status=204)


@pytest.mark.parametrize("query, status", [
    ("profile=1080p", 404), ("start=-1", 400), ("start=abc", 400), ("start=nan", 400),
    ("start=inf", 400), ("start=12000", 400),
])
def test_master_refuses_bad_queries(app: TestApp, nothing_spawned: None, query: str, status: int) -> None:
    response = app.get(f"/media/clip.mp4/master.m3u8?{query}", status=status)
    assert set(response.json) == {"error", "detail"}
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", [
    "/media/shows/second%20clip.mkv/master.m3u8",
    "/media/shows%2Fsecond%20clip.mkv/master.m3u8",
])
def test_media_ids_are_percent_decoded(app: TestApp, path: str) -> None:
    session_id = app.get(path).headers["X-Session-Id"]
    try:
        assert app.get(f"/api/v1/sessions/{session_id}").json["media"] == "shows/second clip.mkv"
    finally:
        app.delete(f"/api/v1/sessions/{session_id}", status=204)


def test_session_master_and_media_playlist(app: TestApp, session: str, system: HlsSystem) -> None:
    master = app.get(f"/hls/{session}/master.m3u8")
    assert master.headers["Content-Type"] == MPEGURL
    assert master.headers["Cache-Control"] == "no-cache"
    assert len(m3u8.loads(master.text).playlists) == 3

    playlist = app.get(f"/hls/{session}/copy/index.m3u8")
    assert playlist.headers["Content-Type"] == MPEGURL
    parsed = m3u8.loads(playlist.text)
    assert parsed.playlist_type == "vod" and parsed.is_endlist
    # Segment URIs are relative to the playlist (RFC 8216, 4.1), so resolved they are the
    # session's segments, and the bytes carry no session: every session gets the same.
    assert [s.uri for s in parsed.segments] == [f"{n}.ts" for n in range(6)]
    resolved = m3u8.loads(playlist.text, uri=f"http://127.0.0.1/hls/{session}/copy/index.m3u8")
    assert [s.absolute_uri for s in resolved.segments] == \
        [f"http://127.0.0.1/hls/{session}/copy/{n}.ts" for n in range(6)]
    assert app.get(urljoin(f"/hls/{session}/copy/index.m3u8", parsed.segments[5].uri)).body[:1] == b"G"
    assert sum(s.duration for s in parsed.segments) == pytest.approx(12.0, abs=0.05)
    other = app.post_json("/api/v1/sessions", {"media": "clip.mp4"}).json["id"]
    assert app.get(f"/hls/{other}/copy/index.m3u8").body == playlist.body
    app.delete(f"/api/v1/sessions/{other}", status=204)
    app.get(f"/hls/{session}/4k/index.m3u8", status=404)


def test_segment_is_mpeg_ts_and_cacheable(app: TestApp, session: str) -> None:
    response = app.get(f"/hls/{session}/copy/0.ts")
    assert response.headers["Content-Type"] == "video/mp2t"
    assert response.headers["Cache-Control"] == "max-age=3600"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert int(response.headers["Content-Length"]) == len(response.body) > 0
    assert response.body[0] == 0x47 and len(response.body) % 188 == 0  # whole TS packets


def test_segment_out_of_range_is_404(app: TestApp, session: str) -> None:
    response = app.get(f"/hls/{session}/copy/6.ts", status=404)
    assert response.json["error"] == "not_found"


@pytest.mark.parametrize("number", ["-1", "01", "1.5", "abc", "1e3", "9999999999", "0x1", "%2D1", "+1", " 1"])
def test_malformed_segment_numbers_reach_no_session(app: TestApp, session: str, number: str) -> None:
    before = app.get(f"/api/v1/sessions/{session}").json
    response = app.get(f"/hls/{session}/copy/{number}.ts", status=404)
    assert response.json["error"] == "not_found"
    after = app.get(f"/api/v1/sessions/{session}").json
    assert (after["run"], after["restarts"]) == (before["run"], before["restarts"])


def test_preflight_allows_any_origin(app: TestApp, session: str) -> None:
    for path in ("/media", "/media/clip.mp4/master.m3u8", f"/hls/{session}/master.m3u8",
                 f"/hls/{session}/copy/index.m3u8", f"/hls/{session}/copy/0.ts"):
        response = app.options(path, headers={"Origin": "https://player.example",
                                              "Access-Control-Request-Method": "GET",
                                              "Access-Control-Request-Headers": "range"})
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "GET" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Headers"] == "range"
