"""The AV1 passthrough variant played in a real headless Chromium through the player
page's hls.js (Chromium decodes AV1 in software): init.mp4 and .m4s segments fetched,
frames decoded from the copy level, and nothing left behind."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.helpers.modern_clips import make_modern_clip
from tests.helpers.server import Server, served
from tests.web.test_browser import PLAY_TIMEOUT_MS, browser, playwright

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]
COPY_LEVEL = "hlsPlayer.levels.findIndex((l) => String([].concat(l.url)[0]).endsWith('/copy/index.m3u8'))"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with served(tmp_path, lambda media: make_modern_clip(media, "av1", seconds=20)) as running:
        yield running


def test_chromium_plays_the_av1_passthrough_variant(server: Server, browser: Browser) -> None:
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{server.url}/watch/av1.mkv")
    page.wait_for_function("window.hlsPlayer && window.hlsPlayer.levels.length > 1",
                           timeout=PLAY_TIMEOUT_MS)
    assert page.evaluate(COPY_LEVEL) >= 0  # hls.js kept the AV1 level: MediaSource takes it
    page.select_option("#quality", "copy")
    page.wait_for_function(f"hlsPlayer.currentLevel === {COPY_LEVEL}", timeout=PLAY_TIMEOUT_MS)
    started = page.evaluate("document.getElementById('video').currentTime")
    page.wait_for_function(f"document.getElementById('video').currentTime > {started + 3}",
                           timeout=PLAY_TIMEOUT_MS)
    assert page.evaluate("document.getElementById('video').getVideoPlaybackQuality()"
                         ".totalVideoFrames") > 50
    assert any(url.endswith("/copy/init.mp4") for url in requests)
    assert any("/copy/" in url and url.endswith(".m4s") for url in requests)
    assert page.is_hidden("#notice")
    page.close()
