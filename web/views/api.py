"""The session API (SPEC "Streaming", ``/api/v1/sessions``): what the player page and
other controlling clients use."""
from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNoContent
from pyramid.request import Request
from pyramid.view import view_config

from web import params
from web.security import OPERATOR, viewer


@view_config(route_name="sessions", request_method="POST", renderer="json")
def open_session(request: Request) -> dict[str, Any]:
    """``{"media", "profile"?, "start"?, "burn"?}`` -> 201 and where its master playlist
    is; ``burn`` is an image subtitle track to burn into the video."""
    body = params.json_body(request)
    state = request.registry.hls.open_session(
        params.text(body.get("media"), "media", required=True),
        params.text(body.get("profile"), "profile"),
        params.seconds(body.get("start"), "start") or 0.0,
        params.track(body.get("burn"), "burn"), viewer(request))
    master = request.route_path("hls_master", session_id=state["id"])
    request.response.status_code = 201
    request.response.location = master
    return {"id": state["id"], "master": master, "media": state["media"],
            "profile": state["profile"], "state": state["state"],
            "chapters": state.get("chapters", [])}


@view_config(route_name="sessions", request_method="GET", renderer="json")
def list_sessions(request: Request) -> list[dict[str, Any]]:
    """The state of every live session the caller may manage. A session's id is its
    capability (it plays, steers and stops it): without accounts only an operator gets
    ids and masters; with accounts a user sees only their own sessions, ids included."""
    system = request.registry.hls
    states = system.sessions(viewer(request))
    if system.accounts is None and request.identity is not OPERATOR:
        return [{k: v for k, v in state.items() if k != "id"} for state in states]
    return [with_master(request, state) for state in states]


@view_config(route_name="session", request_method="GET", renderer="json")
def session_state(request: Request) -> dict[str, Any]:
    """One session's state: media, profile, state, times, transcoder pid, segments."""
    session_id = request.matchdict["session_id"]
    request.registry.hls.check_owner(session_id, viewer(request))
    return with_master(request, request.registry.hls.session_state(session_id))


@view_config(route_name="session", request_method="DELETE")
@view_config(route_name="session_stop", request_method="POST")
def stop_session(request: Request) -> HTTPNoContent:
    """Answers once FFmpeg is gone and the files are deleted. ``POST .../stop`` is for
    ``navigator.sendBeacon``, which can only POST; its body is ignored but for the CSRF token (a form field: a beacon
    sets no header)."""
    request.registry.hls.check_owner(request.matchdict["session_id"], viewer(request))
    request.registry.hls.stop_session(request.matchdict["session_id"], "client")
    return HTTPNoContent()


@view_config(route_name="session_heartbeat", request_method="POST")
def heartbeat(request: Request) -> HTTPNoContent:
    """The player is still there: ``{"position"?, "paused"?}``."""
    request.registry.hls.check_owner(request.matchdict["session_id"], viewer(request))
    body = params.json_body(request)
    request.registry.hls.heartbeat(request.matchdict["session_id"],
                                   params.seconds(body.get("position"), "position"),
                                   params.flag(body.get("paused"), "paused"))
    return HTTPNoContent()


def with_master(request: Request, state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "master": request.route_path("hls_master", session_id=state["id"])}
