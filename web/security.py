"""Who is asking, and what they may do: Pyramid's security policy, session cookie and
CSRF check for hlsd (SPEC "Accounts").

Permissions: ``VIEW`` (the library, pages, ``/media``, the session API) and ``OPERATE``
(tree, faults, metrics, starting a scan); a view without either is open (``/healthz``,
the login, static files, ``/hls/{token}/...``, whose signed token is the capability).

- ``hls.auth = none``: everyone may ``VIEW``; ``OPERATE`` as ``web.access`` has always
  said (the admin token, or loopback without one). No cookie, no CSRF check.
- ``hls.auth = accounts``: the identity is a user (``actors.accounts.User``) from the
  signed session cookie (whose sign-in is still open in the users file) or from an API
  key (``Authorization: Bearer``), or ``OPERATOR``, the holder of ``hls.admin_token``.
  ``VIEW`` takes any identity, ``OPERATE`` an admin user or the operator. A request that
  changes state and is authenticated by the cookie carries the CSRF token.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pyramid.authentication import SessionAuthenticationHelper
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import Allowed, Denied
from pyramid.session import SignedCookieSessionFactory

from actors.accounts import User
from web.access import bearer_token, operator_refusal

VIEW = "view"
OPERATE = "operate"
COOKIE = "hlsd"
COOKIE_MAX_AGE = 30 * 24 * 3600  # a sign-in lasts 30 days of no use...
REISSUE_TIME = 3600  # ...renewed at most once an hour of use
AUTHENTICATED_BY = "hlsd.authenticated_by"  # environ key: "cookie" once the cookie vouched


class Operator:
    """The holder of ``hls.admin_token`` (without accounts: also a loopback client when
    no token is set): every file and session, and the operator routes."""

    name = "operator"

    def __repr__(self) -> str:
        return "OPERATOR"


OPERATOR = Operator()


class NeedsSignIn(Denied):
    """Denied for want of an identity: a page redirects to the login, the rest is 401."""


class NeedsOperator(Denied):
    """Denied an operator route."""


class HlsSecurityPolicy:
    """``config.set_security_policy``: identities as the module docstring says."""

    def __init__(self) -> None:
        self.helper = SessionAuthenticationHelper()

    def identity(self, request: Request) -> User | Operator | None:
        system = request.registry.hls
        if system.accounts is None:
            return OPERATOR if operator_refusal(request) is None else None
        given, token = bearer_token(request), system.settings.admin_token
        if given and token and hmac.compare_digest(given.encode(), token.encode()):
            return OPERATOR
        if given:
            return system.accounts.by_key(given)
        return self._cookie_user(request)

    def _cookie_user(self, request: Request) -> User | None:
        remembered = self.helper.authenticated_userid(request)
        if not (isinstance(remembered, list) and len(remembered) == 2
                and all(isinstance(part, str) for part in remembered)):
            return None
        name, sid = remembered
        user = request.registry.hls.accounts.login_user(sid, name)
        if user is None:
            self.helper.forget(request)  # signed out, removed or password changed
            return None
        request.environ[AUTHENTICATED_BY] = "cookie"
        return user

    def authenticated_userid(self, request: Request) -> str | None:
        identity = request.identity
        return None if identity is None else identity.name

    def permits(self, request: Request, context: Any, permission: str) -> Allowed | Denied:
        identity = request.identity
        if permission == OPERATE:
            if identity is OPERATOR or (isinstance(identity, User) and identity.is_admin):
                return Allowed("operator")
            return NeedsOperator("operators only")
        if identity is not None or request.registry.hls.accounts is None:
            return Allowed("signed in, or no accounts")
        return NeedsSignIn("sign in first")

    def remember(self, request: Request, userid: Any, **kw: Any) -> list[tuple[str, str]]:
        return self.helper.remember(request, userid)

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        return self.helper.forget(request)


def viewer(request: Request) -> User | None:
    """The user a request acts for, as ``HlsSystem`` takes it: None for no accounts and
    for the operator (every file, every session)."""
    identity = request.identity
    return identity if isinstance(identity, User) else None


def cookie_authenticated(request: Request) -> bool:
    """Pyramid's CSRF check applies to requests the cookie vouches for: not to an API
    key, not to the admin token, never without accounts."""
    return (request.registry.hls.accounts is not None and isinstance(request.identity, User)
            and request.environ.get(AUTHENTICATED_BY) == "cookie")


class SessionFactories:
    """Pyramid's signed cookie session, ``Secure`` when the request came over https
    (waitress takes the scheme from the trusted proxy's ``X-Forwarded-Proto`` only).
    The secret is the system's, resolved once when it was made."""

    def __init__(self) -> None:
        self._made: dict[bool, Any] = {}

    def __call__(self, request: Request) -> Any:
        secure = request.scheme == "https"
        factory = self._made.get(secure)
        if factory is None:
            factory = SignedCookieSessionFactory(
                cookie_secret(request.registry.hls.secret), cookie_name=COOKIE, secure=secure,
                httponly=True, samesite="Lax", max_age=COOKIE_MAX_AGE, timeout=COOKIE_MAX_AGE,
                reissue_time=REISSUE_TIME, salt="hlsd.session.")
            self._made[secure] = factory
        return factory(request)


def cookie_secret(session_secret: bytes) -> str:
    """A key of its own for the cookie, derived from ``hls.session_secret``."""
    return hmac.new(session_secret, b"hlsd session cookie", hashlib.sha256).hexdigest()


def includeme(config: Configurator) -> None:
    config.set_security_policy(HlsSecurityPolicy())
    config.set_default_permission(VIEW)
    config.set_session_factory(SessionFactories())
    config.set_default_csrf_options(require_csrf=True, header="X-CSRF-Token",
                                    callback=cookie_authenticated)
