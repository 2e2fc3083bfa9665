"""Operator endpoints: tree, faults, metrics, health, and who may use them."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from webtest import TestApp

from actors import tokens
from actors.system import HlsSystem
from tests.helpers.server import web_app

TOKEN = "s3cret-token"
OPERATOR_PATHS = ["/api/v1/tree", "/api/v1/tree?format=text", "/metrics"]


@pytest.fixture(scope="module")
def guarded_app(media_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestApp]:
    """An hlsd with an admin token, and fault injection left off."""
    with web_app(media_root, tmp_path_factory.mktemp("work"), admin_token=TOKEN,
                 faults_enabled="false") as test_app:
        yield test_app


def test_tree_as_json(app: TestApp) -> None:
    tree = app.get("/api/v1/tree").json
    assert (tree["name"], tree["kind"], tree["state"]) == ("root", "supervisor", "alive")
    assert [child["name"] for child in tree["children"]] == ["timers", "reaper", "scanner", "sessions"]


def test_tree_as_text(app: TestApp, session: str) -> None:
    response = app.get("/api/v1/tree?format=text")
    assert response.content_type == "text/plain"
    lines = response.text.splitlines()
    assert lines[0].startswith("root  supervisor one_for_one")
    assert any(f"session {tokens.short_id(session)}  clip.mp4" in line for line in lines)
    app.get("/api/v1/tree?format=yaml", status=400)


def test_metrics(app: TestApp) -> None:
    response = app.get("/metrics")
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert "hlsd_sessions " in response.text and "hlsd_ffmpeg_stop_latency_seconds_bucket" in response.text


def test_healthz(app: TestApp, system: HlsSystem) -> None:
    health = app.get("/healthz").json
    assert health == {"status": "ok", "instance": system.settings.instance, "pid": os.getpid()}


def test_healthz_is_open_to_every_client(app: TestApp, guarded_app: TestApp) -> None:
    for test_app in (app, guarded_app):
        for address in ("203.0.113.9", "10.0.0.1", "::1"):
            health = test_app.get("/healthz", extra_environ={"REMOTE_ADDR": address}).json
            assert set(health) == {"status", "instance", "pid"} and health["status"] == "ok"


def test_every_answer_names_its_node(app: TestApp, system: HlsSystem) -> None:
    node = system.settings.instance
    assert app.get("/healthz").headers["X-Hlsd-Node"] == node
    assert app.get("/no/such/page", status=404).headers["X-Hlsd-Node"] == node
    assert app.get("/api/v1/tree", extra_environ={"REMOTE_ADDR": "10.0.0.1"},
                   status=403).headers["X-Hlsd-Node"] == node


def test_healthz_is_503_once_the_root_is_gone(media_root: Path, tmp_path: Path) -> None:
    with web_app(media_root, tmp_path / "work") as test_app:
        test_app.app.registry.hls.stop()
        response = test_app.get("/healthz", status=503)
        assert response.json["error"] == "unavailable" and "Retry-After" in response.headers


def test_faults(app: TestApp, session: str) -> None:
    app.post_json("/api/v1/faults", {"fault": "melt_cpu"}, status=400)
    app.post_json("/api/v1/faults", {}, status=400)
    app.post_json("/api/v1/faults", {"fault": "kill_ffmpeg", "session": "0123456789abcdef"}, status=404)
    done = app.post_json("/api/v1/faults", {"fault": "crash_transcoder", "session": session}).json
    assert done["fault"] == "crash_transcoder"


def test_faults_are_404_unless_enabled(guarded_app: TestApp) -> None:
    response = guarded_app.post_json("/api/v1/faults", {"fault": "kill_ffmpeg"},
                                     headers={"Authorization": f"Bearer {TOKEN}"}, status=404)
    assert "hls.faults_enabled" in response.json["detail"]


@pytest.mark.parametrize("path", OPERATOR_PATHS)
def test_token_is_required_when_set(guarded_app: TestApp, path: str) -> None:
    missing = guarded_app.get(path, status=401)
    assert missing.json["error"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    guarded_app.get(path, headers={"Authorization": "Basic czNjcmV0"}, status=401)
    wrong = guarded_app.get(path, headers={"Authorization": "Bearer guess"}, status=403)
    assert wrong.json["error"] == "forbidden"
    guarded_app.get(path, headers={"Authorization": f"Bearer {TOKEN}"},
                    extra_environ={"REMOTE_ADDR": "203.0.113.9"}, status=200)


@pytest.mark.parametrize("path", OPERATOR_PATHS)
def test_loopback_only_without_token(app: TestApp, path: str) -> None:
    for address in ("203.0.113.9", "10.0.0.1", "::ffff:10.0.0.1", ""):
        response = app.get(path, extra_environ={"REMOTE_ADDR": address}, status=403)
        assert response.json["error"] == "forbidden"
    for address in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        app.get(path, extra_environ={"REMOTE_ADDR": address}, status=200)


def test_faults_guarded_too(app: TestApp) -> None:
    app.post_json("/api/v1/faults", {"fault": "kill_ffmpeg"}, extra_environ={"REMOTE_ADDR": "10.0.0.1"},
                  status=403)
