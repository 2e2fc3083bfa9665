"""The one family of errors hlsd's actors raise; ``web/`` turns each kind into a status.

Each carries a short machine-readable ``code`` and a sentence for people (``detail``),
in the client's terms: never a path, a pid or an exception's text. Where something went
wrong inside, ``logged`` gives the error a ``ref`` and writes the cause to the log under
it, so an operator finds the line the client quotes. ``Unavailable`` also says how soon
the condition may clear (``retry_in`` seconds).

A floor of its own: every layer above the kernel may raise these, ``actors.media`` too.
"""
from __future__ import annotations

import logging
import secrets


class HlsError(Exception):
    code = "internal"

    def __init__(self, detail: str, code: str | None = None, ref: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.ref = ref
        if code is not None:
            self.code = code


def logged(error: HlsError, cause: object, log: logging.Logger,
           level: int = logging.ERROR) -> HlsError:
    """``error`` with a new ``ref``; ``cause`` (what went wrong inside, paths and all) goes
    to ``log`` under that ref, never to the client."""
    error.ref = secrets.token_hex(4)
    log.log(level, "%s [ref %s]: %s", error.detail, error.ref, cause)
    return error


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
