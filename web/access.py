"""Who may use the operator endpoints: the holder of ``hls.admin_token`` when one is
set; without a token, any client on loopback (and only there). With accounts, an admin
user too (``web.security``); loopback alone is then no one's key."""
from __future__ import annotations

import hmac
import ipaddress

from pyramid.httpexceptions import HTTPException, HTTPForbidden, HTTPUnauthorized
from pyramid.request import Request


class Unauthorized(HTTPUnauthorized):
    """No bearer token where one is needed (401, with ``WWW-Authenticate``)."""


class Forbidden(HTTPForbidden):
    """The wrong token, or a non-loopback client without one (403)."""


def operator_refusal(request: Request) -> HTTPException | None:
    """None for an operator; else the refusal to answer with."""
    token = request.registry.hls.settings.admin_token
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return Unauthorized("send Authorization: Bearer <hls.admin_token>")
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            return Forbidden("wrong token")
        return None
    if request.registry.hls.accounts is not None:
        return Unauthorized("sign in as an admin, or send Authorization: Bearer <api key>")
    if not is_loopback(request.remote_addr):
        return Forbidden("without hls.admin_token, operator endpoints answer loopback clients only")
    return None


def bearer_token(request: Request) -> str:
    """The ``Authorization: Bearer`` value, or ""."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback
