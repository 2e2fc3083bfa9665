"""Row 15c: the first frame in Chromium, cold 720p transcode, vs FFmpeg alone.

hlsd: headless Chromium (playwright) on a page of the hlsd origin runs hls.js
(``web/static/vendor/hls.min.js``) with the player page's ``progressive: true``, a new
session each time (``/media/{id}/master.m3u8?profile=720p``, the 720p level as the start
level); the time is ``loadSource`` -> the first ``timeupdate`` with ``currentTime > 0``
(the first frame shown and the clock moving). FFmpeg alone: the same recipe until the
segment list reports segment 0 (``bench.ffmpeg_alone.until_segment``). Target: the ratio
p50 <= 0.6 -- the player shows its first frame while segment 0 is being written.
"""
from __future__ import annotations

from functools import partial

from bench import clips, ffmpeg_alone, hlsd
from bench.common import REPO, Bench, Client, Line, Stats, Target, side_by_side
from bench.ffmpeg_alone import Recipe

PROFILE = "720p"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
HLS_JS = REPO / "web" / "static" / "vendor" / "hls.min.js"
FRAME_TIMEOUT_MS = 60_000
TARGET = Target("p50", 0.6, text="ratio p50 ≤ 0.6")
# Resolves to the seconds from loadSource to the first timeupdate with currentTime > 0.
FIRST_FRAME_JS = """async ([master, height, progressive]) => {
  const video = document.createElement("video");
  video.muted = true; video.autoplay = true;
  document.body.appendChild(video);
  const hls = new Hls({progressive, capLevelToPlayerSize: false});
  const shown = new Promise((resolve, reject) => {
    video.addEventListener("timeupdate", () => {
      if (video.currentTime > 0) resolve(performance.now());
    });
    hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) reject(new Error(data.details)); });
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    hls.startLevel = Math.max(0, hls.levels.findIndex(level => level.height === height));
  });
  const started = performance.now();
  hls.loadSource(master);
  hls.attachMedia(video);
  const at = await shown;
  const session = hls.levels[0].url[0].split("/")[4];
  hls.destroy();
  video.remove();
  return [(at - started) / 1000, session];
}"""


def run(bench: Bench) -> list[Line]:
    from playwright.sync_api import sync_playwright  # the test extras; only this row needs it

    clip = clips.SHORT
    config = ffmpeg_alone.settings(bench.clips.root, bench.scratch / "unused")
    recipe = Recipe.plan(config, bench.clips.path(clip), PROFILE)
    repeats = bench.repeats(7, 2)
    with hlsd.running(bench.scratch, bench.clips.root) as server, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/healthz")  # the hlsd origin
            page.set_content("<!doctype html><body></body>")
            page.add_script_tag(path=str(HLS_JS))
            measure = partial(_first_frame, page, hlsd.port(server), clip.media_id, clip.height)
            measure()  # the file's first session also runs ffprobe
            ffmpeg_alone.until_segment(recipe, 0, bench.scratch)
            shown, alone = side_by_side(repeats, measure,
                                        partial(ffmpeg_alone.until_segment, recipe, 0, bench.scratch))
            whole = [measure(progressive=False) for _ in range(max(1, repeats // 2))]
        finally:
            browser.close()
    return [Line("15c", f"first frame in Chromium (hls.js, progressive), cold {PROFILE}", "s",
                 Stats(tuple(shown)), Stats(tuple(alone)), "FFmpeg alone: segment 0 made", TARGET,
                 note="loadSource -> first timeupdate with currentTime > 0; the segment FFmpeg is "
                      "writing is sent as it grows; hls.js without progressive (appending only "
                      f"whole segments): p50 {Stats(tuple(whole)).p50:.2f} s (n={len(whole)})")]


def _first_frame(page: object, port: int, media_id: str, height: int, progressive: bool = True) -> float:
    master = hlsd.master_path(media_id, PROFILE)
    seconds, session = page.evaluate(FIRST_FRAME_JS, [master, height, progressive])  # type: ignore[attr-defined]
    with Client(port) as client:
        hlsd.delete_session(client, session)
    return float(seconds)

