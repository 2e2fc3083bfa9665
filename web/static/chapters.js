/* The player page's chapters and its seek bar: the seek bar under the video (the part
 * played filled in, a click seeks there; thumbnails.js shows thumbnails over it) with a
 * mark at each chapter's start, and a Chapters menu beside Quality,
 * Audio and Subtitles (a <select>: keyboard-usable like them). Choosing a chapter, or
 * clicking or pressing Enter on its mark, seeks to its start; the menu follows the
 * chapter being played. Chapters come from the session JSON (SPEC "Trick play and
 * chapters": [{"title", "start", "end"}] in seconds), which player.js hands to
 * ``hlsdChapters.show(chapters, duration)`` once the session is open.
 *
 * The pure parts (``markPositions``, ``chapterAt``) are on ``window.hlsdChapters`` so
 * that tests can call them in the page.
 */
(() => {
  "use strict";

  const video = document.getElementById("video");
  const menu = document.getElementById("chapters");
  const bar = document.getElementById("seek-bar");
  const played = document.getElementById("seek-played");
  let chapters = [];
  let duration = 0;

  // Where each chapter's mark sits on a bar, as a percentage of its width.
  function markPositions(list, total) {
    if (!(total > 0)) return list.map(() => 0);
    return list.map((chapter) => Math.min(100, Math.max(0, (100 * chapter.start) / total)));
  }

  // The index of the chapter playing at ``time`` (the last one begun), or -1 before all.
  function chapterAt(list, time) {
    let found = -1;
    list.forEach((chapter, index) => { if (chapter.start <= time + 1e-3) found = index; });
    return found;
  }

  function clock(seconds) {
    const whole = Math.floor(seconds);
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = String(whole % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  function seek(time) {
    video.currentTime = time;
    if (video.paused) video.play().catch(() => { /* autoplay refused: the controls are there */ });
  }

  function fillMenu() {
    menu.replaceChildren(...chapters.map((chapter, index) =>
      new Option(`${clock(chapter.start)} ${chapter.title}`, String(index))));
    menu.parentElement.hidden = chapters.length === 0;
  }

  function fillBar() {
    const positions = markPositions(chapters, duration);
    bar.querySelectorAll(".chapter-mark").forEach((mark) => mark.remove());
    chapters.forEach((chapter, index) => {
      const mark = document.createElement("button");
      mark.type = "button";
      mark.className = "chapter-mark";
      mark.style.left = `${positions[index]}%`;
      mark.title = `${chapter.title} (${clock(chapter.start)})`;
      mark.setAttribute("aria-label", `Chapter: ${mark.title}`);
      mark.dataset.index = String(index);
      mark.addEventListener("click", (event) => {
        event.stopPropagation();
        seek(chapter.start);
      });
      bar.append(mark);
    });
    reveal();
  }

  // Shown when it has chapter marks or thumbnails (thumbnails.js sets data-thumbnails).
  function reveal() {
    bar.hidden = chapters.length === 0 && bar.dataset.thumbnails !== "yes";
  }

  function follow() {
    if (!chapters.length) return;
    const current = chapterAt(chapters, video.currentTime);
    if (current >= 0 && menu.value !== String(current) && document.activeElement !== menu) {
      menu.value = String(current);
    }
    if (duration > 0) played.style.width = `${Math.min(100, (100 * video.currentTime) / duration)}%`;
  }

  function show(list, total) {
    chapters = (list || []).slice().sort((a, b) => a.start - b.start);
    duration = Number(total) || 0;
    fillMenu();
    fillBar();
    follow();
  }

  menu.addEventListener("change", () => {
    const chapter = chapters[Number(menu.value)];
    if (chapter) seek(chapter.start);
  });
  // A click on the bar between marks seeks to that point, as a seek bar does.
  bar.addEventListener("click", (event) => {
    const box = bar.getBoundingClientRect();
    if (duration > 0 && box.width > 0) seek(((event.clientX - box.left) / box.width) * duration);
  });
  video.addEventListener("timeupdate", follow);

  window.hlsdChapters = { show, reveal, markPositions, chapterAt };
})();
