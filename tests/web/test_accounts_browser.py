"""Accounts in a real headless Chromium against a real hlsd (hls.auth = accounts): signing
in by keyboard, a wrong password's message, only one's folders, playing, the stop beacon
under CSRF, signing out, and the back button after it."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page

from actors.accounts import Accounts
from tests.helpers.media import make_clip
from tests.helpers.server import Server, start_server
from tests.web.test_browser import PLAY_TIMEOUT_MS, browser, gone_within, playwright  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PASSWORD = "a long enough password"
TOKEN = "operator-token-for-the-scan-wait"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("accounts-browser") / "media"
    (root / "mine").mkdir(parents=True)
    (root / "theirs").mkdir()
    make_clip(root / "mine" / "movie.mp4", 120, width=320, height=240, fps=15)
    make_clip(root / "theirs" / "private.mp4", 2, width=320, height=240)
    return root


@pytest.fixture
def server(tmp_path: Path, library: Path) -> Iterator[Server]:
    store = Accounts(tmp_path / "work" / "users.sqlite3")
    store.add("ann", PASSWORD, folders=["mine"])
    store.close()
    started = start_server(tmp_path, library, auth="accounts", admin_token=TOKEN, idle_timeout=30)
    yield started
    assert started.stop() == 0


def sign_in_by_keyboard(page: Page, password: str) -> None:
    page.wait_for_selector("#name:focus")  # the name field has the focus on arrival
    page.keyboard.type("ann")
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_sign_in_play_stop_by_beacon_sign_out_and_back(browser: Browser, server: Server) -> None:
    page = browser.new_page()
    page.goto(f"{server.url}/")
    assert page.url.endswith("/login?next=%2F")
    sign_in_by_keyboard(page, "not the password")
    assert page.inner_text("#login-message") == "Wrong name or password."
    page.fill("#name", "")
    sign_in_by_keyboard(page, PASSWORD)
    assert page.url == f"{server.url}/"
    assert page.is_visible("text=mine") and "theirs" not in page.content()
    assert page.inner_text("#account-name") == "ann"

    page.goto(f"{server.url}/watch/mine/movie.mp4")
    page.wait_for_function("window.hlsPlayer && window.hlsPlayer.levels.length > 0",
                           timeout=PLAY_TIMEOUT_MS)
    page.select_option("#quality", "copy")
    page.wait_for_function("document.getElementById('video').currentTime > 1", timeout=PLAY_TIMEOUT_MS)
    ffmpeg = server.ffmpeg()
    assert len(ffmpeg) == 1
    since = time.monotonic()
    page.goto(f"{server.url}/")  # pagehide: the beacon, with the CSRF token in its body
    gone_within(ffmpeg[0], 2.0, since, server)  # without the token: 403, FFmpeg for 30 s

    with page.expect_navigation():
        page.click("#sign-out")
    assert "/login" in page.url
    page.go_back(wait_until="load")
    assert "movie" not in page.content() and "/login" in page.url
    page.goto(f"{server.url}/watch/mine/movie.mp4")
    assert "/login?next=" in page.url
    page.close()
