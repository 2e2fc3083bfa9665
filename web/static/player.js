/* hlsd's player page: one playback session per page view.
 *
 * Opens a session (POST /api/v1/sessions), plays its master playlist with hls.js, locked
 * to one rendition (automatic switching would make the server restart FFmpeg), sends a
 * heartbeat every 10 s, and stops the session with a beacon when the page goes away.
 */
(() => {
  "use strict";

  const HEARTBEAT_MS = 10000;
  // Buffer at most a minute ahead: the server transcodes only what is about to be watched.
  const HLS_CONFIG = { maxBufferLength: 30, maxMaxBufferLength: 60, capLevelToPlayerSize: false };
  const player = document.getElementById("player");
  const video = document.getElementById("video");
  const quality = document.getElementById("quality");
  const notice = document.getElementById("notice");
  const noticeText = document.getElementById("notice-text");
  const retry = document.getElementById("retry");

  let session = null;
  let hls = null;
  let heartbeat = null;
  let mediaRecoveries = 0;

  function showError(text) {
    noticeText.textContent = text;
    notice.hidden = false;
  }

  function explain(status, detail) {
    const known = {
      404: "This video or its playback session no longer exists.",
      503: "The server is busy right now. Try again in a moment.",
    };
    const reason = known[status] || `The server answered with an error (HTTP ${status}).`;
    return detail ? `${reason} ${detail}` : reason;
  }

  async function errorOf(response) {
    let detail = "";
    try {
      detail = (await response.json()).detail || "";
    } catch (_) { /* not JSON: the status says enough */ }
    return explain(response.status, detail);
  }

  async function openSession(profile, position) {
    const response = await fetch("/api/v1/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ media: player.dataset.media, profile, start: position }),
    });
    if (!response.ok) throw new Error(await errorOf(response));
    return response.json();
  }

  async function start(profile, position) {
    notice.hidden = true;
    stop();
    try {
      session = await openSession(profile, position);
    } catch (error) {
      showError(error.message || "Could not reach the server.");
      return;
    }
    attach(position);
    heartbeat = setInterval(beat, HEARTBEAT_MS);
  }

  function attach(position) {
    if (window.Hls && Hls.isSupported()) {
      mediaRecoveries = 0;
      hls = new Hls({ ...HLS_CONFIG, startPosition: position });
      hls.on(Hls.Events.MANIFEST_PARSED, () => { hls.loadLevel = levelOf(session.profile); });
      hls.on(Hls.Events.ERROR, onHlsError);
      hls.loadSource(session.master);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      // Native HLS (Safari): its media playlist, so the rendition stays the session's.
      video.src = session.master.replace(/master\.m3u8$/, `${session.profile}/index.m3u8`);
      video.addEventListener("loadedmetadata", () => { video.currentTime = position; }, { once: true });
    } else {
      showError("This browser cannot play HLS video.");
      return;
    }
    video.play().catch(() => { /* autoplay refused: the controls are there */ });
  }

  function levelOf(profile) {
    const suffix = `/${profile}/index.m3u8`;
    return hls.levels.findIndex((level) => String([].concat(level.url)[0]).endsWith(suffix));
  }

  function onHlsError(event, data) {
    if (!data.fatal) return;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries++ < 2) {
      hls.recoverMediaError();
      return;
    }
    const status = data.response && data.response.code;
    showError(status ? explain(status, detailOf(data)) : `Playback failed (${data.details}).`);
    stop();
  }

  function detailOf(data) {
    try {
      return JSON.parse(data.networkDetails.responseText).detail || "";
    } catch (_) {
      return "";
    }
  }

  function beat() {
    fetch(`/api/v1/sessions/${session.id}/heartbeat`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ position: video.currentTime, paused: video.paused }),
    }).then((response) => {
      if (response.status === 404) {
        showError(explain(404, ""));
        stop();
      }
    }, () => { /* offline for a moment: the next beat will tell */ });
  }

  function stop() {
    clearInterval(heartbeat);
    if (hls) {
      hls.destroy();
      hls = null;
    }
    if (session) {
      navigator.sendBeacon(`/api/v1/sessions/${session.id}/stop`);
      session = null;
    }
  }

  quality.addEventListener("change", () => {
    if (hls) hls.currentLevel = levelOf(quality.value);
    else start(quality.value, video.currentTime);
  });
  retry.addEventListener("click", () => start(quality.value, video.currentTime));
  window.addEventListener("pagehide", stop);
  window.addEventListener("pageshow", (event) => { if (event.persisted) start(quality.value, video.currentTime); });

  start(player.dataset.profile, Number(player.dataset.start) || 0);
})();
