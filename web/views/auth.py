"""Signing in and out (SPEC "Accounts"): the login page and form, ``POST /api/v1/login``
for scripts and pages, ``POST /logout``; what a refused request is answered (a page
redirects to the login, the rest is 401 JSON); pages that say nothing once signed out."""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from pyramid.csrf import get_csrf_token, new_csrf_token
from pyramid.events import BeforeRender, NewResponse, subscriber
from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken
from pyramid.httpexceptions import HTTPForbidden, HTTPRequestEntityTooLarge, HTTPSeeOther
from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED, forget, remember
from pyramid.view import exception_view_config, forbidden_view_config, view_config

from actors.accounts import User
from actors.errors import HlsError, Invalid, NotSignedIn
from web import params
from web.access import operator_refusal
from web.routes import PAGE_ROUTES
from web.security import NeedsSignIn, viewer
from web.views.errors import error_response, retry_after, status_of

MAX_LOGIN_BODY = 16 * 1024  # a name and a password of MAX_PASSWORD_CHARS fit well within
OPEN_ROUTES = frozenset({"login", "api_login", "logout", "healthz"})

log = logging.getLogger(__name__)


@view_config(route_name="login", request_method="GET", permission=NO_PERMISSION_REQUIRED,
             renderer="web:templates/login.jinja2")
def login_page(request: Request) -> dict[str, Any] | Response:
    """The form; a user signed in already goes on to ``next``."""
    target = safe_next(request.GET.get("next"))
    if request.registry.hls.accounts is None or viewer(request) is not None:
        return HTTPSeeOther(location=target)
    return {"next": target, "message": "", "name": ""}


@view_config(route_name="login", request_method="POST", permission=NO_PERMISSION_REQUIRED,
             require_csrf=False)
def login_form(request: Request) -> Response:
    """The form's answer: on to ``next`` signed in, or the form again with the reason."""
    check_body_size(request)
    target = safe_next(request.POST.get("next"))
    name = request.POST.get("name", "")
    try:
        user = sign_in(request, name, request.POST.get("password", ""))
    except HlsError as error:
        values = {"next": target, "name": name if len(name) <= 64 else "",
                  "message": login_message(error)}
        response = render_to_response("web:templates/login.jinja2", values, request)
        response.status_code = status_of(error)
        if (seconds := retry_after(error)) is not None:
            response.headers["Retry-After"] = str(seconds)
        return response
    return HTTPSeeOther(location=target, headers=signed_in(request, user))


@view_config(route_name="api_login", request_method="POST", permission=NO_PERMISSION_REQUIRED,
             require_csrf=False, renderer="json")
def login_json(request: Request) -> dict[str, Any]:
    """``{"name", "password"}`` -> ``{"name", "role", "csrf"}`` and the session cookie."""
    check_body_size(request)
    body = params.json_body(request)
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise Invalid("name and password must be strings")
    user = sign_in(request, name, password)
    request.response.headerlist.extend(signed_in(request, user))
    return {"name": user.name, "role": user.role, "csrf": get_csrf_token(request)}


@view_config(route_name="logout", request_method="POST", permission=NO_PERMISSION_REQUIRED)
def logout(request: Request) -> Response:
    """Ends this sign-in (its cookie is good nowhere after), then the login page."""
    store = request.registry.hls.accounts
    remembered = request.session.get("auth.userid") if store is not None else None
    if isinstance(remembered, list) and len(remembered) == 2 and isinstance(remembered[1], str):
        store.close_login(remembered[1])
        log.info("%s signed out from %s", remembered[0], request.remote_addr)
    headers = forget(request) if store is not None else []
    if store is not None:
        request.session.invalidate()
    return HTTPSeeOther(location=request.route_path("login"), headers=headers)


def sign_in(request: Request, name: str, password: str) -> User:
    """The user, or the store's refusal; the log names the address and the name only."""
    check_body_size(request)
    store = request.registry.hls.accounts
    if store is None:
        raise Invalid("hlsd runs without accounts (hls.auth = none)")
    address = request.remote_addr or "?"
    try:
        user = store.sign_in(name, password, address)
    except HlsError as error:
        log.warning("sign-in refused for %r from %s: %s", name[:64], address, error.code)
        raise
    log.info("%s signed in from %s", user.name, address)
    return user


def signed_in(request: Request, user: User) -> list[tuple[str, str]]:
    """A fresh session (no fixation), a new CSRF token, and the cookie's headers."""
    request.session.invalidate()
    sid = request.registry.hls.accounts.open_login(user)
    headers = remember(request, [user.name, sid])
    new_csrf_token(request)
    return headers


def check_body_size(request: Request) -> None:
    if (request.content_length or 0) > MAX_LOGIN_BODY:
        raise HTTPRequestEntityTooLarge(f"a sign-in is at most {MAX_LOGIN_BODY} bytes")


def login_message(error: HlsError) -> str:
    if isinstance(error, NotSignedIn):
        return "Wrong name or password."
    if status_of(error) == 429:
        minutes = max(1, round((retry_after(error) or 60) / 60))
        return f"Too many failed attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}."
    return error.detail


def safe_next(value: Any) -> str:
    """``?next=`` only to a path of this site: anything else is the library."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


@forbidden_view_config()
def refused(error: HTTPForbidden, request: Request) -> Response:
    """Denied by the security policy: a page redirects to the login, an API call is 401
    without an identity; an operator route says what it takes."""
    if isinstance(error.result, NeedsSignIn):
        route = request.matched_route
        if route is not None and route.name in PAGE_ROUTES and request.method in ("GET", "HEAD"):
            target = request.path_qs if request.path_qs.isascii() else request.path
            return HTTPSeeOther(location=request.route_path("login", _query={"next": target}))
        return error_response(request, 401, "unauthorized", "sign in first", page=False)
    if viewer(request) is not None:
        return error_response(request, 403, "forbidden", "operators only")
    refusal = operator_refusal(request) or HTTPForbidden("operators only")
    return error_response(request, refusal.code, refusal.title.lower().replace(" ", "_"),
                          refusal.detail or refusal.explanation)


@exception_view_config(BadCSRFToken)
@exception_view_config(BadCSRFOrigin)
def bad_csrf(error: Exception, request: Request) -> Response:
    return error_response(request, 403, "csrf", "missing or wrong CSRF token (X-CSRF-Token)")


@subscriber(BeforeRender)
def account_helpers(event: BeforeRender) -> None:
    """Every page shows who is signed in; the pages' scripts send the CSRF token."""
    request = event.get("request")
    user = viewer(request) if request is not None and request.registry.hls.accounts else None
    event["account"] = user.name if user is not None else ""
    event["csrf"] = get_csrf_token(request) if user is not None else ""


@subscriber(NewResponse)
def private_pages(event: NewResponse) -> None:
    """With accounts, the pages and JSON a user sees are kept by no cache, so after
    signing out the back button shows nothing; playlists, segments, posters and static
    files keep their own caching."""
    if event.request.registry.hls.accounts is None:
        return
    if event.response.content_type in ("text/html", "application/json"):
        event.response.headers["Cache-Control"] = "no-store"
