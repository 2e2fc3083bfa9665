"""The player page's thumbnails, in a real headless Chromium against a real hlsd: while
the pointer hovers the seek strip, the picture shown is the sheet cell of the film at the
pointer's time, and that picture is the film at that time (the ramp film's brightness
is its time)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser

from tests.helpers.media import FFMPEG
from tests.helpers.ramp import make_ramp
from tests.helpers.server import Server, start_server
from tests.web.test_browser import browser, playwright  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PLAY_TIMEOUT_MS = 30_000
DURATION = 95.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    media = tmp_path / "media"
    make_ramp(media / "ramp.mp4")
    started = start_server(tmp_path, media)
    yield started
    assert started.stop() == 0


def mean_gray(png: bytes, crop: str) -> float:
    out = subprocess.run([FFMPEG, "-v", "error", "-f", "png_pipe", "-i", "-", "-vf",
                          f"crop={crop},format=gray", "-f", "rawvideo", "-"],
                         input=png, check=True, capture_output=True, timeout=30).stdout
    return sum(out) / len(out)


def test_hovering_the_seek_strip_shows_the_thumbnail_of_that_time(browser: Browser,  # noqa: F811
                                                                  server: Server) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server.url}/watch/ramp.mp4")
    page.wait_for_selector("#seek-bar", state="visible", timeout=PLAY_TIMEOUT_MS)
    page.wait_for_function("document.getElementById('video').duration > 90", timeout=PLAY_TIMEOUT_MS)
    box = page.locator("#seek-bar").bounding_box()
    assert box is not None
    shades = []
    for seconds, cell in ((5.0, (0, 0)), (43.0, (4, 0)), (91.0, (9, 0))):
        page.mouse.move(box["x"] + box["width"] * seconds / DURATION, box["y"] + box["height"] / 2)
        thumb = page.locator("#scrub-thumb")
        thumb.wait_for(state="visible", timeout=5000)
        style = page.evaluate("(() => { const s = document.getElementById('scrub-thumb').style;"
                              " return [s.backgroundImage, s.backgroundPosition, s.width]; })()")
        assert "/trickplay/0.jpg" in style[0] and style[2] == "320px"
        assert style[1] == f"{-cell[0] * 320}px {-cell[1] * 180}px"
        assert abs(float(thumb.get_attribute("data-time")) - seconds) < 1.0
        # What the viewer sees: the top of the picture (the time label sits at its bottom).
        shades.append(mean_gray(thumb.screenshot(), "300:100:10:10"))
    # The ramp: each cell is 16 + 2.2 x its tick's seconds, in video range.
    expected = [(16 + 2.2 * t - 16) * 255 / 219 for t in (0, 40, 90)]
    assert all(abs(got - want) < 6 for got, want in zip(shades, expected)), (shades, expected)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] - 200)
    page.locator("#scrub-thumb").wait_for(state="hidden", timeout=5000)
    page.close(run_before_unload=True)
