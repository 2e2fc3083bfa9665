"""Every URL of SPEC.md. Ids are validated here, by pattern, before any view runs: a
malformed session id or segment number matches no route and is a 404."""
from __future__ import annotations

from pyramid.config import Configurator

SESSION = r"{session_id:[A-Za-z0-9_.-]{24,4096}}"  # a token (actors.tokens): key.base64url
PROFILE = r"{profile:[A-Za-z0-9_-]+}"
SEGMENT = r"{number:0|[1-9][0-9]{0,8}}"  # canonical, non-negative, below 10**9
TRACK = r"{track:0|[1-9][0-9]{0,5}}"  # a stream index
SHEET = r"{sheet:0|[1-9][0-9]{0,5}}"  # a thumbnail sheet's number
MEDIA = r"{media_id:.+}"  # decoded from the path, '/' included; media.resolve_media judges it

# Paths that hlsctl, a client of its own, sends requests to.
SESSIONS_PATH = "/api/v1/sessions"
TREE_PATH = "/api/v1/tree"
FAULTS_PATH = "/api/v1/faults"
SCAN_PATH = "/api/v1/scan"

TRACK_ROUTES = frozenset({"hls_audio_playlist", "hls_audio_segment", "hls_subs_playlist",
                          "hls_subs_segment"})
TRICKPLAY_ROUTES = frozenset({"hls_trickplay_images", "hls_trickplay_vtt", "hls_trickplay_sheet",
                              "hls_trickplay_iframes", "hls_trickplay_mp4"})
VIDEO_SEGMENT_ROUTES = frozenset({"hls_segment", "hls_fmp4_segment", "hls_init"})
STREAMING_ROUTES = frozenset({"media_list", "media_master", "hls_master", "hls_playlist",
                              *VIDEO_SEGMENT_ROUTES, *TRACK_ROUTES, *TRICKPLAY_ROUTES})
PAGE_ROUTES = frozenset({"home", "watch", "poster", "login"})
LOGIN_PATH = "/api/v1/login"


def segment_name(number: int, extension: str = "ts") -> str:
    """Segment ``number``'s URI relative to its media playlist: every ``*_segment`` route
    below is ``{number}.<extension>`` in the folder of its ``*_playlist`` route's
    ``index.m3u8``. Relative names keep the session out of a media playlist's bytes, so
    one rendering serves every session of the file (``media.PlaylistCache``)."""
    return f"{number}.{extension}"


def includeme(config: Configurator) -> None:
    config.add_route("home", "/")
    config.add_route("watch", f"/watch/{MEDIA}")
    config.add_route("poster", f"/posters/{MEDIA}")

    config.add_route("media_list", "/media")
    config.add_route("media_master", f"/media/{MEDIA}/master.m3u8")
    config.add_route("hls_master", f"/hls/{SESSION}/master.m3u8")
    config.add_route("hls_playlist", f"/hls/{SESSION}/{PROFILE}/index.m3u8")
    config.add_route("hls_segment", f"/hls/{SESSION}/{PROFILE}/{SEGMENT}.ts")
    config.add_route("hls_fmp4_segment", f"/hls/{SESSION}/{PROFILE}/{SEGMENT}.m4s")
    config.add_route("hls_init", f"/hls/{SESSION}/{PROFILE}/init.mp4")
    config.add_route("hls_audio_playlist", f"/hls/{SESSION}/audio/{TRACK}/index.m3u8")
    config.add_route("hls_audio_segment", f"/hls/{SESSION}/audio/{TRACK}/{SEGMENT}.ts")
    config.add_route("hls_subs_playlist", f"/hls/{SESSION}/subs/{TRACK}/index.m3u8")
    config.add_route("hls_subs_segment", f"/hls/{SESSION}/subs/{TRACK}/{SEGMENT}.vtt")

    # Trick play (web/views/trickplay.py): the scan-made thumbnails and I-frames of a session's film.
    config.add_route("hls_trickplay_images", f"/hls/{SESSION}/trickplay/images.m3u8")
    config.add_route("hls_trickplay_vtt", f"/hls/{SESSION}/trickplay/thumbnails.vtt")
    config.add_route("hls_trickplay_sheet", f"/hls/{SESSION}/trickplay/{SHEET}.jpg")
    config.add_route("hls_trickplay_iframes", f"/hls/{SESSION}/trickplay/iframes.m3u8")
    config.add_route("hls_trickplay_mp4", f"/hls/{SESSION}/trickplay/iframes.mp4")

    config.add_route("sessions", SESSIONS_PATH)
    config.add_route("session", f"{SESSIONS_PATH}/{SESSION}")
    config.add_route("session_heartbeat", f"{SESSIONS_PATH}/{SESSION}/heartbeat")
    config.add_route("session_stop", f"{SESSIONS_PATH}/{SESSION}/stop")

    config.add_route("tree", TREE_PATH)
    config.add_route("faults", FAULTS_PATH)
    config.add_route("scan", SCAN_PATH)
    config.add_route("login", "/login")
    config.add_route("logout", "/logout")
    config.add_route("api_login", LOGIN_PATH)

    config.add_route("metrics", "/metrics")
    config.add_route("healthz", "/healthz")
