"""Sources a browser cannot show as they are play in a real headless Chromium with
hls.js against a real hlsd: interlaced MPEG-2 in TS, PQ HEVC 10-bit, a rotated phone
clip, H.264 4:4:4 and 10-bit. Each plays on past 1.5 s, on an H.264 level (this
Chromium has no HEVC decoder, so hls.js drops the PQ file's passthrough level), with no fatal hls.js error, and
the picture the video element shows is exactly the size the master announces for the
level playing (portrait for the rotated clip)."""
from __future__ import annotations

import urllib.parse
from typing import Iterator

import m3u8
import pytest

from tests.helpers.server import Server, served
from tests.web.test_browser import PLAY_TIMEOUT_MS, browser, playwright  # noqa: F401 (fixtures)
from tests.web.test_sources import KINDS, PROFILES, make_sources

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]
VIDEO = "document.getElementById('video')"
SECONDS = 4.5
# Runs before the page's script: every hls.js instance the page makes reports its fatal
# errors into window.fatalErrors, from the first request on (the page sets
# window.hlsPlayer before it loads the master).
RECORD_FATAL = """
window.fatalErrors = [];
let player = null;
Object.defineProperty(window, "hlsPlayer", {
  configurable: true,
  get() { return player; },
  set(hls) {
    player = hls;
    hls.on("hlsError", (_, data) => {
      if (data.fatal) window.fatalErrors.push(`${data.type}: ${data.details}`);
    });
  },
});
"""
# The level hls.js is playing (the one of the fragment at the play head), its playlist,
# and what the video element shows, read in one go.
PLAYING = f"""(() => {{
  const hls = window.hlsPlayer, level = hls.levels[hls.currentLevel];
  return {{url: String([].concat(level.url)[0]), width: {VIDEO}.videoWidth,
           height: {VIDEO}.videoHeight, time: {VIDEO}.currentTime}};
}})()"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served(tmp_path_factory.mktemp("sources-browser"), lambda media: make_sources(media, SECONDS),
                profiles=PROFILES) as started:
        yield started


def _announced(server: Server, master_path: str) -> dict[str, tuple[int, int]]:
    """The master's RESOLUTION of each variant, by its playlist's path."""
    status, _, body = server.get(master_path)
    assert status == 200, body
    master = m3u8.loads(body.decode())
    return {urllib.parse.urlsplit(variant.uri).path: variant.stream_info.resolution
            for variant in master.playlists}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_chromium_plays_the_source_at_the_announced_size(browser, server, kind):  # noqa: F811
    name = KINDS[kind]
    page = browser.new_page()
    page.add_init_script(RECORD_FATAL)
    page.goto(f"{server.url}/watch/{urllib.parse.quote(name)}")
    page.wait_for_function(f"{VIDEO}.currentTime > 1.5 || window.fatalErrors.length > 0",
                           timeout=PLAY_TIMEOUT_MS)
    assert page.evaluate("window.fatalErrors") == []
    # The session's own master, the one hls.js loaded.
    announced = _announced(server, urllib.parse.urlsplit(page.evaluate("window.hlsPlayer.url")).path)
    assert announced and any("/copy/" in path for path in announced) == (kind == "pq")
    playing = page.evaluate(PLAYING)
    assert "/copy/" not in playing["url"]
    assert playing["time"] > 1.5
    width, height = announced[urllib.parse.urlsplit(playing["url"]).path]
    assert (playing["width"], playing["height"]) == (width, height), playing
    if kind == "rotated":
        assert height > width  # coded 320x240, turned 90 degrees
    assert page.is_hidden("#notice")
    page.close(run_before_unload=True)
