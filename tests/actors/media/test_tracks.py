"""parse_streams on what ffprobe says about real clips; names and JSON views."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from actors.media.tracks import (AudioTrack, SubtitleTrack, Tracks, audio_json, bcp47,
                                 display_name, normalize_language, parse_streams,
                                 subtitle_json, unique_names)
from tests.helpers.track_clips import ffprobe_json


def tracks_of(path: Path) -> Tracks:
    return parse_streams(ffprobe_json(path), path)


def test_film_video_is_the_main_stream_not_the_cover(film: Path) -> None:
    probed = ffprobe_json(film)
    covers = [s for s in probed["streams"] if s.get("disposition", {}).get("attached_pic")]
    assert covers, "the clip must really carry a cover picture"
    video = parse_streams(probed, film).video
    assert video is not None and video.codec == "h264" and video.index != covers[0]["index"]
    assert (video.width, video.height, video.fps) == (320, 240, Fraction(25))
    assert (video.bit_depth, video.chroma, video.interlaced, video.hdr, video.rotation) == \
        (8, 420, False, None, 0)


def test_cover_first_is_skipped() -> None:
    probed = {"streams": [
        {"index": 0, "codec_type": "video", "codec_name": "mjpeg", "width": 600,
         "height": 600, "disposition": {"attached_pic": 1}},
        {"index": 1, "codec_type": "video", "codec_name": "h264", "width": 640,
         "height": 360, "avg_frame_rate": "30000/1001", "pix_fmt": "yuv420p"}]}
    video = parse_streams(probed, Path("x.mp4")).video
    assert video is not None and video.index == 1 and video.fps == Fraction(30000, 1001)


def test_film_audio_tracks(film: Path) -> None:
    audio = tracks_of(film).audio
    assert [(a.language, a.channels, a.default, a.codec) for a in audio] == [
        ("eng", 2, False, "aac"), ("fre", 6, True, "aac"), ("jpn", 1, False, "aac")]
    assert len({a.index for a in audio}) == 3
    assert [display_name(a) for a in audio] == ["English (stereo)", "French (5.1)",
                                                "Japanese (mono)"]


def test_film_subtitle_tracks(film: Path) -> None:
    subtitles = tracks_of(film).subtitles
    assert [(s.language, s.codec, s.kind, s.forced, s.path) for s in subtitles] == [
        ("eng", "subrip", "text", False, None), ("fre", "subrip", "text", True, None)]
    assert [display_name(s) for s in subtitles] == ["English", "French (forced)"]


def test_json_views(film: Path) -> None:
    tracks = tracks_of(film)
    assert audio_json(tracks)[1] == {"index": tracks.audio[1].index, "language": "fre",
                                     "codec": "aac", "channels": 6, "default": True}
    assert [s["forced"] for s in subtitle_json(tracks)] == [False, True]
    assert set(subtitle_json(tracks)[0]) == {"index", "language", "codec", "kind", "forced"}


@pytest.mark.parametrize(("kind", "facts"), [
    ("interlaced", {"codec": "mpeg2video", "interlaced": True, "field_order": "tt"}),
    ("pq", {"codec": "hevc", "hdr": "pq", "bit_depth": 10, "chroma": 420}),
    ("hlg", {"codec": "hevc", "hdr": "hlg", "bit_depth": 10}),
    ("rotated", {"codec": "h264", "rotation": 90, "width": 320, "height": 240}),
    ("yuv444", {"chroma": 444, "bit_depth": 8, "hdr": None}),
    ("10bit", {"bit_depth": 10, "chroma": 420, "pix_fmt": "yuv420p10le"}),
    ("plain", {"interlaced": False, "hdr": None, "rotation": 0, "bit_depth": 8}),
])
def test_sources_that_need_work(clips: dict[str, Path], kind: str, facts: dict) -> None:
    video = tracks_of(clips[kind]).video
    assert video is not None
    assert {name: getattr(video, name) for name in facts} == facts


def test_languages() -> None:
    assert [normalize_language(c) for c in ("en", "ENG", "fra", "fre", "fr", "deu", None,
                                            "", "english", "xx")] == \
        ["eng", "eng", "fre", "fre", "fre", "ger", "und", "und", "und", "xx"]
    assert [bcp47(c) for c in ("eng", "fre", "und", "fil", "xyz")] == \
        ["en", "fr", None, "fil", "xyz"]


def test_names_without_a_language_and_duplicates() -> None:
    unknown = AudioTrack(index=1, language="und", codec="ac3", channels=2, default=False)
    commentary = AudioTrack(index=2, language="eng", codec="aac", channels=2,
                            default=False, title="Commentary")
    assert display_name(unknown) == "Unknown (stereo)"
    assert display_name(commentary) == "English (stereo, Commentary)"
    twins = (unknown, AudioTrack(index=3, language="und", codec="aac", channels=2,
                                 default=False))
    assert unique_names(twins) == ["Unknown (stereo)", "Unknown (stereo) 2"]
    sdh = SubtitleTrack(index=4, language="jpn", codec="ass", kind="text", forced=False,
                        default=False, hearing_impaired=True)
    assert display_name(sdh) == "Japanese (SDH)"


def test_unknown_subtitle_codecs_are_left_out() -> None:
    probed = {"streams": [
        {"index": 0, "codec_type": "subtitle", "codec_name": "dvb_teletext"},
        {"index": 1, "codec_type": "subtitle", "codec_name": "hdmv_pgs_subtitle",
         "tags": {"language": "ger"}, "disposition": {"forced": 1}}]}
    subtitles = parse_streams(probed, Path("x.mkv")).subtitles
    assert [(s.index, s.kind, s.language, s.forced) for s in subtitles] == \
        [(1, "image", "ger", True)]
