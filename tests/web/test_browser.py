"""The player page in a real headless Chromium against a real hlsd.

It plays, seeks and plays on, and whichever way the viewer leaves (navigating away,
closing the tab, the browser killed), the session's FFmpeg goes: within 1 s for the
first two (the stop beacon), within ``hls.idle_timeout`` + 1 s for the last.
"""
from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import psutil
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.helpers.server import Server, spawned, start_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
IDLE_TIMEOUT = 12.0  # above the page's 10 s heartbeat, so a playing session never idles
PLAY_TIMEOUT_MS = 30_000


@pytest.fixture
def server(tmp_path: Path, browser_media: Path) -> Iterator[Server]:
    started = start_server(tmp_path, browser_media, idle_timeout=IDLE_TIMEOUT)
    yield started
    assert started.stop() == 0


@pytest.fixture
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver
    for process in chromium_processes():  # whatever a killed browser left
        process.kill()
    psutil.wait_procs(chromium_processes(), timeout=5)


@pytest.fixture
def browser(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def chromium_processes() -> list[psutil.Process]:
    """The Chromium processes this test process started (through Playwright's driver)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "chromium":
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def watch(page: Page, server: Server, requests: list[str]) -> psutil.Process:
    """Open the player, lock the original quality, play, seek to 70 % and play on; the
    session's FFmpeg process (running, or suspended ahead of the player)."""
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{server.url}/watch/movie.mp4")
    # The page plays in automatic quality; these tests lock the original (the menu), so
    # one FFmpeg runs whatever hls.js would measure.
    page.wait_for_function("window.hlsPlayer && window.hlsPlayer.levels.length > 0",
                           timeout=PLAY_TIMEOUT_MS)
    page.select_option("#quality", "copy")
    page.wait_for_function("document.getElementById('video').currentTime > 1", timeout=PLAY_TIMEOUT_MS)
    target = page.evaluate("(() => { const v = document.getElementById('video');"
                           " v.currentTime = v.duration * 0.7; return v.currentTime; })()")
    page.wait_for_function(f"document.getElementById('video').currentTime > {target + 1.5}",
                           timeout=PLAY_TIMEOUT_MS)
    assert page.is_hidden("#notice")
    assert len(server_sessions(server)) == 1
    ffmpeg = server.ffmpeg()
    assert len(ffmpeg) == 1 and ffmpeg[0].status() != psutil.STATUS_ZOMBIE, ffmpeg
    return ffmpeg[0]


def server_sessions(server: Server) -> list[dict]:
    status, _, body = server.get("/api/v1/sessions")
    assert status == 200
    return json.loads(body)


def gone_within(ffmpeg: psutil.Process, seconds: float, since: float, server: Server) -> float:
    """Seconds from ``since`` until FFmpeg was gone (reaped) and the session's files too."""
    deadline = since + seconds
    while ffmpeg.is_running() or spawned(server.work_dir):
        assert time.monotonic() < deadline, (
            f"still there {seconds} s later: ffmpeg {ffmpeg.pid} running={ffmpeg.is_running()}, "
            f"{spawned(server.work_dir)}")
        time.sleep(0.02)
    return time.monotonic() - since


def test_plays_seeks_and_stays_on_the_locked_rendition(browser: Browser, server: Server) -> None:
    requests: list[str] = []
    page = browser.new_page()
    watch(page, server, requests)
    segments = [url for url in requests if url.endswith(".ts")]
    assert segments and all("/copy/" in url for url in segments)
    page.close(run_before_unload=True)


@pytest.mark.parametrize("leave", ["navigate", "close"])
def test_leaving_the_page_stops_ffmpeg_within_1s(browser: Browser, server: Server, leave: str) -> None:
    page = browser.new_page()
    ffmpeg = watch(page, server, [])
    left: Callable[[], object] = {
        "navigate": lambda: page.goto(f"{server.url}/"),
        "close": lambda: page.close(run_before_unload=True),
    }[leave]
    since = time.monotonic()
    left()
    gone_within(ffmpeg, 1.0, since, server)
    assert server_sessions(server) == []


def test_killed_browser_stops_ffmpeg_within_idle_timeout(browser: Browser, server: Server) -> None:
    ffmpeg = watch(browser.new_page(), server, [])
    main = [p for p in chromium_processes() if p.parent() and p.parent().name() != "chromium"]
    assert len(main) == 1, main
    main[0].send_signal(signal.SIGKILL)
    since = time.monotonic()
    gone_within(ffmpeg, IDLE_TIMEOUT + 1.0, since, server)


def test_viewer_sees_why_playback_stopped(browser: Browser, server: Server, browser_media: Path) -> None:
    page = browser.new_page()
    watch(page, server, [])
    session = server_sessions(server)[0]["id"]
    # A stopped session resumes from its token at the player's next request; one whose
    # media is gone cannot: the player gets 404 and the viewer is told why.
    movie = browser_media / "movie.mp4"
    away = movie.rename(browser_media / "movie.mp4.away")
    try:
        urllib.request.urlopen(urllib.request.Request(f"{server.url}/api/v1/sessions/{session}",
                                                      method="DELETE"), timeout=10).close()
        page.wait_for_selector("#notice", state="visible", timeout=15_000)
        assert "no longer exists" in page.inner_text("#notice-text")
    finally:
        away.rename(movie)
    page.close()
