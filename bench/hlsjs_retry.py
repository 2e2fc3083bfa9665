"""How a bench player retries a segment: hls.js 1.7's default ``fragLoadPolicy``, mirrored.

From ``node_modules/hls.js/src/config.ts`` (``fragLoadPolicy.default``) and
``src/utils/error-helper.ts`` (``getRetryDelay``, ``retryForHttpStatus``), hls.js 1.7.4:

- an HTTP error (any status but 4xx) is retried after ``min(2**n * 1 s, 8 s)``, where
  ``n`` counts the fragment's failures so far: 1, 2, 4, 8, 8, 8 s; 6 retries at most;
- no headers within ``maxTimeToFirstByteMs`` (10 s) is a timeout, retried at once, 4 at
  most; timeouts and errors share the count ``n``;
- a 4xx is not retried; ``Retry-After`` is not read (hls.js reads it only for content
  steering).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.common import Client, Reply

FIRST_BYTE_TIMEOUT = 10.0  # maxTimeToFirstByteMs


@dataclass(frozen=True)
class RetryConfig:
    """One of hls.js's ``RetryConfig`` values (exponential backoff, its default)."""

    max_retries: int  # maxNumRetry
    delay: float  # retryDelayMs, in seconds
    max_delay: float  # maxRetryDelayMs, in seconds

    def delay_after(self, failures: int) -> float:
        """The wait before the retry that follows ``failures`` failures (counted from 0)."""
        return min(2 ** failures * self.delay, self.max_delay)


ERROR_RETRY = RetryConfig(max_retries=6, delay=1.0, max_delay=8.0)
TIMEOUT_RETRY = RetryConfig(max_retries=4, delay=0.0, max_delay=0.0)
POLICY = "hls.js 1.7 default fragLoadPolicy (retries after 1, 2, 4, 8, 8, 8 s; Retry-After not read)"


def retried(status: int) -> bool:
    """hls.js's ``retryForHttpStatus``: everything but a 4xx."""
    return not 400 <= status <= 499


class GaveUp(RuntimeError):
    """hls.js would stop retrying here (and switch level, or report a fatal error)."""


def next_delay(failures: int, reply: Reply | None) -> float:
    """The wait before retrying after failure number ``failures`` (0 first): ``reply`` is
    the failed answer, None for a timeout. Raises ``GaveUp`` where hls.js gives up."""
    if reply is not None and not retried(reply.status):
        raise GaveUp(f"HTTP {reply.status} is not retried: {reply.body[:200]!r}")
    config = TIMEOUT_RETRY if reply is None else ERROR_RETRY
    if failures >= config.max_retries:
        what = "no headers within the first-byte timeout" if reply is None else f"HTTP {reply.status}"
        raise GaveUp(f"{what} after {failures} retries")
    return config.delay_after(failures)


def player(port: int) -> Client:
    """A keep-alive connection whose wait for an answer's first bytes is hls.js's."""
    return Client(port, timeout=FIRST_BYTE_TIMEOUT)
