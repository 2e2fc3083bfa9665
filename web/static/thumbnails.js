/* Thumbnails while scrubbing: while the pointer hovers the seek bar under the player
 * (#seek-bar, whose clicks and played part chapters.js handles), the thumbnail of the
 * film at the pointer's time.
 *
 * Once player.js has a session ("hlsd:session" on #player), reads the session's WebVTT
 * thumbnails track (trickplay/thumbnails.vtt: one cue per thumbnail, "N.jpg#xywh=x,y,w,h"
 * into a tile sheet). A film whose thumbnails the library scan has not made yet answers
 * 404: no thumbnail is shown then (the bar stays hidden unless the film has chapters).
 */
(() => {
  "use strict";

  const player = document.getElementById("player");
  const video = document.getElementById("video");
  const strip = document.getElementById("seek-bar");
  strip.insertAdjacentHTML("beforeend",
    '<div class="scrub-thumb" id="scrub-thumb" hidden><span class="scrub-time" id="scrub-time"></span></div>');
  const thumb = strip.querySelector("#scrub-thumb");
  const label = strip.querySelector("#scrub-time");
  let cues = [];

  function seconds(clock) {
    const [h, m, s] = clock.split(":");
    return Number(h) * 3600 + Number(m) * 60 + Number(s);
  }

  function parse(text, base) {
    const found = [];
    const blocks = text.replace(/\r/g, "").split("\n\n");
    for (const block of blocks) {
      const lines = block.trim().split("\n");
      const timing = lines.findIndex((line) => line.includes("-->"));
      if (timing < 0 || !lines[timing + 1]) continue;
      const [from, to] = lines[timing].split("-->").map((part) => seconds(part.trim()));
      const [file, fragment] = lines[timing + 1].trim().split("#xywh=");
      const [x, y, w, h] = fragment.split(",").map(Number);
      found.push({ from, to, url: new URL(file, base).href, x, y, w, h });
    }
    return found;
  }

  function duration() {
    if (Number.isFinite(video.duration) && video.duration > 0) return video.duration;
    return cues.length ? cues[cues.length - 1].to : 0;
  }

  function timeAt(event) {
    const box = strip.getBoundingClientRect();
    const fraction = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
    return { fraction, time: fraction * duration() };
  }

  function cueAt(time) {
    return cues.find((cue) => time >= cue.from && time < cue.to) || cues[cues.length - 1];
  }

  function clock(time) {
    const whole = Math.floor(time);
    const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(s).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  function show(event) {
    const { fraction, time } = timeAt(event);
    const cue = cueAt(time);
    if (!cue) return;
    thumb.style.width = `${cue.w}px`;
    thumb.style.height = `${cue.h}px`;
    thumb.style.backgroundImage = `url("${cue.url}")`;
    thumb.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    const left = Math.min(Math.max(fraction * strip.clientWidth - cue.w / 2, 0), strip.clientWidth - cue.w);
    thumb.style.left = `${left}px`;
    thumb.dataset.time = time.toFixed(3);
    label.textContent = clock(time);
    thumb.hidden = false;
  }

  async function load(session) {
    const url = new URL(session.master.replace(/master\.m3u8$/, "trickplay/thumbnails.vtt"), location.href);
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (!response.ok) return;  // not made yet: no strip
      cues = parse(await response.text(), url);
    } catch (_) {
      return;
    }
    if (!cues.length) return;
    strip.dataset.thumbnails = "yes";
    strip.hidden = false;
  }

  strip.addEventListener("mousemove", show);
  strip.addEventListener("mouseleave", () => { thumb.hidden = true; });
  player.addEventListener("hlsd:session", (event) => load(event.detail));
})();
