/* hlsd's player page: one playback session per page view.
 *
 * Opens a session (POST /api/v1/sessions), plays its master playlist with hls.js in
 * automatic quality (every rendition is cut on one grid, so hls.js may switch at any
 * segment; the server bounds how often a switch restarts FFmpeg); the Quality menu locks
 * one rendition or goes back to Auto. The Audio and Subtitles menus list the master's
 * alternate renditions by name. Sends a heartbeat every 10 s, and stops the session with
 * a beacon when the page goes away.
 *
 * The Quality menu lists the levels hls.js kept (it drops those its MediaSource cannot
 * play), the `copy` rendition as "Original": the source as it is. Where the master has
 * a passthrough level (video not H.264: HEVC, AV1, VP9 copied from the source) that
 * this browser's MediaSource plays, playback starts on it (ABR may still move). The
 * session's chapters go to chapters.js (``window.hlsdChapters``).
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
  // The renditions that are the source as it is (``copy``), named "Original".
  const originals = (player.dataset.original || "").split(" ").filter(Boolean);
  const PASSTHROUGH = /^(hvc1|hev1|av01|vp09)\./;
  const AUDIO_CODEC = /^(mp4a|ac-3|ec-3|opus|flac|mp3)/;

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
      player.dispatchEvent(new CustomEvent("hlsd:session", { detail: session }));
    } catch (error) {
      showError(error.message || "Could not reach the server.");
      return;
    }
    if (window.hlsdChapters) hlsdChapters.show(session.chapters, Number(player.dataset.duration));
    attach(position);
    heartbeat = setInterval(beat, HEARTBEAT_MS);
  }

  function attach(position) {
    if (window.Hls && Hls.isSupported()) {
      mediaRecoveries = 0;
      hls = new Hls({ ...HLS_CONFIG, startPosition: position });
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        fillQuality(hls.levels);
        const passthrough = passthroughLevel(hls.levels, mediaSourcePlays);
        // The rendition the server started, or the source as it is where this browser plays it.
        hls.startLevel = passthrough >= 0 ? passthrough : levelOf(session.profile);
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

  // The video codec of an hls.js level (its CODECS attribute without the audio ones).
  function videoCodecOf(level) {
    if (level.videoCodec) return level.videoCodec;
    const codecs = String((level.attrs && level.attrs.CODECS) || level.codecs || "");
    return codecs.split(",").map((c) => c.trim()).find((c) => c && !AUDIO_CODEC.test(c)) || "";
  }

  // The level to start on: of the passthrough levels (not avc1) that ``plays`` (a
  // MediaSource.isTypeSupported) accepts, the one of highest bandwidth; -1 when none.
  function passthroughLevel(levels, plays) {
    let best = -1;
    levels.forEach((level, index) => {
      const codec = videoCodecOf(level);
      if (!PASSTHROUGH.test(codec) || !plays(`video/mp4; codecs="${codec}"`)) return;
      if (best < 0 || (level.bitrate || 0) > (levels[best].bitrate || 0)) best = index;
    });
    return best;
  }

  function mediaSourcePlays(type) {
    const source = window.ManagedMediaSource || window.MediaSource;
    return Boolean(source && source.isTypeSupported(type));
  }

  // The rendition (profile name) a level plays: its URI is .../{profile}/index.m3u8.
  function profileOfLevel(level) {
    const match = /\/([^/]+)\/index\.m3u8(?:[?#].*)?$/.exec(String([].concat(level.url)[0]));
    return match ? decodeURIComponent(match[1]) : "";
  }

  // What the Quality menu calls a level: "Original" for the source as it is (copy).
  function qualityLabel(level, copies) {
    const profile = profileOfLevel(level);
    if (copies.includes(profile)) return "Original";
    return profile || (level.height ? `${level.height}p` : "Video");
  }

  // Auto, then every level hls.js kept, highest first; the current choice stays chosen.
  function fillQuality(levels) {
    const chosen = quality.value;
    const options = levels.map((level) => ({ level, profile: profileOfLevel(level) }))
      .filter((entry) => entry.profile)
      .sort((a, b) => (b.level.bitrate || 0) - (a.level.bitrate || 0))
      .map((entry) => new Option(qualityLabel(entry.level, originals), entry.profile));
    if (!options.length) return;  // keep the page's list
    quality.replaceChildren(new Option("Auto", "auto"), ...options);
    quality.value = options.some((option) => option.value === chosen) ? chosen : "auto";
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

  // For tests and the console: the pure parts of the Quality menu.
  window.hlsdQuality = { passthroughLevel, qualityLabel, videoCodecOf, profileOfLevel };

  start(player.dataset.profile, Number(player.dataset.start) || 0);
})();
