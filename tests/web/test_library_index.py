"""The library from the media index: posters, resume positions, the scan's progress."""
from __future__ import annotations

import json
import subprocess
from typing import Iterator

import pytest
from webtest import TestApp

from actors.media import segment_for_time
from actors.system import HlsSystem
from tests.helpers.media import FFPROBE, make_clip
from tests.helpers.server import wait_for_scan, web_app


@pytest.fixture(scope="module")
def resume_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestApp]:
    root = tmp_path_factory.mktemp("resume") / "media"
    (root / "films").mkdir(parents=True)
    make_clip(root / "films" / "long.mp4", 50, width=320, height=180, fps=15)
    with web_app(root, tmp_path_factory.mktemp("work")) as test_app:
        wait_for_scan(test_app.app.registry.hls)
        yield test_app


def test_poster_is_shown(resume_app: TestApp) -> None:
    page = resume_app.get("/", params={"folder": "films"})
    (img,) = page.html.select(".card .poster img")
    poster = resume_app.get(img["src"])
    assert poster.content_type == "image/jpeg" and poster.body[:3] == b"\xff\xd8\xff"
    probed = subprocess.run([FFPROBE, "-v", "error", "-of", "json", "-show_streams", "-"],
                            input=poster.body, capture_output=True, timeout=30, check=True)
    (stream,) = json.loads(probed.stdout)["streams"]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", 320, 180)
    resume_app.get("/posters/films/missing.mp4", status=404)


def test_position_is_resumed(resume_app: TestApp) -> None:
    system: HlsSystem = resume_app.app.registry.hls
    session = resume_app.post_json("/api/v1/sessions", {"media": "films/long.mp4"}).json["id"]
    resume_app.post_json(f"/api/v1/sessions/{session}/heartbeat", {"position": 42}, status=204)
    resume_app.delete(f"/api/v1/sessions/{session}", status=204)

    library = resume_app.get("/", params={"folder": "films"})
    (offer,) = library.html.select("a.resume")
    assert offer.get_text(strip=True) == "Continue from 0:42"
    watch = resume_app.get("/watch/films/long.mp4")
    assert watch.html.select_one("a.resume").get_text(strip=True) == "Continue from 0:42"
    resumed = resume_app.get(offer["href"])
    player = resumed.html.select_one("#player")
    assert float(player["data-start"]) == 42 and resumed.html.select("a.resume") == []

    # What the page's script then does: a session from data-start, whose FFmpeg starts there.
    state = resume_app.post_json("/api/v1/sessions", {"media": "films/long.mp4",
                                                      "start": float(player["data-start"])}).json
    try:
        plan = system.runtime.directory.plan(state["id"])
        expected = segment_for_time(plan.boundaries[plan.profile], 42)
        assert plan.start_segment == expected > 0
        # Nothing runs until the player asks (lazy start); it asks for the start segment.
        assert resume_app.get(f"/api/v1/sessions/{state['id']}").json["segments_ready"] == []
        resume_app.get(f"/hls/{state['id']}/{plan.profile}/{expected}.ts", status=200)
        ready = resume_app.get(f"/api/v1/sessions/{state['id']}").json["segments_ready"]
        assert ready and min(ready) == expected
    finally:
        resume_app.delete(f"/api/v1/sessions/{state['id']}", status=(204, 404))


def test_scan_progress_is_open_and_a_scan_can_be_asked_for(resume_app: TestApp) -> None:
    progress = resume_app.get("/api/v1/scan").json
    assert progress["running"] is False and progress["done"] == progress["total"] == 1
    assert progress["fraction"] == 1.0
    started = resume_app.post_json("/api/v1/scan", {}).json
    assert set(started) >= {"running", "done", "total", "fraction"}
    resume_app.post_json("/api/v1/scan", {}, extra_environ={"REMOTE_ADDR": "192.0.2.7"},
                         status=403)
