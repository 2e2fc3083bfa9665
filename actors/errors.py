"""The one family of errors hlsd's actors raise; ``web/`` turns each kind into a status.

Each carries a short machine-readable ``code`` and a sentence for people (``detail``).
``Unavailable`` also says how soon the condition may clear (``retry_in`` seconds).
"""
from __future__ import annotations


class HlsError(Exception):
    code = "internal"

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(HlsError):
    """No such media, session, rendition or segment (or one refused as unsafe)."""

    code = "not_found"


class Invalid(HlsError):
    """The request itself is wrong: a bad parameter, an unknown fault."""

    code = "bad_request"


class NotMedia(HlsError):
    """A file FFmpeg cannot read."""

    code = "not_media"


class Unplayable(HlsError):
    """Media FFmpeg reads but hlsd cannot play: ``no_video``, ``no_duration``,
    ``no_keyframes``, ``no_rendition``."""


class Unavailable(HlsError):
    """Worth a retry in ``retry_in`` seconds: busy, restarting, not ready yet."""

    code = "unavailable"

    def __init__(self, detail: str, retry_in: float = 1, code: str | None = None) -> None:
        super().__init__(detail, code)
        self.retry_in = retry_in


class SessionFailed(HlsError):
    """The session's transcoder kept failing beyond its restart intensity."""

    code = "session_failed"


class NotSignedIn(HlsError):
    """No valid sign-in: a wrong name or password, a cookie or key that is not (any
    longer) good, or none at all."""

    code = "unauthorized"


class TooMany(HlsError):
    """Too many at once or too often: sign-in failures, a user's sessions; worth a retry
    in ``retry_in`` seconds."""

    code = "too_many"

    def __init__(self, detail: str, retry_in: float = 1, code: str | None = None) -> None:
        super().__init__(detail, code)
        self.retry_in = retry_in
