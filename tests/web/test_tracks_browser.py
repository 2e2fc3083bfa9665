"""The player page's Quality, Audio and Subtitles menus in a real headless Chromium
against a real hlsd, with a film that has three audio tracks and text subtitles."""
from __future__ import annotations

from typing import Iterator

import pytest
from playwright.sync_api import Page

from tests.helpers.server import Server, served
from tests.helpers.track_clips import make_film
from tests.web.test_browser import PLAY_TIMEOUT_MS, browser, playwright  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]
VIDEO = "document.getElementById('video')"


@pytest.fixture(scope="module")
def film_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served(tmp_path_factory.mktemp("tracks-browser"), lambda media: make_film(media, seconds=30),
                profiles="\n240p 240 400 96\n180p 180 300 96\ncopy copy") as server:
        yield server


def _play(page: Page, server: Server, requests: list[str]) -> None:
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{server.url}/watch/Film.mkv")
    page.wait_for_function(f"{VIDEO}.currentTime > 0.5", timeout=PLAY_TIMEOUT_MS)


def _advances(page: Page, seconds: float) -> None:
    now = page.evaluate(f"{VIDEO}.currentTime")
    page.wait_for_function(f"{VIDEO}.currentTime > {now + seconds}", timeout=PLAY_TIMEOUT_MS)


def test_switching_audio_and_turning_subtitles_on_while_playing(browser, film_server):  # noqa: F811
    requests: list[str] = []
    page = browser.new_page()
    _play(page, film_server, requests)
    names = page.eval_on_selector_all("#audio option", "options => options.map(o => o.text)")
    assert names == ["English (stereo)", "French (5.1)", "Japanese (mono)"]
    assert page.input_value("#audio") == "1"  # the file's default track
    subtitles = page.eval_on_selector_all("#subtitles option", "options => options.map(o => o.text)")
    assert subtitles[0] == "Off" and len(subtitles) == 4
    page.select_option("#subtitles", "0")  # English, before its cue at 4.5 s
    page.select_option("#audio", "0")
    shown = (f"Array.from({VIDEO}.textTracks).some(t => t.mode === 'showing' && t.activeCues"
             " && Array.from(t.activeCues).some(c => c.text === 'A cue across a cut'))")
    page.wait_for_function(shown, timeout=PLAY_TIMEOUT_MS)
    cue_time = page.evaluate(f"{VIDEO}.currentTime")
    assert 4.5 - 0.1 <= cue_time <= 6.0 + 0.1
    _advances(page, 2)
    assert page.evaluate("window.hlsPlayer.audioTrack") == 0
    assert any("/audio/1/" in url and url.endswith(".ts") for url in requests)  # English
    assert any("/subs/4/" in url and url.endswith(".vtt") for url in requests)
    assert page.is_hidden("#notice")
    page.close(run_before_unload=True)


def test_automatic_quality_plays_across_a_forced_level_switch(browser, film_server):  # noqa: F811
    page = browser.new_page()
    _play(page, film_server, [])
    assert page.input_value("#quality") == "auto"
    assert page.evaluate("window.hlsPlayer.autoLevelEnabled")
    level = page.evaluate("window.hlsPlayer.currentLevel")
    other = (level + 1) % page.evaluate("window.hlsPlayer.levels.length")
    page.evaluate(f"window.hlsPlayer.nextLevel = {other}")
    page.wait_for_function(f"window.hlsPlayer.currentLevel === {other}", timeout=PLAY_TIMEOUT_MS)
    _advances(page, 2)
    page.select_option("#quality", "copy")  # the menu locks one rendition...
    assert not page.evaluate("window.hlsPlayer.autoLevelEnabled")
    copy = page.evaluate("window.hlsPlayer.levels.findIndex(l => String(l.url).includes('/copy/'))")
    page.wait_for_function(f"window.hlsPlayer.currentLevel === {copy}", timeout=PLAY_TIMEOUT_MS)
    page.select_option("#quality", "auto")  # ...and goes back to automatic
    assert page.evaluate("window.hlsPlayer.autoLevelEnabled")
    _advances(page, 1)
    assert page.is_hidden("#notice")
    page.close(run_before_unload=True)
