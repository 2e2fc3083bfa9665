"""Trick play (SPEC "Trick play and chapters"): the image playlist of thumbnail sheets,
the WebVTT thumbnails track, the sheets, the I-frame playlist and its MP4 (byte ranges).

All under the session (``/hls/{token}/trickplay/...``, the token is the capability), and
404 until the library scan has made the film's files. The texts are made from the
manifest by ``actors.media.trickplay``; the files are served as they are on disk.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from pyramid.request import Request
from pyramid.response import FileResponse, Response
from pyramid.security import NO_PERMISSION_REQUIRED as OPEN
from pyramid.view import view_config

from actors.errors import NotFound
from actors.media import trickplay
from web.views.streaming import playlist_response, preflight
from web.views.tracks import WEBVTT

FILE_MAX_AGE = 86400  # a made file never changes: a new file version gets a new folder
TEXTS: dict[str, Callable[[trickplay.Manifest], str]] = {
    "hls_trickplay_images": trickplay.image_playlist,
    "hls_trickplay_iframes": trickplay.iframe_playlist,
}


@view_config(route_name="hls_trickplay_images", request_method="GET", permission=OPEN)
@view_config(route_name="hls_trickplay_iframes", request_method="GET", permission=OPEN)
def trickplay_playlist(request: Request) -> Response:
    """The image playlist (``#EXT-X-TILES``) or the ``#EXT-X-I-FRAMES-ONLY`` playlist."""
    _, manifest = request.registry.hls.trickplay(request.matchdict["session_id"])
    return playlist_response(TEXTS[request.matched_route.name](manifest))


@view_config(route_name="hls_trickplay_vtt", request_method="GET", permission=OPEN)
def thumbnails_track(request: Request) -> Response:
    """The WebVTT thumbnails track: a ``N.jpg#xywh=x,y,w,h`` cue per thumbnail."""
    _, manifest = request.registry.hls.trickplay(request.matchdict["session_id"])
    return Response(body=trickplay.thumbnails_vtt(manifest).encode(), content_type=WEBVTT,
                    charset="utf-8", cache_control="no-cache")


@view_config(route_name="hls_trickplay_sheet", request_method="GET", permission=OPEN)
def sheet(request: Request) -> Response:
    """One JPEG tile sheet."""
    folder, manifest = request.registry.hls.trickplay(request.matchdict["session_id"])
    number = int(request.matchdict["sheet"])
    if number >= manifest.shape.sheets:
        raise NotFound(f"no thumbnail sheet {number}")
    return _file(request, folder / f"{number}.jpg", "image/jpeg")


@view_config(route_name="hls_trickplay_mp4", request_method="GET", permission=OPEN)
def iframes(request: Request) -> Response:
    """The I-frame stream; players ask for byte ranges (206)."""
    folder, _ = request.registry.hls.trickplay(request.matchdict["session_id"])
    return _file(request, folder / trickplay.IFRAMES, "video/mp4")


@view_config(route_name="hls_trickplay_images", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_trickplay_vtt", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_trickplay_sheet", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_trickplay_iframes", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_trickplay_mp4", request_method="OPTIONS", permission=OPEN)
def trickplay_preflight(request: Request) -> Response:
    """CORS preflight, as for the video renditions."""
    return preflight(request)


def _file(request: Request, path: Path, content_type: str) -> Response:
    try:
        response = FileResponse(str(path), request=request, content_type=content_type,
                                cache_max_age=FILE_MAX_AGE)
    except OSError:  # swept meanwhile (the file changed): as if never made
        raise NotFound("no such thumbnail file") from None
    response.headers["Accept-Ranges"] = "bytes"
    return response
