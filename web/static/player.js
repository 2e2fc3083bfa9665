/* hlsd's player page: one playback session per page view.
 *
 * Opens a session (POST /api/v1/sessions), plays its master playlist with hls.js in
 * automatic quality (every rendition is cut on one grid, so hls.js may switch at any
 * segment; the server bounds how often a switch restarts FFmpeg); the Quality menu locks
 * one rendition or goes back to Auto. The Audio and Subtitles menus list the master's
 * alternate renditions by name. Sends a heartbeat every 10 s, and stops the session with
 * a beacon when the page goes away.
 */
(() => {
  "use strict";

  const HEARTBEAT_MS = 10000;
  // Buffer at most a minute ahead: the server transcodes only what is about to be watched.
  // progressive: hls.js appends a segment as it arrives; hlsd sends the one FFmpeg is writing as
  // it grows, so a cold transcode shows its first frame before segment 0 is whole.
  const HLS_CONFIG = { maxBufferLength: 30, maxMaxBufferLength: 60, capLevelToPlayerSize: false,
                       progressive: true };
  const player = document.getElementById("player");
  const video = document.getElementById("video");
  const quality = document.getElementById("quality");
  const audio = document.getElementById("audio");
  const subtitles = document.getElementById("subtitles");
  const notice = document.getElementById("notice");
  const noticeText = document.getElementById("notice-text");
  const retry = document.getElementById("retry");

  let session = null;
  let hls = null;
  let heartbeat = null;
  // With accounts, requests that change state carry the CSRF token (SPEC "Accounts").
  const csrf = player.dataset.csrf || "";
  const csrfHeader = csrf ? { "X-CSRF-Token": csrf } : {};
  let mediaRecoveries = 0;

  function showError(text) {
    noticeText.textContent = text;
    notice.hidden = false;
  }

  function explain(status, detail) {
    const known = {
      404: "This video or its playback session no longer exists.",
      503: "The server is busy right now. Try again in a moment.",
      401: "You are signed out. Sign in again to play.",
      429: "Too many sessions at once.",
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
      headers: { "Content-Type": "application/json", ...csrfHeader },
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
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        hls.startLevel = levelOf(session.profile);  // the rendition the server started
        if (quality.value !== "auto") hls.currentLevel = levelOf(quality.value);
      });
      hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, () => fillMenu(audio, hls.audioTracks, hls.audioTrack));
      hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => fillMenu(subtitles, hls.subtitleTracks, hls.subtitleTrack));
      hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, (_, data) => { audio.value = String(data.id); });
      hls.on(Hls.Events.SUBTITLE_TRACK_SWITCH, (_, data) => { subtitles.value = String(data.id); });
      window.hlsPlayer = hls;  // for whoever inspects the page (tests, the console)
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

  function fillMenu(select, tracks, chosen) {
    const keep = select === subtitles ? [select.options[0]] : [];  // "Off"
    select.replaceChildren(...keep, ...tracks.map((track, index) => {
      const option = new Option(track.name || track.lang || `Track ${index + 1}`, String(index));
      option.selected = index === chosen;
      return option;
    }));
    select.parentElement.hidden = tracks.length === 0;
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
      headers: { "Content-Type": "application/json", ...csrfHeader },
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
      // A beacon sets no header: the CSRF token goes as a form field of its body.
      const body = csrf ? new URLSearchParams({ csrf_token: csrf }) : undefined;
      navigator.sendBeacon(`/api/v1/sessions/${session.id}/stop`, body);
      session = null;
    }
  }

  function profileOf(value) {
    return value === "auto" ? player.dataset.profile : value;
  }

  quality.addEventListener("change", () => {
    if (hls) lockQuality(quality.value === "auto" ? -1 : levelOf(quality.value));
    else start(profileOf(quality.value), video.currentTime);
  });

  // Another rendition than the one on screen: switch now (hls.js flushes its buffer).
  // Auto, or the rendition already loading and shown: lock it for the next segments
  // only; a flush then throws away the segment being appended, and under load hls.js
  // kept re-loading segment 0 and never started the picture.
  function lockQuality(level) {
    const shown = hls.currentLevel;
    const already = level === hls.loadLevel && (shown === -1 || shown === level);
    if (level === -1 || already) hls.loadLevel = level;
    else hls.currentLevel = level;
  }

  audio.addEventListener("change", () => { if (hls) hls.audioTrack = Number(audio.value); });
  subtitles.addEventListener("change", () => {
    if (!hls) return;
    hls.subtitleDisplay = true;
    hls.subtitleTrack = Number(subtitles.value);  // -1: off
  });
  retry.addEventListener("click", () => start(profileOf(quality.value), video.currentTime));
  window.addEventListener("pagehide", stop);
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) start(profileOf(quality.value), video.currentTime);
  });

  start(player.dataset.profile, Number(player.dataset.start) || 0);
})();
