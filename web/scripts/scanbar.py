"""``hlsctl scan``: start a library scan and follow it with a terminal progress bar (tqdm).

``follow(fetch, before, deadline, ...)`` polls ``fetch()`` (hlsd's ``GET /api/v1/scan``)
until the pass that the request started - or the one already under way when it was
made (``before``) - has finished, or ``deadline`` (monotonic) passes. The bar counts
bytes, so one large film weighs what it costs; the current file is its postfix, and once
the thumbnails (trick play) are being made, their share of the film seconds done.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable

from tqdm import tqdm

POLL_SECONDS = 0.25
tqdm.monitor_interval = 0  # no monitor thread: the bar is redrawn at every poll anyway


def finished(progress: dict[str, Any], before: dict[str, Any]) -> bool:
    """The pass asked for is over: a newer one finished, or the one running before did."""
    if progress["running"]:
        return False
    return progress["pass"] > before["pass"] or bool(before["running"])


def follow(fetch: Callable[[], dict[str, Any]], before: dict[str, Any], deadline: float,
           *, show: bool = True) -> dict[str, Any]:
    """The last progress seen; raises ``TimeoutError`` at ``deadline``."""
    bar = tqdm(total=max(before.get("bytes_total", 0), 1), unit="B", unit_scale=True,
               desc="scan", file=sys.stderr, disable=not show, dynamic_ncols=True)
    try:
        while True:
            progress = fetch()
            if progress["pass"] > before["pass"] or before["running"]:
                bar.total = max(progress["bytes_total"], 1)
                bar.n = progress["bytes_done"]
                bar.set_postfix_str(_postfix(progress), refresh=False)
                bar.refresh()
            if finished(progress, before):
                return progress
            if time.monotonic() > deadline:
                raise TimeoutError("the scan did not finish in time")
            time.sleep(POLL_SECONDS)
    finally:
        bar.close()


def _postfix(progress: dict[str, Any]) -> str:
    text = f"{progress['done']}/{progress['total']} files"
    thumbnails = progress.get("thumbnails") or {}
    if thumbnails.get("total"):
        text += (f", thumbnails {thumbnails['done']}/{thumbnails['total']}"
                 f" ({100 * thumbnails['fraction']:.0f}%)")
    current = thumbnails.get("current") or progress["current"]
    return text + (f"  {current}" if current else "")
