"""The HLS rules checker (tests/helpers/hls_rules.py) fails where a rule is broken: each
case below breaks one rule of a playlist the checker otherwise accepts."""
from __future__ import annotations

import pytest

from tests.helpers import hls_rules

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=800000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=25.000,VIDEO-RANGE=SDR
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=9000000,AVERAGE-BANDWIDTH=8000000,RESOLUTION=3840x2160,CODECS="hvc1.2.4.L150.B0,mp4a.40.2",FRAME-RATE=25.000,VIDEO-RANGE=PQ
copy/index.m3u8
"""
MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-TARGETDURATION:5
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000,
0.m4s
#EXTINF:4.520,
1.m4s
#EXT-X-ENDLIST
"""
IFRAMES = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:10
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-I-FRAMES-ONLY
#EXT-X-MAP:URI="iframes.mp4",BYTERANGE="800@0"
#EXTINF:10.000,
#EXT-X-BYTERANGE:5000@800
iframes.mp4
#EXT-X-ENDLIST
"""
IMAGES = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:1000
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-IMAGES-ONLY
#EXTINF:95.000,
#EXT-X-TILES:RESOLUTION=320x180,LAYOUT=10x10,DURATION=10.000
0.jpg
#EXT-X-ENDLIST
"""


def test_the_valid_playlists_keep_every_rule():
    assert hls_rules.check_master(MASTER) == []
    for text in (MEDIA, IFRAMES, IMAGES):
        assert hls_rules.check_media(text) == []


@pytest.mark.parametrize("old, new, broken", [
    ("#EXT-X-INDEPENDENT-SEGMENTS\n", "", "INDEPENDENT-SEGMENTS"),
    (",VIDEO-RANGE=SDR", "", "VIDEO-RANGE"),
    ("VIDEO-RANGE=SDR", "VIDEO-RANGE=HLG", "SDR"),
    ("720p/index.m3u8\n", "", "URI"),
])
def test_a_master_breaking_a_rule_is_caught(old, new, broken):
    found = hls_rules.check_master(MASTER.replace(old, new))
    assert any(broken in rule for rule in found), found


@pytest.mark.parametrize("text, old, new, broken", [
    (MEDIA, "#EXT-X-VERSION:7", "#EXT-X-VERSION:3", "version 3"),
    (MEDIA, "#EXT-X-TARGETDURATION:5", "#EXT-X-TARGETDURATION:4", "TARGETDURATION"),
    (MEDIA, '#EXT-X-MAP:URI="init.mp4"\n', "", "before any #EXT-X-MAP"),
    (MEDIA, "1.m4s\n", "", "not followed by its URI"),
    (MEDIA, "#EXT-X-ENDLIST\n", "", "ENDLIST"),
    (MEDIA, "#EXTINF", "#EXT-X-EXTINF", "unknown tag"),
    (IFRAMES, "#EXT-X-BYTERANGE:5000@800\n", "", "BYTERANGE"),
    (IMAGES, "LAYOUT=10x10", "LAYOUT=3x3", "covers less"),
    (IMAGES, "#EXT-X-TILES:RESOLUTION=320x180,LAYOUT=10x10,DURATION=10.000\n", "", "TILES"),
])
def test_a_media_playlist_breaking_a_rule_is_caught(text, old, new, broken):
    found = hls_rules.check_media(text.replace(old, new))
    assert any(broken in rule for rule in found), found
