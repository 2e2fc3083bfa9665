"""Errors that reach a client: each carries its HTTP status, a short code and a detail."""
from __future__ import annotations


class HlsError(Exception):
    status = 500
    error = "internal"

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class NotFound(HlsError):
    status, error = 404, "not_found"


class BadRequest(HlsError):
    status, error = 400, "bad_request"


class Unavailable(HlsError):
    """Worth a retry after ``retry_after`` seconds (503 with Retry-After)."""

    status, error = 503, "unavailable"


class SessionFailed(HlsError):
    """The session's transcoder kept failing beyond its restart intensity."""

    status, error = 502, "session_failed"
