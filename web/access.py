"""Who may use the operator endpoints: the holder of ``hls.admin_token`` when one is
set; without a token, any client on loopback (and only there)."""
from __future__ import annotations

import functools
import hmac
import ipaddress
from typing import Any, Callable

from pyramid.request import Request

from pyramid.httpexceptions import HTTPForbidden, HTTPUnauthorized

View = Callable[[Any, Request], Any]


class Unauthorized(HTTPUnauthorized):
    """No bearer token where one is needed (401, with ``WWW-Authenticate``)."""


class Forbidden(HTTPForbidden):
    """The wrong token, or a non-loopback client without one (403)."""


def operator_only(view: View) -> View:
    """A ``view_config(decorator=...)`` that refuses everyone but operators."""
    @functools.wraps(view)
    def guarded(context: Any, request: Request) -> Any:
        authorize(request)
        return view(context, request)

    return guarded


def authorize(request: Request) -> None:
    token = request.registry.hls.settings.admin_token
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Unauthorized("send Authorization: Bearer <hls.admin_token>")
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Forbidden("wrong token")
    elif not is_loopback(request.remote_addr):
        raise Forbidden("without hls.admin_token, operator endpoints answer loopback clients only")


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback
