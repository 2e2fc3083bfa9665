"""Sources a browser cannot show as they are, through a real hlsd (pserve + waitress):
interlaced MPEG-2 in TS, PQ HEVC 10-bit, a rotated phone clip, H.264 4:4:4 and 10-bit.
None is offered as an H.264 ``copy`` (the PQ HEVC one is offered as its passthrough
variant, fMP4 with VIDEO-RANGE=PQ, beside the H.264 ones); every H.264 variant's
segments decode, are progressive 8-bit 4:2:0 H.264 tagged BT.709, upright, and exactly
the size the master announces."""
from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from pathlib import Path
from typing import Iterator

import m3u8
import pytest

from tests.helpers.server import Server, served
from tests.helpers.track_clips import FFMPEG, FFPROBE, make_video

pytestmark = pytest.mark.slow
TIMEOUT = 60
KINDS = {"interlaced": "interlaced.ts", "pq": "pq.mkv", "rotated": "rotated.mp4",
         "yuv444": "yuv444.mp4", "10bit": "10bit.mp4"}


PROFILES = "\n240p 240 400 64\n120p 120 200 64\ncopy copy"


def make_sources(media: Path, seconds: float) -> None:
    """One short file of each kind in ``KINDS``."""
    for kind in KINDS:
        assert make_video(media, kind, seconds=seconds).name == KINDS[kind]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served(tmp_path_factory.mktemp("sources"), lambda media: make_sources(media, 4),
                profiles=PROFILES) as started:
        yield started


def _idet(url: str) -> dict[str, int]:
    """What FFmpeg's interlace detector sees in every frame (combing = TFF/BFF)."""
    done = subprocess.run([FFMPEG, "-nostdin", "-v", "info", "-i", url, "-vf", "idet",
                           "-f", "null", "-"], capture_output=True, text=True, timeout=TIMEOUT)
    line = next(line for line in done.stderr.splitlines() if "Multi frame detection" in line)
    counts = re.findall(r"(TFF|BFF|Progressive|Undetermined): *(\d+)", line)
    return {name: int(count) for name, count in counts}


def _streams(url: str) -> tuple[dict, list[dict]]:
    probed = json.loads(subprocess.run(
        [FFPROBE, "-v", "error", "-of", "json", "-select_streams", "v", "-show_streams",
         "-show_entries", "frame=interlaced_frame,side_data_list", url],
        capture_output=True, timeout=TIMEOUT, check=True).stdout)
    return probed["streams"][0], probed["frames"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_variant_is_progressive_bt709_upright_and_announced(server, kind):
    status, headers, body = server.get(f"/media/{urllib.parse.quote(KINDS[kind])}/master.m3u8")
    assert status == 200, body
    master = m3u8.loads(body.decode())
    assert master.playlists
    copies = [variant for variant in master.playlists if "/copy/" in variant.uri]
    if kind == "pq":  # HEVC Main 10 PQ: passed through as it is, beside the tone-mapped ones
        assert [v.stream_info.video_range for v in copies] == ["PQ"]
        assert copies[0].stream_info.codecs.startswith("hvc1.2.")
    else:
        assert copies == []
    for variant in (v for v in master.playlists if "/copy/" not in v.uri):
        assert variant.stream_info.video_range == "SDR"
        width, height = variant.stream_info.resolution
        if kind == "rotated":
            assert height > width  # 320x240 coded, turned 90 degrees: portrait
        stream, frames = _streams(server.url + variant.uri.replace("index.m3u8", "0.ts"))
        assert (stream["width"], stream["height"]) == (width, height)
        assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
        assert stream.get("field_order", "progressive") == "progressive"
        assert (stream["color_transfer"], stream["color_primaries"]) == ("bt709", "bt709")
        assert frames and all(f["interlaced_frame"] == 0 for f in frames)
        assert not any(side.get("side_data_type") == "Display Matrix"
                       for f in frames for side in f.get("side_data_list", []))
        if kind == "interlaced":  # combing in the source, none in the output
            source = _idet(f"file:{server.work_dir.parent / 'media' / KINDS[kind]}")
            output = _idet(server.url + variant.uri.replace("index.m3u8", "0.ts"))
            assert source["TFF"] > source["Progressive"], source
            assert (output["TFF"] + output["BFF"]) * 10 < sum(output.values()), output
        done = subprocess.run([FFMPEG, "-v", "error", "-i", server.url + variant.uri,
                               "-f", "null", "-"], capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0 and done.stderr == "", done.stderr
