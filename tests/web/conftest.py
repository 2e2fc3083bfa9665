"""Fixtures of the web tests: one media library per run, one app per module."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from webtest import TestApp

from actors.system import HlsSystem
from tests.server_helpers import ffmpeg_children, media_library, spawned, web_app


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
