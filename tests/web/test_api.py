"""The session API: open, list, state, heartbeat, stop (DELETE and the beacon's POST)."""
from __future__ import annotations

from webtest import TestApp

from actors.system import HlsSystem
from tests.helpers.server import spawned

STATE_KEYS = {"id", "short", "media", "profile", "state", "created", "last_activity", "transcoder_pid",
              "segments_ready", "restarts"}


def test_open_session_answers_201(app: TestApp) -> None:
    response = app.post_json("/api/v1/sessions", {"media": "clip.mp4", "profile": "360p", "start": 3})
    created = response.json
    try:
        assert response.status_code == 201
        assert set(created) == {"id", "master", "media", "profile", "state", "chapters"}
        assert created["master"] == f"/hls/{created['id']}/master.m3u8"
        assert response.headers["Location"].endswith(created["master"])
        assert (created["media"], created["profile"]) == ("clip.mp4", "360p")
        app.get(created["master"], status=200)
    finally:
        app.delete(f"/api/v1/sessions/{created['id']}", status=204)


def test_sessions_list_and_state(app: TestApp, session: str) -> None:
    listed = app.get("/api/v1/sessions").json
    assert [s["id"] for s in listed] == [session]
    state = app.get(f"/api/v1/sessions/{session}").json
    assert STATE_KEYS <= set(state)
    assert (state["id"], state["media"]) == (session, "clip.mp4")
    tree = app.get("/api/v1/tree").json  # the short id is the one the tree names it by
    sessions = next(node for node in tree["children"] if node["name"] == "sessions")
    assert [node["session"] for node in sessions["children"]] == [state["short"]]
    assert len(state["short"]) == 8 and state["short"] != session


def test_without_accounts_only_an_operator_sees_the_sessions_ids(app: TestApp, session: str) -> None:
    # A session's id plays, steers and stops it: a client off loopback (no admin token
    # set) sees that sessions run, not their ids or masters.
    outside = app.get("/api/v1/sessions", extra_environ={"REMOTE_ADDR": "198.51.100.7"}).json
    assert len(outside) == 1 and "id" not in outside[0] and "master" not in outside[0]
    assert session not in str(outside)
    assert [s["id"] for s in app.get("/api/v1/sessions").json] == [session]


def test_heartbeat_answers_204(app: TestApp, session: str) -> None:
    response = app.post_json(f"/api/v1/sessions/{session}/heartbeat", {"position": 1.5, "paused": True})
    assert response.status_code == 204 and response.body == b""
    assert app.post(f"/api/v1/sessions/{session}/heartbeat").status_code == 204  # no body at all


def test_delete_answers_once_everything_is_gone(app: TestApp, system: HlsSystem) -> None:
    session = app.post_json("/api/v1/sessions", {"media": "clip.mp4"}).json["id"]
    app.get(f"/hls/{session}/copy/0.ts")
    assert app.delete(f"/api/v1/sessions/{session}").status_code == 204
    assert not spawned(system.settings.work_dir)
    assert system.runtime.directory.ids() == []
    # SPEC: a valid token this node does not run (any more) is stopped already: 204, and
    # the stop re-creates nothing. An altered token is no session at all: 404.
    app.delete(f"/api/v1/sessions/{session}", status=204)
    assert not spawned(system.settings.work_dir) and system.runtime.directory.ids() == []
    altered = session[:-1] + ("A" if session[-1] != "A" else "B")
    app.delete(f"/api/v1/sessions/{altered}", status=404)


def test_stop_beacon_stops_like_delete(app: TestApp, system: HlsSystem) -> None:
    session = app.post_json("/api/v1/sessions", {"media": "clip.mp4", "profile": "240p"}).json["id"]
    app.get(f"/hls/{session}/240p/0.ts")
    # What navigator.sendBeacon sends: a POST with a text body, or none.
    response = app.post(f"/api/v1/sessions/{session}/stop", b"bye", content_type="text/plain;charset=UTF-8")
    assert response.status_code == 204
    assert not spawned(system.settings.work_dir)
    # Not running any more: stopped already (SPEC), and nothing re-created.
    app.post(f"/api/v1/sessions/{session}/stop", status=204)
    assert not spawned(system.settings.work_dir) and system.runtime.directory.ids() == []
