"""Master and media playlists: valid RFC 8216, honest variants and bandwidth."""
from __future__ import annotations

import m3u8
import pytest

from actors.media import PlaylistCache, master_playlist, media_playlist, renditions, segment_boundaries
from actors.media.profiles import DEFAULT_PROFILES, Profile
from tests.helpers.media import make_clip
from tests.helpers.media_runs import COPY, P720, SEGMENT, fake_info, run_ffmpeg

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- playlists

def check_vod_playlist(text: str, bounds: tuple[float, ...], fps: float) -> m3u8.M3U8:
    """RFC 8216 for a VOD media playlist, plus: the durations add up to the media."""
    playlist = m3u8.loads(text)
    assert text.startswith("#EXTM3U\n") and text.endswith("#EXT-X-ENDLIST\n")
    assert playlist.playlist_type == "vod" and playlist.is_endlist
    assert playlist.media_sequence == 0 and playlist.version >= 3
    durations = [segment.duration for segment in playlist.segments]
    assert len(durations) == len(bounds) - 1
    assert all(playlist.target_duration >= round(d) for d in durations)
    assert playlist.target_duration == max(1, -(-max(durations) // 1))
    assert sum(durations) == pytest.approx(bounds[-1] - bounds[0], abs=1 / fps)
    for duration, start, end in zip(durations, bounds, bounds[1:]):
        assert duration == pytest.approx(end - start, abs=0.001)
    return playlist


def test_media_playlist_is_a_valid_vod_playlist():
    bounds = tuple(round(k * 4.004, 6) for k in range(151)) + (604.9,)
    text = media_playlist(bounds, lambda n: f"{n}.ts")
    playlist = check_vod_playlist(text, bounds, 30)
    assert playlist.target_duration == 5
    assert [s.uri for s in playlist.segments][:3] == ["0.ts", "1.ts", "2.ts"]
    assert sum(s.duration for s in playlist.segments) == pytest.approx(604.9, abs=0.001)


def test_master_playlist_describes_each_variant(prober, clip720):
    info = prober.probe(clip720, keyframes=True)
    profiles = renditions(info, DEFAULT_PROFILES)
    text = master_playlist(info, profiles, lambda p: f"{p.name}/index.m3u8", SEGMENT)
    master = m3u8.loads(text)
    assert master.is_variant and "#EXT-X-INDEPENDENT-SEGMENTS" in text
    variants = {v.uri: v.stream_info for v in master.playlists}
    assert list(variants) == ["copy/index.m3u8", "720p/index.m3u8", "480p/index.m3u8"]
    assert variants["copy/index.m3u8"].codecs == "avc1.42e01f,mp4a.40.2"
    assert variants["720p/index.m3u8"].codecs == "avc1.64001f,mp4a.40.2"
    assert variants["480p/index.m3u8"].codecs == "avc1.64001f,mp4a.40.2"  # 854x480: 3.1
    assert variants["copy/index.m3u8"].resolution == (1280, 720)
    assert variants["720p/index.m3u8"].resolution == (1280, 720)
    assert variants["480p/index.m3u8"].resolution == (854, 480)
    for info_line in variants.values():
        assert info_line.frame_rate == 30.0
        assert info_line.bandwidth >= info_line.average_bandwidth > 0
    assert variants["720p/index.m3u8"].bandwidth >= (2800 + 128) * 1000


def test_master_playlist_without_audio_names_only_the_video_codec():
    silent = fake_info(audio=None)
    text = master_playlist(silent, (P720,), lambda p: p.name, SEGMENT)
    assert m3u8.loads(text).playlists[0].stream_info.codecs == "avc1.64001f"


def test_master_playlist_never_offers_an_upscale(prober, media_clips):
    small = make_clip(media_clips / "small.mkv", 1, width=640, height=360, video="mpeg4")
    info = prober.probe(small)
    master = m3u8.loads(master_playlist(info, renditions(info, DEFAULT_PROFILES),
                                        lambda p: p.name, SEGMENT))
    assert [(v.uri, v.stream_info.resolution) for v in master.playlists] == [("480p", (640, 360))]



@pytest.mark.parametrize("profile", [COPY, Profile("180p", 180, 300, 64)], ids=lambda p: p.name)
def test_master_bandwidth_is_an_honest_peak(prober, media_clips, profile):
    noisy = media_clips / "noisy.mp4"
    if not noisy.exists():
        make_clip(noisy, 10, width=320, height=180, gop=1.0, noise=True)
    info = prober.probe(noisy, keyframes=True)
    bounds = segment_boundaries(info, profile, SEGMENT)
    run = run_ffmpeg(info, profile, bounds, 0, media_clips / f"bandwidth-{profile.name}")
    master = m3u8.loads(master_playlist(info, (profile,), lambda p: p.name, SEGMENT))
    declared = master.playlists[0].stream_info
    rates = [8 * size / (bounds[s.number + 1] - bounds[s.number]) for s, size in run.listed]
    average = 8 * sum(size for _, size in run.listed) / info.duration
    assert max(rates) <= declared.bandwidth
    assert declared.average_bandwidth == pytest.approx(average, rel=0.1)


def test_playlist_cache_renders_once_per_key_and_serves_the_same_bytes():
    bounds = (0.0, 4.0, 8.0, 10.5)
    cache = PlaylistCache(size=2)
    name = lambda n: f"{n}.ts"
    first = cache.media_playlist(("film", "copy"), bounds, name)
    assert first == media_playlist(bounds, name).encode()
    assert cache.media_playlist(("film", "copy"), bounds, name) is first  # bytes, not rendered again
    # Kept: the same key gives what was rendered first, even for other boundaries.
    other = (0.0, 5.0, 10.5)
    assert cache.media_playlist(("film", "copy"), other, name) is first
    for key in ("a", "b"):  # least recently used goes first
        cache.media_playlist(key, other, name)
    assert cache.media_playlist(("film", "copy"), other, name) == media_playlist(other, name).encode()