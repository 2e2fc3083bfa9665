"""Bad input is refused with the right JSON error before anything is spawned."""
from __future__ import annotations

import re

import time
from pathlib import Path

import pytest
from webtest import TestApp

from actors import tokens
from actors.system import HlsSystem
from tests.helpers.server import ffmpeg_children, spawned, web_app

# Token-shaped (it matches the routes), but signed with another secret.
FOREIGN = tokens.issue(tokens.SessionClaims("clip.mp4", "copy", ("copy",), None, None, None, 0,
                                            int(time.time()), bytes(8)), bytes(range(32)))

TRAVERSALS = [
    "../outside/secret.mp4",
    "%2e%2e/outside/secret.mp4",
    "%2E%2E%2Foutside%2Fsecret.mp4",
    "shows/../../outside/secret.mp4",
    "shows/%2e%2e/%2e%2e/outside/secret.mp4",
    "./clip.mp4",
    "/etc/passwd.mp4",
    "%2Fetc%2Fpasswd.mp4",
    "escape.mp4",  # a symlink to a clip outside the root
    ".hidden.mp4",
    "shows//second%20clip.mkv",
    "clip.mp4%00.mp4",
    "shows%5Csecond%20clip.mkv",
]


@pytest.mark.parametrize("media_id", TRAVERSALS)
def test_nothing_outside_the_root_is_served(app: TestApp, nothing_spawned: None, media_id: str) -> None:
    for method in (app.get, app.head):
        response = method(f"/media/{media_id}/master.m3u8", status=404)
        assert response.headers["Content-Type"] == "application/json"
    assert app.get(f"/media/{media_id}/master.m3u8", status=404).json["error"] == "not_found"
    app.get(f"/watch/{media_id}", status=404)


@pytest.mark.parametrize("media_id", ["../outside/secret.mp4", "escape.mp4", "/etc/passwd.mp4"])
def test_session_api_refuses_traversal(app: TestApp, nothing_spawned: None, media_id: str) -> None:
    response = app.post_json("/api/v1/sessions", {"media": media_id}, status=404)
    assert response.json["error"] == "not_found"


@pytest.mark.parametrize("media_id, status, error", [
    ("missing.mp4", 404, "not_found"),
    ("notes.txt", 404, "not_found"),
    ("shows", 404, "not_found"),
    ("fake.mp4", 415, "not_media"),
])
def test_unknown_and_non_media_files(app: TestApp, nothing_spawned: None, media_id: str,
                                     status: int, error: str) -> None:
    response = app.get(f"/media/{media_id}/master.m3u8", status=status)
    assert response.json["error"] == error
    assert "Traceback" not in response.text
    assert app.post_json("/api/v1/sessions", {"media": media_id}, status=status).json["error"] == error


@pytest.mark.parametrize("session_id", [
    "0123456789abcdeg", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0",
    "..", "%2e%2e", "0123456789abcdef%00", FOREIGN[:23], FOREIGN + "%00", FOREIGN + ".",
    FOREIGN.replace(FOREIGN[5], "+"), "A" * 4097,
])
def test_malformed_session_ids_are_404(app: TestApp, nothing_spawned: None, session_id: str) -> None:
    paths = [f"/hls/{session_id}/master.m3u8", f"/hls/{session_id}/copy/index.m3u8",
             f"/hls/{session_id}/copy/0.ts", f"/api/v1/sessions/{session_id}"]
    for path in paths:
        assert app.get(path, status=404).json["error"] == "not_found"
    app.delete(f"/api/v1/sessions/{session_id}", status=404)
    app.post_json(f"/api/v1/sessions/{session_id}/heartbeat", {}, status=404)
    app.post(f"/api/v1/sessions/{session_id}/stop", status=404)


def test_unknown_sessions_are_404(app: TestApp, nothing_spawned: None) -> None:
    unknown = FOREIGN
    for path in (f"/hls/{unknown}/master.m3u8", f"/hls/{unknown}/copy/index.m3u8",
                 f"/hls/{unknown}/copy/0.ts", f"/api/v1/sessions/{unknown}"):
        assert app.get(path, status=404).json == {"error": "not_found", "detail": "no such session"}
    app.delete(f"/api/v1/sessions/{unknown}", status=404)
    app.post(f"/api/v1/sessions/{unknown}/stop", status=404)
    app.post_json(f"/api/v1/sessions/{unknown}/heartbeat", {"position": 1.0}, status=404)


@pytest.mark.parametrize("method, path, allowed", [
    ("PUT", "/media", "GET, HEAD, OPTIONS"),
    ("DELETE", "/media/clip.mp4/master.m3u8", "GET, HEAD, OPTIONS"),
    ("POST", f"/hls/{FOREIGN}/copy/0.ts", "GET, HEAD, OPTIONS"),
    ("PATCH", "/api/v1/sessions", "GET, HEAD, POST"),
    ("PUT", f"/api/v1/sessions/{FOREIGN}", "DELETE, GET, HEAD"),
    ("GET", f"/api/v1/sessions/{FOREIGN}/heartbeat", "POST"),
    ("GET", f"/api/v1/sessions/{FOREIGN}/stop", "POST"),
    ("GET", "/api/v1/faults", "POST"),
    ("POST", "/api/v1/tree", "GET, HEAD"),
    ("DELETE", "/metrics", "GET, HEAD"),
    ("POST", "/healthz", "GET, HEAD"),
    ("POST", "/", "GET, HEAD"),
    ("DELETE", "/watch/clip.mp4", "GET, HEAD"),
])
def test_wrong_methods_are_405(app: TestApp, nothing_spawned: None, method: str, path: str,
                               allowed: str) -> None:
    response = app.request(path, method=method, status=405)
    assert response.headers["Allow"] == allowed
    assert response.json["error"] == "method_not_allowed"


def test_unknown_paths_are_json_404(app: TestApp) -> None:
    for path in ("/nothing", "/api/v2/sessions", "/hls", "/static/missing.css", "/media/"):
        response = app.get(path, status=404)
        assert response.json["error"] == "not_found"


@pytest.mark.parametrize("body", [
    b"{not json", b"[]", b'"clip.mp4"', b"{}", b'{"media": 5}', b'{"media": ""}',
    b'{"media": "clip.mp4", "start": "soon"}', b'{"media": "clip.mp4", "start": -2}',
    b'{"media": "clip.mp4", "start": true}', b'{"media": "clip.mp4", "profile": 720}',
    b"\xff\xfe",
])
def test_open_session_refuses_bad_bodies(app: TestApp, nothing_spawned: None, body: bytes) -> None:
    response = app.post("/api/v1/sessions", body, content_type="application/json", status=400)
    assert response.json["error"] == "bad_request"


@pytest.mark.parametrize("body", [b"{oops", b'{"position": "late"}', b'{"position": -1}',
                                  b'{"paused": "yes"}', b"[1]"])
def test_heartbeat_refuses_bad_bodies(app: TestApp, session: str, body: bytes) -> None:
    app.post(f"/api/v1/sessions/{session}/heartbeat", body, content_type="application/json", status=400)


def test_a_ready_segment_needs_no_wait_slot(app: TestApp, session: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A segment FFmpeg has made is served even while every wait slot is taken: the
    slots bound requests waiting for FFmpeg, not players reading what is there."""
    from web.limits import WaitLimit

    first = app.get(f"/hls/{session}/copy/0.ts", status=200).body  # made now
    monkeypatch.setattr(app.app.registry, "segment_waits", WaitLimit(1))
    with app.app.registry.segment_waits:  # the one slot is taken
        assert app.get(f"/hls/{session}/copy/0.ts", status=200).body == first


def test_segment_waits_are_bounded_with_a_hanging_fake_ffmpeg(media_root: Path, tmp_path: Path) -> None:
    """Beyond hls.max_waiting, a request for a segment FFmpeg has not made is refused at
    once: 503 + Retry-After, not a wait of hls.segment_wait. FFmpeg is a fake that hangs
    (alive, never a segment), so every request must wait."""
    from actors.system import READY_WITHIN
    from tests.faults.invariants import assert_invariants, take_baseline
    from tests.helpers.runtime import FAKES

    work = tmp_path / "work"
    with web_app(media_root, work, ffmpeg=FAKES / "ffmpeg-hanging", max_waiting=1,
                 scan="false") as test_app:
        waits, hls = test_app.app.registry.segment_waits, test_app.app.registry.hls
        baseline = take_baseline(hls)
        session_id = test_app.post_json("/api/v1/sessions", {"media": "clip.mp4"}).json["id"]
        with waits:  # the one slot is taken
            asked = time.monotonic()
            response = test_app.get(f"/hls/{session_id}/copy/0.ts", status=503)
            refused_after = time.monotonic() - asked
        assert response.headers["Retry-After"] == "1"
        assert response.json["error"] == "unavailable"
        assert READY_WITHIN <= refused_after < READY_WITHIN + 1.0
        test_app.delete(f"/api/v1/sessions/{session_id}", status=204)
        assert hls.runtime.directory.ids() == []
        assert_invariants(hls, work, baseline)  # no FFmpeg, no run dir; threads, fds as before
    assert ffmpeg_children() == [] and not spawned(work)


def test_internal_errors_show_no_traceback(app: TestApp, system: HlsSystem,
                                           monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> list[dict[str, object]]:
        raise RuntimeError("secret internals at /srv/hlsd")

    monkeypatch.setattr(system.library_view, "listing", broken)  # what GET /media reads
    monkeypatch.setattr(system.library_view, "page", broken)  # what the library page reads
    response = app.get("/media", status=500)
    answer = response.json
    ref = answer.pop("ref")
    assert answer == {"error": "internal", "detail": "internal server error"}
    assert re.fullmatch(r"[0-9a-f]{8}", ref)
    logged = [r for r in caplog.records if f"[ref {ref}]" in r.getMessage()]
    assert logged and "secret internals" in str(logged[0].exc_info[1])  # the operator's line
    assert "secret" not in response.text and "Traceback" not in response.text
    page = app.get("/", status=500)
    assert "secret" not in page.text and "Traceback" not in page.text
