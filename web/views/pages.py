"""Web pages (SPEC "Web pages"): the library at ``/``, the player at ``/watch/{id}``,
poster frames at ``/posters/{id}``."""
from __future__ import annotations

from typing import Any

from pyramid.events import BeforeRender, subscriber
from pyramid.request import Request
from pyramid.response import FileResponse, Response
from pyramid.view import view_config

from actors.errors import NotFound
from web import params
from web.security import viewer

POSTER_MAX_AGE = 3600


@view_config(route_name="home", request_method="GET", renderer="web:templates/library.jinja2")
def library(request: Request) -> dict[str, Any]:
    """One folder of the library (``?folder=``), or a search under it (``?q=``), from the
    media index: it never waits for the scan."""
    return request.registry.hls.library_view.page(request.GET.get("folder", ""),
                                                 request.GET.get("q", ""), viewer(request))


@view_config(route_name="watch", request_method="GET", renderer="web:templates/watch.jinja2")
def watch(request: Request) -> dict[str, Any]:
    """Plans the playback (so a bad link is a 404 page) but opens no session: the page's
    script does, once it runs, from ``?start=`` seconds."""
    system = request.registry.hls
    media_id = request.matchdict["media_id"]
    start = params.seconds(request.GET.get("start"), "start") or 0.0
    user = viewer(request)
    return {"plan": system.plan(media_id, None, 0.0, viewer=user), "start": start,
            "resume": system.library_view.position(media_id, user)}


@view_config(route_name="poster", request_method="GET")
def poster(request: Request) -> Response:
    """The poster frame the library scan made of the file's current version."""
    path = request.registry.hls.library_view.poster(request.matchdict["media_id"], viewer(request))
    if path is None:
        raise NotFound("no poster for this file (yet)")
    return FileResponse(str(path), request=request, content_type="image/jpeg",
                        cache_max_age=POSTER_MAX_AGE)


@subscriber(BeforeRender)
def template_helpers(event: BeforeRender) -> None:
    """Helpers every template may call."""
    event["clock"] = clock


def clock(seconds: float) -> str:
    """``1:02:03`` or ``2:03``, as a player shows a duration."""
    whole = int(round(seconds))
    hours, minutes, secs = whole // 3600, whole // 60 % 60, whole % 60
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
