/* Thumbnails while scrubbing: a seek strip under the player that shows, while the
 * pointer hovers it, the thumbnail of the film at the pointer's time.
 *
 * Once player.js has a session ("hlsd:session" on #player), reads the session's WebVTT
 * thumbnails track (trickplay/thumbnails.vtt: one cue per thumbnail, "N.jpg#xywh=x,y,w,h"
 * into a tile sheet). A film whose thumbnails the library scan has not made yet answers
 * 404: the strip then stays hidden. A click on the strip seeks there.
 */
(() => {
  "use strict";

  const player = document.getElementById("player");
  const video = document.getElementById("video");
  const strip = document.createElement("div");
  strip.className = "scrub";
  strip.id = "scrub";
  strip.hidden = true;
  strip.innerHTML = '<div class="scrub-played" id="scrub-played"></div>' +
    '<div class="scrub-thumb" id="scrub-thumb" hidden><span class="scrub-time" id="scrub-time"></span></div>';
  player.insertAdjacentElement("afterend", strip);
  const played = strip.querySelector("#scrub-played");
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
    strip.hidden = cues.length === 0;
  }

  strip.addEventListener("mousemove", show);
  strip.addEventListener("mouseleave", () => { thumb.hidden = true; });
  strip.addEventListener("click", (event) => { video.currentTime = timeAt(event).time; });
  video.addEventListener("timeupdate", () => {
    const total = duration();
    played.style.width = total ? `${(100 * video.currentTime) / total}%` : "0";
  });
  player.addEventListener("hlsd:session", (event) => load(event.detail));
})();
