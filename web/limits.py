"""Bounds on what requests may hold, so waiting clients never starve the server."""
from __future__ import annotations

import threading
from types import TracebackType

from actors.errors import Unavailable

RETRY_AFTER = 1


class WaitLimit:
    """At most ``size`` requests inside ``with`` at once; one more gets 503 at once.

    Segment requests that FFmpeg has not answered yet may wait up to
    ``hls.segment_wait`` s each in a waitress thread; refusing beyond the limit (rather
    than queueing) keeps threads free for playlists, pages, ready segments and operators.
    """

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(size)

    def __enter__(self) -> None:
        if not self._slots.acquire(blocking=False):
            raise Unavailable("too many requests are waiting for segments", retry_in=RETRY_AFTER)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._slots.release()
