"""Fixtures of the web tests: one media library per run, one app per module."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from webtest import TestApp

from actors.system import HlsSystem
from tests.helpers.media import make_clip
from tests.helpers.server import ffmpeg_children, media_library, spawned, web_app


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("library")
    return media_library(base / "media", base / "outside")


@pytest.fixture(scope="module")
def app(media_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestApp]:
    with web_app(media_root, tmp_path_factory.mktemp("work")) as test_app:
        yield test_app


@pytest.fixture
def system(app: TestApp) -> HlsSystem:
    return app.app.registry.hls


@pytest.fixture
def nothing_spawned(system: HlsSystem) -> Iterator[None]:
    """After the test: no session, no FFmpeg (tagged, or a child of this process), no
    session dir."""
    yield
    assert system.runtime.directory.ids() == []
    assert not spawned(system.settings.work_dir)
    assert ffmpeg_children() == []


@pytest.fixture
def session(app: TestApp) -> Iterator[str]:
    """A session of clip.mp4, stopped after the test."""
    session_id = app.post_json("/api/v1/sessions", {"media": "clip.mp4"}).json["id"]
    yield session_id
    app.delete(f"/api/v1/sessions/{session_id}", status=(204, 404))


@pytest.fixture(scope="session")
def server_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """For real servers: a 12 s clip, and a 60 s one whose FFmpeg is still at work (or
    paused ahead of the player) while a test looks."""
    root = tmp_path_factory.mktemp("server") / "media"
    root.mkdir()
    make_clip(root / "clip.mp4", 12, width=640, height=360)
    make_clip(root / "long.mp4", 60, width=640, height=360)
    return root


@pytest.fixture(scope="session")
def browser_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10-minute clip: long enough that its FFmpeg is still alive (working, or paused
    ahead of the player) whenever a browser test looks, even after a seek to 70 %."""
    root = tmp_path_factory.mktemp("browser") / "media"
    root.mkdir()
    make_clip(root / "movie.mp4", 600, width=320, height=240, fps=15)
    return root
