"""The passthrough variant through a real hlsd (pserve + waitress): what the master
announces (exact CODECS, VIDEO-RANGE, ...), the fMP4 media playlist, its init segment
(the same bytes for every session and every node) and segments, wrong containers 404,
and FFmpeg as the HLS client playing the HEVC variant. Every playlist fetched is checked
against ``tests.helpers.hls_rules``."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import m3u8
import pytest

from actors.media.codecs import video_codecs
from actors.system import HlsSystem
from tests.helpers.hls_rules import assert_master, assert_media, uris
from tests.helpers.media import FFMPEG, FFPROBE
from tests.helpers.modern_clips import make_modern_clip
from tests.helpers.server import Server, served
from tests.helpers.settings import settings_for

pytestmark = pytest.mark.slow
TIMEOUT = 60
FILM = "hevc_pq.mkv"


def _fill(media: Path) -> None:
    make_modern_clip(media, "hevc_pq")
    make_modern_clip(media, "hevc_phone")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served(tmp_path_factory.mktemp("fmp4"), _fill) as running:
        yield running


def _get(server: Server, path: str, status: int = 200) -> tuple[dict[str, str], bytes]:
    code, headers, body = server.get(path)
    assert code == status, body
    return headers, body


def _open(server: Server, film: str = FILM) -> tuple[str, m3u8.M3U8, str]:
    headers, body = _get(server, f"/media/{film}/master.m3u8")
    text = body.decode()
    assert_master(text)
    return headers["X-Session-Id"], m3u8.loads(text), text


def _variant(master: m3u8.M3U8, name: str) -> m3u8.Playlist:
    return next(p for p in master.playlists if f"/{name}/" in p.uri)


def _media(server: Server, uri: str) -> m3u8.M3U8:
    _headers, body = _get(server, uri)
    assert_media(body.decode())
    return m3u8.loads(body.decode())


def test_the_master_announces_the_passthrough_variant_exactly(server: Server) -> None:
    _session, master, text = _open(server)
    copy = _variant(master, "copy").stream_info
    assert copy.codecs == "hvc1.2.4.L60.90,mp4a.40.2"  # Main 10, level 2, from the hvcC
    assert copy.video_range == "PQ"
    assert copy.resolution == (320, 180)
    assert copy.frame_rate == 25.0
    assert 0 < copy.average_bandwidth <= copy.bandwidth
    others = [p.stream_info for p in master.playlists if "/copy/" not in p.uri]
    assert others and all(s.video_range == "SDR" and s.codecs.startswith("avc1.") for s in others)
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text


def test_an_sdr_hevc_phone_video_is_sdr_and_upright_as_coded(server: Server) -> None:
    _session, master, _text = _open(server, "hevc_phone.mp4")
    copy = _variant(master, "copy").stream_info
    assert copy.codecs == "hvc1.1.6.L60.90,mp4a.40.2"
    assert (copy.video_range, copy.resolution) == ("SDR", (180, 320))


def test_the_media_playlist_init_and_segments_are_fmp4(server: Server, tmp_path: Path) -> None:
    _session, master, _text = _open(server)
    uri = _variant(master, "copy").uri
    playlist = _media(server, uri)
    assert playlist.version == 7
    assert playlist.segment_map[0].uri == "init.mp4"
    assert [s.uri for s in playlist.segments] == [f"{n}.m4s" for n in range(len(playlist.segments))]
    base = uri.rsplit("/", 1)[0]
    headers, init = _get(server, f"{base}/init.mp4")
    assert headers["Content-Type"].startswith("video/mp4")
    headers, segment = _get(server, f"{base}/1.m4s")
    assert headers["Content-Type"].startswith("video/iso.segment")
    assert segment[4:8] == b"moof"  # the head is the init's, served once
    joined = tmp_path / "joined.mp4"
    joined.write_bytes(init + segment)
    probed = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v", "-show_entries",
                             "stream=codec_tag_string,profile,pix_fmt,color_transfer",
                             "-of", "default=nw=1", str(joined)], capture_output=True,
                            text=True, timeout=TIMEOUT, check=True).stdout.splitlines()
    assert probed == ["profile=Main 10", "codec_tag_string=hvc1", "pix_fmt=yuv420p10le",
                      "color_transfer=smpte2084"]


def test_every_uri_of_the_playlists_resolves(server: Server) -> None:
    _session, _master, text = _open(server)
    for variant in uris(text):
        listed = _get(server, variant)[1].decode()
        assert_media(listed)
        base = variant.rsplit("/", 1)[0]
        names = uris(listed)
        for name in (names[:2] + names[-1:]):  # the init, the first and the last segment
            _get(server, f"{base}/{name}")


def test_a_segment_of_the_wrong_container_is_404(server: Server) -> None:
    _session, master, _text = _open(server)
    copy = _variant(master, "copy").uri.rsplit("/", 1)[0]
    other = next(p.uri for p in master.playlists if "/copy/" not in p.uri).rsplit("/", 1)[0]
    _get(server, f"{copy}/0.ts", status=404)
    _get(server, f"{other}/0.m4s", status=404)
    _get(server, f"{other}/init.mp4", status=404)
    _get(server, f"{other}/0.ts")  # the H.264 variant is MPEG-TS, as before


def test_the_init_is_the_same_for_every_session_and_node(server: Server, tmp_path: Path) -> None:
    inits = []
    for _ in range(2):
        _session, master, _text = _open(server)
        inits.append(_get(server, _variant(master, "copy").uri.replace("index.m3u8", "init.mp4"))[1])
    # Another node: an HlsSystem of its own over the same library makes the same bytes.
    node = HlsSystem(settings_for(server.work_dir.parent / "media", tmp_path / "work"))
    inits.append(node.plan(FILM, None, 0.0).init("copy"))
    assert inits[0] == inits[1] == inits[2]
    assert video_codecs(inits[0]).startswith("hvc1.2.4.")


def test_ffmpeg_as_the_client_plays_the_hevc_variant(server: Server) -> None:
    """FFmpeg opens the master (one program per variant) and plays the passthrough one
    (the first, program 0) to the end: every frame of the film, no error."""
    session, master, _text = _open(server)
    assert "/copy/" in master.playlists[0].uri
    uri = f"{server.url}/hls/{session}/master.m3u8"
    done = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-nostats", "-i", uri,
                           "-map", "0:p:0:v", "-progress", "pipe:1", "-f", "null", "-"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert (done.returncode, done.stderr) == (0, "")
    frames = [line for line in done.stdout.splitlines() if line.startswith("frame=")]
    assert int(frames[-1].partition("=")[2]) == 8 * 25
