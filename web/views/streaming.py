"""What players use: the library, master and media playlists, segments (SPEC "Streaming").

Every answer of these routes, errors included, carries CORS headers, so players on other
origins can read statuses too. ``/hls/{token}/...`` is open to all (``OPEN``): the signed
token is the capability, so a URL handed to VLC or a TV plays without a cookie.
"""
from __future__ import annotations

import os
from typing import Any, BinaryIO

from pyramid.events import NewResponse, subscriber
from pyramid.httpexceptions import HTTPNoContent
from pyramid.request import Request
from pyramid.response import FileIter, Response
from pyramid.security import NO_PERMISSION_REQUIRED as OPEN
from pyramid.view import view_config

from actors.media import RenditionKey, RunKind
from actors.partial import GrowingSegment
from web import params
from web.security import viewer
from web.routes import STREAMING_ROUTES, segment_name

MPEGURL = "application/vnd.apple.mpegurl"
MPEG_TS = "video/mp2t"
FMP4_SEGMENT = "video/iso.segment"
MP4 = "video/mp4"
SEGMENT_MAX_AGE = 3600
BLOCK_SIZE = 256 * 1024
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Session-Id, Retry-After",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Max-Age": "86400",
}


@view_config(route_name="media_list", request_method="GET", renderer="json")
def media_list(request: Request) -> list[dict[str, Any]]:
    """The library: every file a player can ask for."""
    return [{**entry, "master": request.route_path("media_master", media_id=entry["id"])}
            for entry in request.registry.hls.library_view.listing(viewer(request))]


@view_config(route_name="media_master", request_method="GET")
def media_master(request: Request) -> Response:
    """Opens a session (GET) or only checks that one could be opened (HEAD)."""
    media_id, profile = request.matchdict["media_id"], request.GET.get("profile")
    start = params.seconds(request.GET.get("start"), "start") or 0.0
    burn = params.track(request.GET.get("burn"), "burn")
    if request.method == "HEAD":
        request.registry.hls.plan(media_id, profile, start, burn, viewer(request))
        return playlist_response("", content_length=None)
    state = request.registry.hls.open_session(media_id, profile, start, burn, viewer(request))
    response = playlist_response(master_playlist(request, state["id"]))
    response.headers["X-Session-Id"] = state["id"]
    return response


@view_config(route_name="hls_master", request_method="GET", permission=OPEN)
def session_master(request: Request) -> Response:
    """The master playlist of an existing session (a heartbeat too)."""
    return playlist_response(master_playlist(request, request.matchdict["session_id"]))


@view_config(route_name="hls_playlist", request_method="GET", permission=OPEN)
def media_playlist(request: Request) -> Response:
    """The VOD playlist of one rendition, every segment from the start."""
    match = request.matchdict
    return playlist_response(request.registry.hls.media_playlist(
        match["session_id"], RenditionKey.video(match["profile"]), segment_name))


@view_config(route_name="hls_segment", request_method="GET", permission=OPEN)
@view_config(route_name="hls_fmp4_segment", request_method="GET", permission=OPEN)
def segment(request: Request) -> Response:
    """Segment n once complete, or (MPEG-TS, HTTP/1.1: chunked, so a body cut short is
    seen as such) as FFmpeg writes it; at most ``hls.max_waiting`` requests wait for FFmpeg
    or follow a growing segment at once (a segment already made needs no slot). ``3.ts``
    of an fMP4 rendition (or ``3.m4s`` of an MPEG-TS one) is 404."""
    match, fmp4 = request.matchdict, request.matched_route.name == "hls_fmp4_segment"
    opened = request.registry.hls.segment(match["session_id"], RenditionKey.video(match["profile"]),
                                          int(match["number"]), request.registry.segment_waits,
                                          "fmp4" if fmp4 else "ts",
                                          follow=request.http_version == "HTTP/1.1")
    return segment_response(request, opened, FMP4_SEGMENT if fmp4 else MPEG_TS)


@view_config(route_name="hls_init", request_method="GET", permission=OPEN)
def init_segment(request: Request) -> Response:
    """The init segment of an fMP4 rendition: the same bytes for every session."""
    match = request.matchdict
    body = request.registry.hls.init_segment(match["session_id"], match["profile"])
    return Response(body=body, content_type=MP4, cache_control=f"max-age={SEGMENT_MAX_AGE}")


@view_config(route_name="media_list", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="media_master", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_master", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_playlist", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_segment", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_fmp4_segment", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_init", request_method="OPTIONS", permission=OPEN)
def preflight(request: Request) -> Response:
    """CORS preflight: any origin may GET, with whatever headers it asks for."""
    asked = request.headers.get("Access-Control-Request-Headers")
    allowed = {"Access-Control-Allow-Headers": asked} if asked else {}
    return HTTPNoContent(headers={**PREFLIGHT_HEADERS, **allowed})


@subscriber(NewResponse)
def allow_any_origin(event: NewResponse) -> None:
    """CORS headers on every answer of the streaming routes, errors included."""
    route = event.request.matched_route
    if route is not None and route.name in STREAMING_ROUTES:
        event.response.headers.update(CORS_HEADERS)


def master_playlist(request: Request, session_id: str) -> str:
    def track_uri(kind: RunKind, track: int) -> str:
        route = "hls_audio_playlist" if kind is RunKind.AUDIO else "hls_subs_playlist"
        return request.route_path(route, session_id=session_id, track=track)

    def trickplay_uri(kind: str) -> str:  # "images" | "iframes"
        return request.route_path(f"hls_trickplay_{kind}", session_id=session_id)

    return request.registry.hls.master_playlist(session_id, lambda profile: request.route_path(
        "hls_playlist", session_id=session_id, profile=profile), track_uri, trickplay_uri)


def playlist_response(text: str | bytes, **headers: Any) -> Response:
    body = text.encode() if isinstance(text, str) else text
    return Response(body=body, content_type=MPEGURL, cache_control="no-cache", **headers)


def segment_response(request: Request, opened: BinaryIO | GrowingSegment,
                     content_type: str = MPEG_TS) -> Response:
    """With ``hls.accel_redirect``: no body, nginx sends the file named in
    ``X-Accel-Redirect``. Otherwise streams the open segment file; the server closes it
    when done or when the client goes away (waitress closes the app_iter either way).
    A segment still being written is sent as it grows, with no length (chunked)."""
    if isinstance(opened, GrowingSegment):
        return Response(app_iter=opened, content_type=content_type,
                        cache_control=f"max-age={SEGMENT_MAX_AGE}")
    try:
        size = os.fstat(opened.fileno()).st_size
        redirect = request.registry.hls.segment_redirect(opened)
    except BaseException:
        opened.close()
        raise
    if redirect is not None:
        response = Response(content_type=content_type, cache_control=f"max-age={SEGMENT_MAX_AGE}")
        response.headers["X-Accel-Redirect"] = redirect
        return response
    wrapper = request.environ.get("wsgi.file_wrapper", FileIter)
    return Response(app_iter=wrapper(opened, BLOCK_SIZE), content_type=content_type,
                    content_length=size, cache_control=f"max-age={SEGMENT_MAX_AGE}")
