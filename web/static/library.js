/* The library page's scan progress bar: polls GET /api/v1/scan while a scan runs and
 * reloads the page once it has finished, so that newly indexed files appear. */
(() => {
  "use strict";

  const POLL_MS = 1000;
  const box = document.getElementById("scan");
  const bar = document.getElementById("scan-bar");
  const text = document.getElementById("scan-text");
  let wasRunning = !box.hidden;

  async function poll() {
    try {
      const response = await fetch(box.dataset.url, { cache: "no-store" });
      if (response.ok) {
        const progress = await response.json();
        box.hidden = !progress.running;
        const thumbs = progress.thumbnails || { total: 0 };
        const indexing = progress.done < progress.total;
        bar.value = indexing || !thumbs.total ? progress.fraction : thumbs.fraction;
        text.textContent = indexing || !thumbs.total
          ? `Indexing ${progress.done}/${progress.total} files`
          : `Making thumbnails ${thumbs.done}/${thumbs.total} files (${Math.round(100 * thumbs.fraction)}%)`;
        if (wasRunning && !progress.running) {
          window.location.reload();
          return;
        }
        wasRunning = progress.running;
      }
    } catch (_) { /* offline for a moment: the next poll will tell */ }
    setTimeout(poll, wasRunning ? POLL_MS : POLL_MS * 10);
  }

  setTimeout(poll, POLL_MS);
})();
