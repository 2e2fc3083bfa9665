"""Every error as ``{"error", "detail"}`` JSON with its status (an HTML page where a
browser navigates: GET of a page route); never a traceback."""
from __future__ import annotations

import logging

from pyramid.exceptions import PredicateMismatch
from pyramid.httpexceptions import HTTPException
from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import exception_view_config, notfound_view_config

from actors.errors import HlsError
from actors.media import MediaError
from web.routes import PAGE_ROUTES

log = logging.getLogger(__name__)


@exception_view_config(HlsError)
@exception_view_config(MediaError)
def refused(error: HlsError | MediaError, request: Request) -> Response:
    """What hlsd refused on purpose, with its own status and detail."""
    return error_response(request, error.status, error.error, error.detail,
                          getattr(error, "retry_after", None))


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


@exception_view_config(HTTPException)
def http_error(error: HTTPException, request: Request) -> Response:
    """Any other HTTP error Pyramid or WebOb raises."""
    return error_response(request, error.code, error.title.lower().replace(" ", "_"), error.explanation)


@exception_view_config(Exception)
def internal_error(error: Exception, request: Request) -> Response:
    """A bug: logged with its traceback, answered without it."""
    log.exception("%s %s failed", request.method, request.path_qs)
    return error_response(request, 500, "internal", "internal server error")


def error_response(request: Request, status: int, error: str, detail: str,
                   retry_after: int | None = None) -> Response:
    route = request.matched_route
    if route is not None and route.name in PAGE_ROUTES and request.method in ("GET", "HEAD"):
        response = render_to_response("web:templates/error.jinja2",
                                      {"status": status, "error": error, "detail": detail}, request)
    else:
        response = Response(json_body={"error": error, "detail": detail})
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="hlsd"'
    return response


def allowed_methods(request: Request) -> list[str]:
    """The methods that the matched route's views accept (HEAD with GET)."""
    introspector = request.registry.introspector
    route = introspector.get("routes", request.matched_route.name)
    methods: set[str] = set()
    for view in introspector.related(route):
        declared = view["request_methods"] or ()
        methods.update((declared,) if isinstance(declared, str) else declared)
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))
