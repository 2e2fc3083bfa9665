"""Every error as ``{"error", "detail"}`` JSON with its status (an HTML page where a
browser navigates: GET of a page route); never a traceback."""
from __future__ import annotations

import logging
import math
import secrets
from urllib.parse import unquote_to_bytes

from pyramid.exceptions import PredicateMismatch, URLDecodeError
from pyramid.httpexceptions import HTTPException
from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import exception_view_config, notfound_view_config

from actors.errors import (HlsError, Invalid, NotFound, NotMedia, NotSignedIn, SessionFailed,
                           TooMany, Unavailable, Unplayable)
from web.routes import PAGE_ROUTES

PAGE_PREFIXES = ("/watch/",)  # of the page routes other than "/", for paths no route matched

log = logging.getLogger(__name__)

# Each kind of domain error, as HTTP says it (the first class an error is an instance of).
STATUSES: tuple[tuple[type[HlsError], int], ...] = (
    (NotFound, 404), (Invalid, 400), (NotMedia, 415), (Unplayable, 422),
    (Unavailable, 503), (SessionFailed, 502), (NotSignedIn, 401), (TooMany, 429),
)


@exception_view_config(HlsError)
def refused(error: HlsError, request: Request) -> Response:
    """What hlsd refused on purpose: the status of its kind, its code and detail, and
    ``Retry-After`` when it may clear."""
    return error_response(request, status_of(error), error.code, error.detail, retry_after(error),
                          ref=error.ref)


def status_of(error: HlsError) -> int:
    return next((status for kind, status in STATUSES if isinstance(error, kind)), 500)


def retry_after(error: HlsError) -> int | None:
    """``Retry-After`` in whole seconds, for errors that may clear."""
    retry_in = getattr(error, "retry_in", None)
    return None if retry_in is None else max(1, math.ceil(retry_in))


@notfound_view_config()
def not_found(request: Request) -> Response:
    """No route matches: also a malformed session id or segment number."""
    return error_response(request, 404, "not_found", f"nothing at {request.path}")


@exception_view_config(PredicateMismatch)
def method_not_allowed(request: Request) -> Response:
    """The route exists but not for this method: 405 with ``Allow``."""
    allowed = allowed_methods(request)
    response = error_response(request, 405, "method_not_allowed",
                              f"{request.method} is not allowed here; use {', '.join(allowed)}")
    response.headers["Allow"] = ", ".join(allowed)
    return response


@exception_view_config(URLDecodeError)
def undecodable_path(error: URLDecodeError, request: Request) -> Response:
    """A path whose percent-escapes are not UTF-8 (``/%ff``): Pyramid raises this while
    matching routes, so no route matched; the page routes' prefixes pick the HTML page.
    Nothing here may touch ``request.path``: it would decode, and raise, again."""
    path = raw_path(request)
    page = path == "/" or path.startswith(PAGE_PREFIXES)
    return error_response(request, 400, "bad_request", f"the path {path} is not UTF-8", page=page)


@exception_view_config(UnicodeDecodeError)
def undecodable_query(error: UnicodeDecodeError, request: Request) -> Response:
    """A view read a query value whose escapes are not UTF-8 (``?start=%ff``): the client's
    fault, so a 400. Any other UnicodeDecodeError is a bug, and answered as one."""
    if query_is_utf8(request):
        return internal_error(error, request)
    return error_response(request, 400, "bad_request", "the query string is not UTF-8")


def query_is_utf8(request: Request) -> bool:
    raw = request.environ.get("QUERY_STRING", "").encode("latin-1", "replace").replace(b"+", b" ")
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@exception_view_config(HTTPException)
def http_error(error: HTTPException, request: Request) -> Response:
    """Any other HTTP error Pyramid or WebOb raises (and web.access's refusals)."""
    return error_response(request, error.code, error.title.lower().replace(" ", "_"),
                          error.detail or error.explanation)


@exception_view_config(Exception)
def internal_error(error: Exception, request: Request) -> Response:
    """A bug: logged with its traceback under a ref, answered with the ref only."""
    ref = secrets.token_hex(4)
    log.exception("%s %s?%s failed [ref %s]", request.method, raw_path(request),
                  request.environ.get("QUERY_STRING", ""), ref)
    return error_response(request, 500, "internal", "internal server error", ref=ref)


def error_response(request: Request, status: int, error: str, detail: str,
                   retry_after: int | None = None, page: bool | None = None,
                   ref: str | None = None) -> Response:
    """``page``: the HTML page or JSON; by default, as the matched route says. ``ref``
    names the log line of an error that went wrong inside."""
    if page is None:
        route = request.matched_route
        page = route is not None and route.name in PAGE_ROUTES
    if page and request.method in ("GET", "HEAD"):
        response = render_to_response("web:templates/error.jinja2", {
            "status": status, "error": error, "detail": detail, "ref": ref}, request)
    else:
        body = {"error": error, "detail": detail, **({"ref": ref} if ref else {})}
        response = Response(json_body=body)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="hlsd"'
    return response


def raw_path(request: Request) -> str:
    """The path as the client sent it, for messages and logs; never raises, whatever its
    bytes (undecodable ones are shown as ``\\xff``)."""
    sent = request.environ.get("SCRIPT_NAME", "") + request.environ.get("PATH_INFO", "")
    return sent.encode("latin-1", "backslashreplace").decode("utf-8", "backslashreplace")


def allowed_methods(request: Request) -> list[str]:
    """The methods that the matched route's views accept (HEAD with GET)."""
    introspector = request.registry.introspector
    route = introspector.get("routes", request.matched_route.name)
    methods: set[str] = set()
    for view in introspector.related(route):
        declared = view["request_methods"] or ()
        methods.update((declared,) if isinstance(declared, str) else declared)
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))
