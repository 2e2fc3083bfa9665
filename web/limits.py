"""Bounds on what requests may hold, so waiting clients never starve the server."""
from __future__ import annotations

import configparser
import logging
import threading
from types import TracebackType
from typing import Any

from actors.errors import Unavailable
from actors.settings import Settings

RETRY_AFTER = 1
WAITRESS = "egg:waitress#main"
log = logging.getLogger(__name__)


class WaitLimit:
    """At most ``size`` requests inside ``with`` at once; one more gets 503 at once.

    Segment requests that FFmpeg has not answered yet may wait up to
    ``hls.segment_wait`` s each in a waitress thread; refusing beyond the limit (rather
    than queueing) keeps threads free for playlists, pages, ready segments and operators.
    The limit is ``Settings.waiting_limit`` (by default two per session of
    ``hls.max_sessions``: a crowd of players all waiting for their first segment is not
    refused), and waitress needs ``Settings.server_threads`` threads for it.
    """

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(size)

    def __enter__(self) -> None:
        if not self._slots.acquire(blocking=False):
            raise Unavailable("too many requests are waiting for segments", retry_in=RETRY_AFTER)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._slots.release()


def warn_if_threads_are_short(global_config: dict[str, Any], settings: Settings) -> None:
    """Log a warning for each waitress section of the ini that started this app whose
    ``threads`` cannot hold every waiting request and the spare ones: a crowd would then
    queue its playlists behind the waits."""
    ini = global_config.get("__file__")
    if not ini:
        return
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini)
    for section in parser.sections():
        server = parser[section]
        if section.startswith("server:") and server.get("use") == WAITRESS:
            threads = int(server.get("threads", "4"))  # waitress's own default
            if threads < settings.server_threads:
                log.warning("[%s] threads = %d is below %d: %d segment requests may wait at once "
                            "(hls.max_waiting), and playlists need threads besides", section,
                            threads, settings.server_threads, settings.waiting_limit)
