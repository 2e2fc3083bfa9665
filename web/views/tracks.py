"""The renditions beside the video (SPEC "Every stream of a file"): the playlists and
segments of alternate audio tracks (MPEG-TS) and of subtitle tracks (WebVTT)."""
from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED as OPEN
from pyramid.view import view_config

from actors.media import RenditionKey
from web.routes import segment_name
from web.views.streaming import playlist_response, preflight, segment_response

WEBVTT = "text/vtt"
SUBTITLE_MAX_AGE = 3600


@view_config(route_name="hls_audio_playlist", request_method="GET", permission=OPEN)
@view_config(route_name="hls_subs_playlist", request_method="GET", permission=OPEN)
def track_playlist(request: Request) -> Response:
    """The VOD playlist of an audio or subtitle rendition, on the video's segment grid."""
    session_id, track = request.matchdict["session_id"], request.matchdict["track"]
    audio = request.matched_route.name == "hls_audio_playlist"
    key, extension = (RenditionKey.audio(track), "ts") if audio else (RenditionKey.subtitles(track), "vtt")
    return playlist_response(request.registry.hls.media_playlist(
        session_id, key, lambda n: segment_name(n, extension)))


@view_config(route_name="hls_audio_segment", request_method="GET", permission=OPEN)
def audio_segment(request: Request) -> Response:
    """Segment n of an audio track once complete (the run starts on demand)."""
    match = request.matchdict
    opened = request.registry.hls.segment(match["session_id"], RenditionKey.audio(match["track"]),
                                          int(match["number"]), request.registry.segment_waits)
    return segment_response(request, opened)


@view_config(route_name="hls_subs_segment", request_method="GET", permission=OPEN)
def subtitle_segment(request: Request) -> Response:
    """The WebVTT document of segment n: every cue shown during it."""
    match = request.matchdict
    text = request.registry.hls.segment(match["session_id"], RenditionKey.subtitles(match["track"]),
                                        int(match["number"]), request.registry.segment_waits)
    return Response(body=text.encode(), content_type=WEBVTT, charset="utf-8",
                    cache_control=f"max-age={SUBTITLE_MAX_AGE}")


@view_config(route_name="hls_audio_playlist", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_audio_segment", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_subs_playlist", request_method="OPTIONS", permission=OPEN)
@view_config(route_name="hls_subs_segment", request_method="OPTIONS", permission=OPEN)
def track_preflight(request: Request) -> Response:
    """CORS preflight, as for the video renditions."""
    return preflight(request)
