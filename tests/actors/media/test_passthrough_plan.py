"""The plan's passthrough rules, pure: which sources get an fMP4 ``copy``, the H.264
variant always beside it, and what the playlists say of each container."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import m3u8
import pytest

from actors.errors import NotFound
from actors.media import make_plan, media_playlist, plan_master_playlist
from actors.media.profiles import DEFAULT_PROFILES
from actors.media.runs import RenditionKey, check_rendition
from actors.media.tracks import Tracks, VideoSource
from tests.helpers.hls_rules import assert_master, assert_media
from tests.helpers.media_runs import fake_info

KEYFRAMES = tuple(float(t) for t in range(0, 20, 2))


def source_info(codec: str, height: int = 2160, hdr: str | None = "pq", rotation: int = 0,
                profile: str = "Main 10", pix_fmt: str = "yuv420p10le"):
    info = fake_info(codec=codec, width=height * 16 // 9, height=height, profile=profile,
                     pix_fmt=pix_fmt, rotation=rotation, keyframes=KEYFRAMES)
    video = VideoSource(index=0, codec=codec, width=info.video.width, height=height,
                        fps=Fraction(30), pix_fmt=pix_fmt, bit_depth=10, chroma=420,
                        interlaced=False, hdr=hdr, rotation=rotation, profile=profile)  # type: ignore[arg-type]
    return replace(info, tracks=Tracks(video=video, audio=(), subtitles=()))


@pytest.mark.parametrize("codec", ["hevc", "av1", "vp9"])
def test_hevc_av1_and_vp9_get_an_fmp4_copy_beside_h264(codec: str) -> None:
    plan = make_plan("film", source_info(codec), DEFAULT_PROFILES, 4.0)
    assert plan.names == ("copy", "720p", "480p")
    assert [plan.container(n) for n in plan.names] == ["fmp4", "ts", "ts"]
    assert plan.fmp4_names == ("copy",)


def test_h264_copy_stays_mpeg_ts() -> None:
    plan = make_plan("film", fake_info(keyframes=KEYFRAMES), DEFAULT_PROFILES, 4.0)
    assert plan.container("copy") == "ts" and plan.fmp4_names == ()


def test_a_rotated_passthrough_source_gets_no_copy() -> None:
    plan = make_plan("film", source_info("hevc", rotation=90), DEFAULT_PROFILES, 4.0)
    assert "copy" not in plan.names


def test_a_small_passthrough_source_keeps_an_h264_variant_beside_it() -> None:
    plan = make_plan("film", source_info("hevc", height=360), DEFAULT_PROFILES, 4.0)
    assert plan.names[0] == "copy" and len(plan.names) == 2
    assert plan.container(plan.names[1]) == "ts" and plan.rendition(plan.names[1]).height == 360


def test_a_segment_of_the_other_container_is_not_found() -> None:
    plan = make_plan("film", source_info("hevc"), DEFAULT_PROFILES, 4.0)
    check_rendition(plan, RenditionKey.video("copy"), 0, "fmp4")
    check_rendition(plan, RenditionKey.video("720p"), 0, "ts")
    for name, container in (("copy", "ts"), ("720p", "fmp4")):
        with pytest.raises(NotFound):
            check_rendition(plan, RenditionKey.video(name), 0, container)
    with pytest.raises(NotFound):
        plan.init("720p")


def test_the_master_gives_every_variant_its_range_and_the_copy_its_init_codecs() -> None:
    plan = make_plan("film", source_info("hevc", hdr="hlg"), DEFAULT_PROFILES, 4.0)
    init = _hevc_init()
    plan = replace(plan, inits={"copy": init})
    text = plan_master_playlist(plan, lambda p: f"{p.name}/index.m3u8", str, str, 4.0)
    assert_master(text)
    variants = {p.uri.split("/")[0]: p.stream_info for p in m3u8.loads(text).playlists}
    assert variants["copy"].codecs == "hvc1.2.4.L150.B0,mp4a.40.2"  # muxed AAC, as copy has
    assert variants["copy"].video_range == "HLG"
    assert {variants[n].video_range for n in ("720p", "480p")} == {"SDR"}


def test_the_fmp4_media_playlist_is_version_7_with_its_map() -> None:
    text = media_playlist((0.0, 4.0, 8.0, 10.0), lambda n: f"{n}.m4s", "init.mp4")
    assert_media(text)
    parsed = m3u8.loads(text)
    assert parsed.version == 7 and parsed.segment_map[0].uri == "init.mp4"
    assert "#EXT-X-VERSION:3" in media_playlist((0.0, 4.0), lambda n: f"{n}.ts")


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def _hevc_init() -> bytes:
    """A minimal moov whose one sample entry is hvc1 with Main 10 L5.0's hvcC."""
    hvcc = bytes([1, 2]) + (0x20000000).to_bytes(4, "big") + b"\xb0" + bytes(5) + bytes([150]) + bytes(10)
    entry = _box(b"hvc1", bytes(78) + _box(b"hvcC", hvcc))
    stsd = _box(b"stsd", bytes(4) + (1).to_bytes(4, "big") + entry)
    stbl = _box(b"stbl", stsd)
    return _box(b"ftyp", b"iso6") + _box(b"moov", _box(b"trak", _box(b"mdia", _box(b"minf", stbl))))
