"""hlsd's Pyramid application: ``main`` is the PasteDeploy app factory (``egg:hlsd``)."""
from __future__ import annotations

import sys
from typing import Any, NoReturn

from pyramid.config import Configurator
from pyramid.router import Router
from pyramid.security import NO_PERMISSION_REQUIRED

from actors.settings import SettingsError, parse_settings
from actors.system import HlsSystem
from web import lifecycle
from web.limits import WaitLimit, warn_if_threads_are_short


def main(global_config: dict[str, Any], **settings: Any) -> Router:
    """Parse the ``hls.*`` settings, build the app, then start the actor tree once.

    A bad setting, or a work dir hlsd cannot use, ends the process with status 2 and
    one line on stderr that says why.
    """
    try:
        hls_settings = parse_settings(settings)
    except SettingsError as error:
        print(f"hlsd: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        system = HlsSystem(hls_settings)
    except (OSError, ValueError) as error:  # ValueError: an unusable session secret file
        _cannot_start(error)
    with Configurator(settings=settings) as config:
        config.include("pyramid_jinja2")
        config.include(".routes")
        config.include(".security")
        config.add_static_view("static", "web:static", cache_max_age=3600,
                               permission=NO_PERMISSION_REQUIRED)
        config.scan(".views")
        config.registry.hls = system
        config.registry.segment_waits = WaitLimit(hls_settings.waiting_limit)
        app = config.make_wsgi_app()
    try:
        system.start()
    except (OSError, ValueError) as error:
        _cannot_start(error)
    lifecycle.install(system)
    warn_if_threads_are_short(global_config, hls_settings)
    return app


def _cannot_start(error: Exception) -> NoReturn:
    print(f"hlsd: cannot start: {error}", file=sys.stderr)
    raise SystemExit(2) from None
