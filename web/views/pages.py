"""Web pages (SPEC "Web pages"): the library at ``/``, the player at ``/watch/{id}``."""
from __future__ import annotations

from typing import Any

from pyramid.events import BeforeRender, subscriber
from pyramid.request import Request
from pyramid.view import view_config


@view_config(route_name="home", request_method="GET", renderer="web:templates/library.jinja2")
def library(request: Request) -> dict[str, Any]:
    """The library page."""
    return {"entries": request.registry.hls.library()}


@view_config(route_name="watch", request_method="GET", renderer="web:templates/watch.jinja2")
def watch(request: Request) -> dict[str, Any]:
    """Plans the playback (so a bad link is a 404 page) but opens no session: the page's
    script does, once it runs."""
    return {"plan": request.registry.hls.plan(request.matchdict["media_id"], None, 0.0)}


@subscriber(BeforeRender)
def template_helpers(event: BeforeRender) -> None:
    """Helpers every template may call."""
    event["clock"] = clock


def clock(seconds: float) -> str:
    """``1:02:03`` or ``2:03``, as a player shows a duration."""
    whole = int(round(seconds))
    hours, minutes, secs = whole // 3600, whole // 60 % 60, whole % 60
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
