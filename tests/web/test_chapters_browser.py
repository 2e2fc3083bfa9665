"""The player page's chapters and Quality menu in a real headless Chromium against a real
hlsd: an MKV and an MP4 with chapters (FFMETADATA [CHAPTER] blocks), marks on the
chapter bar where the chapters begin, the Chapters menu seeking (by keyboard, too); the
`copy` level named "Original"; and the passthrough preference, unit-tested in the page
with synthetic levels (a real AV1 or HEVC passthrough comes from the fMP4 work)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import Page

from tests.helpers.chapters import CHAPTERS, MP4_CHAPTERS, make_chaptered_clip
from tests.helpers.server import Server, served
from tests.web.test_browser import PLAY_TIMEOUT_MS, browser, playwright  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]
VIDEO = "document.getElementById('video')"
SEGMENT_SECONDS = 2  # config/test.ini


def fill(media: Path) -> None:
    for name in ("Chapters.mkv", "Chapters.mp4"):
        make_chaptered_clip(media / name, 24, width=320, height=180, gop=1)


@pytest.fixture(scope="module")
def chapter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served(tmp_path_factory.mktemp("chapters-browser"), fill, profiles="\n180p 180 300 96\ncopy copy") as server:
        yield server


def play(page: Page, server: Server, name: str) -> None:
    page.goto(f"{server.url}/watch/{name}")
    page.wait_for_function(f"{VIDEO}.currentTime > 0.3", timeout=PLAY_TIMEOUT_MS)


def settled_at(page: Page, at_least: float) -> float:
    """currentTime once the seek is done and the picture is there again."""
    page.wait_for_function(f"!{VIDEO}.seeking && {VIDEO}.readyState >= 3 && {VIDEO}.currentTime >= {at_least}",
                           timeout=PLAY_TIMEOUT_MS)
    return page.evaluate(f"{VIDEO}.currentTime")


@pytest.mark.parametrize("name, chapters", [("Chapters.mkv", CHAPTERS), ("Chapters.mp4", MP4_CHAPTERS)])
def test_chapter_marks_sit_at_the_chapter_starts_and_the_menu_seeks(browser, chapter_server, name, chapters):  # noqa: F811
    page = browser.new_page()
    play(page, chapter_server, name)
    titles = [title or f"Chapter {n}" for n, (_, _, title) in enumerate(chapters, 1)]
    options = page.eval_on_selector_all("#chapters option", "options => options.map(o => o.text)")
    assert [o.split(" ", 1)[1] for o in options] == titles
    assert page.is_visible("#chapters-menu")

    duration = float(page.get_attribute("#player", "data-duration"))
    bar = page.locator("#seek-bar").bounding_box()
    marks = page.locator(".chapter-mark")
    assert marks.count() == len(chapters)
    for index, (start, _, _) in enumerate(chapters):
        box = marks.nth(index).bounding_box()
        centre = (box["x"] + box["width"] / 2 - bar["x"]) / bar["width"]
        assert abs(centre - start / duration) < 0.01, (index, centre, start / duration)

    page.select_option("#chapters", "2")  # the last chapter, from the menu
    landed = settled_at(page, chapters[2][0] - 0.05)
    assert chapters[2][0] - 0.05 <= landed < chapters[2][0] + SEGMENT_SECONDS, landed

    page.focus("#chapters")  # by keyboard: one up, to the second chapter
    page.keyboard.press("ArrowUp")
    if page.evaluate(f"{VIDEO}.currentTime") > chapters[2][0] - 0.5:  # a closed <select> may need Enter
        page.keyboard.press("Enter")
    landed = settled_at(page, chapters[1][0] - 0.05)
    assert chapters[1][0] - 0.05 <= landed < chapters[1][0] + SEGMENT_SECONDS, landed

    marks.nth(0).click()  # a mark seeks to its chapter, too
    landed = settled_at(page, 0)
    assert landed < SEGMENT_SECONDS, landed
    page.wait_for_function(f"{VIDEO}.currentTime > {landed + 0.3}", timeout=PLAY_TIMEOUT_MS)  # and plays on
    assert page.is_hidden("#notice")
    page.close(run_before_unload=True)


def call(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, None


def test_the_session_json_and_the_media_list_give_the_chapters(chapter_server):
    status, session = call(chapter_server, "POST", "/api/v1/sessions", {"media": "Chapters.mkv"})
    assert status == 201
    assert session["chapters"] == [{"title": "Opening", "start": 0.0, "end": 6.0},
                                   {"title": "Chapter 2", "start": 6.0, "end": 14.0},
                                   {"title": "The End", "start": 14.0, "end": 24.0}]
    status, state = call(chapter_server, "GET", f"/api/v1/sessions/{session['id']}")
    assert status == 200 and state["chapters"] == session["chapters"]
    listed = {m["id"]: m for m in call(chapter_server, "GET", "/media")[1]}
    assert [(c["title"], c["start"]) for c in listed["Chapters.mp4"]["chapters"]] == [
        ("Opening", 0.0), ("Middle", 6.0), ("The End", 14.0)]
    assert call(chapter_server, "DELETE", f"/api/v1/sessions/{session['id']}")[0] == 204


def test_the_copy_level_is_named_original(browser, chapter_server):  # noqa: F811
    page = browser.new_page()
    play(page, chapter_server, "Chapters.mkv")
    options = page.eval_on_selector_all("#quality option", "options => options.map(o => [o.value, o.text])")
    assert options[0] == ["auto", "Auto"]
    assert ["copy", "Original"] in options and ["180p", "180p"] in options
    assert len(options) == page.evaluate("window.hlsPlayer.levels.length") + 1  # the levels hls.js kept
    copy = page.evaluate("window.hlsPlayer.levels.findIndex(l => String(l.url).includes('/copy/'))")
    label = page.evaluate(f"hlsdQuality.qualityLabel(window.hlsPlayer.levels[{copy}], ['copy'])")
    assert label == "Original"
    # H.264 only: no passthrough level, so playback starts where the server began.
    assert page.evaluate("hlsdQuality.passthroughLevel(window.hlsPlayer.levels, () => true)") == -1
    page.close(run_before_unload=True)


LEVELS = """[
  {url: '/hls/k.t/720p/index.m3u8', attrs: {CODECS: 'avc1.64001f,mp4a.40.2'}, bitrate: 3000000},
  {url: '/hls/k.t/copy/index.m3u8', attrs: {CODECS: 'mp4a.40.2,av01.0.08M.10'}, bitrate: 9000000},
  {url: '/hls/k.t/copy/index.m3u8', videoCodec: 'vp09.00.40.08', bitrate: 7000000},
  {url: '/hls/k.t/copy/index.m3u8', attrs: {CODECS: 'hvc1.2.4.L150.B0,mp4a.40.2'}, bitrate: 12000000},
  {url: '/hls/k.t/480p/index.m3u8', attrs: {CODECS: 'avc1.4d401e'}, bitrate: 1200000},
]"""


def test_the_player_prefers_a_passthrough_level_this_browser_plays(browser, chapter_server):  # noqa: F811
    page = browser.new_page()
    page.goto(f"{chapter_server.url}/watch/Chapters.mkv")
    page.wait_for_function("window.hlsdQuality !== undefined", timeout=PLAY_TIMEOUT_MS)

    def choice(plays: str) -> int:
        return page.evaluate(f"hlsdQuality.passthroughLevel({LEVELS}, {plays})")

    assert choice("() => true") == 3  # every codec plays: the highest bandwidth passthrough
    assert choice("() => false") == -1  # none plays: the server's rendition (H.264)
    assert choice("t => !t.includes('hvc1')") == 1  # no HEVC decoder (this machine): AV1
    assert choice("t => t.includes('vp09')") == 2
    asked = page.evaluate(f"(() => {{ const seen = []; hlsdQuality.passthroughLevel({LEVELS}, t => seen.push(t));"
                          " return seen; })()")
    assert asked == ['video/mp4; codecs="av01.0.08M.10"', 'video/mp4; codecs="vp09.00.40.08"',
                     'video/mp4; codecs="hvc1.2.4.L150.B0"']  # never asked about avc1
    real = page.evaluate(f"hlsdQuality.passthroughLevel({LEVELS}, t => MediaSource.isTypeSupported(t))")
    av1 = page.evaluate("MediaSource.isTypeSupported('video/mp4; codecs=\"av01.0.08M.10\"')")
    hevc = page.evaluate("MediaSource.isTypeSupported('video/mp4; codecs=\"hvc1.2.4.L150.B0\"')")
    assert real == (3 if hevc else 1 if av1 else 2 if page.evaluate(
        "MediaSource.isTypeSupported('video/mp4; codecs=\"vp09.00.40.08\"')") else -1)
    print(f"this Chromium's MediaSource: AV1 {av1}, HEVC {hevc}")
    page.close(run_before_unload=True)
