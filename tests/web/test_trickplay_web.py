"""Trick play over HTTP: the master announces the scan-made thumbnails and I-frames, and
their playlists, sheets, WebVTT track and byte ranges are served under the session.

WebTest around the real app on a real library (the ramp film of
``tests/actors/test_trickplay_scan.py``); the start-up scan has made its files.
"""
from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Iterator

import m3u8
import pytest
from webtest import TestApp

from actors.media import trickplay
from tests.helpers.ramp import make_ramp
from tests.helpers.server import spawned, web_app

pytestmark = pytest.mark.timeout(120)

FILM = "ramp.mp4"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trickplay") / "media"
    make_ramp(root / FILM)
    return root


@pytest.fixture(scope="module")
def app(library: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestApp]:
    with web_app(library, tmp_path_factory.mktemp("work")) as test_app:
        yield test_app


def open_master(app: TestApp) -> tuple[str, m3u8.M3U8]:
    response = app.get(f"/media/{urllib.parse.quote(FILM)}/master.m3u8")
    return response.headers["X-Session-Id"], m3u8.loads(response.text)


def stop(app: TestApp, session: str) -> None:
    app.delete(f"/api/v1/sessions/{session}", status=204)


def test_the_master_announces_images_and_iframes_under_the_session(app: TestApp) -> None:
    session, master = open_master(app)
    text = app.get(f"/hls/{session}/master.m3u8").text
    image_line = next(line for line in text.splitlines() if line.startswith("#EXT-X-IMAGE-STREAM-INF:"))
    assert 'RESOLUTION=320x180,CODECS="jpeg"' in image_line
    assert f'URI="/hls/{session}/trickplay/images.m3u8"' in image_line
    (iframes,) = master.iframe_playlists
    assert iframes.uri == f"/hls/{session}/trickplay/iframes.m3u8"
    assert iframes.iframe_stream_info.codecs == trickplay.IFRAME_CODECS
    assert iframes.iframe_stream_info.resolution == (480, 270)
    assert iframes.iframe_stream_info.bandwidth > 0
    assert len(master.playlists) >= 1  # the video variants are still there
    stop(app, session)


def test_the_image_playlist_and_its_sheets(app: TestApp) -> None:
    session, _ = open_master(app)
    response = app.get(f"/hls/{session}/trickplay/images.m3u8")
    assert response.content_type == "application/vnd.apple.mpegurl"
    assert "#EXT-X-TILES:RESOLUTION=320x180,LAYOUT=10x10,DURATION=10.000" in response.text
    playlist = m3u8.loads(response.text)
    assert [s.uri for s in playlist.segments] == ["0.jpg"]
    sheet = app.get(f"/hls/{session}/trickplay/0.jpg")
    assert sheet.content_type == "image/jpeg" and sheet.body[:2] == b"\xff\xd8"
    app.get(f"/hls/{session}/trickplay/1.jpg", status=404)
    vtt = app.get(f"/hls/{session}/trickplay/thumbnails.vtt")
    assert vtt.content_type == "text/vtt" and vtt.text.count("#xywh=") == 10
    assert vtt.headers["Access-Control-Allow-Origin"] == "*"
    stop(app, session)


def test_iframe_byte_ranges_are_served_as_asked(app: TestApp) -> None:
    session, _ = open_master(app)
    playlist = m3u8.loads(app.get(f"/hls/{session}/trickplay/iframes.m3u8").text)
    assert playlist.is_i_frames_only and len(playlist.segments) == 10
    whole = app.get(f"/hls/{session}/trickplay/iframes.mp4").body
    length, offset = map(int, playlist.segments[4].byterange.split("@"))
    part = app.get(f"/hls/{session}/trickplay/iframes.mp4",
                   headers={"Range": f"bytes={offset}-{offset + length - 1}"}, status=206)
    assert part.body == whole[offset:offset + length] and part.body[4:8] == b"moof"
    stop(app, session)


def test_an_unknown_session_gets_404_and_nothing_is_spawned(app: TestApp) -> None:
    app.get(f"/hls/{'A' * 40}/trickplay/images.m3u8", status=404)
    assert not spawned(app.app.registry.hls.settings.work_dir).ffmpeg


def test_without_trick_play_files_the_master_leaves_them_out(library: Path, tmp_path: Path) -> None:
    with web_app(library, tmp_path / "work", trickplay="false") as bare:
        session, master = open_master(bare)
        assert master.iframe_playlists == [] and "IMAGE-STREAM-INF" not in master.dumps()
        body = bare.get(f"/hls/{session}/trickplay/images.m3u8", status=404).json
        assert set(body) == {"error", "detail"} and "/" not in body["detail"]
        stop(bare, session)


def test_the_scan_progress_counts_the_trick_play_work(app: TestApp) -> None:
    progress = app.get("/api/v1/scan").json
    assert not progress["running"]
    assert progress["thumbnails"] == {"done": 1, "total": 1, "seconds": 95.0,
                                      "seconds_total": 95.0, "fraction": 1.0, "current": None}
