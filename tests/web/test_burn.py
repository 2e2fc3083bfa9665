"""Burning an image subtitle track into the picture (``?burn=``), through a real hlsd
(pserve + waitress): the burned rendition's segments decode, show the subtitle where
and when it is, and are the unburned picture elsewhere."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import m3u8
import pytest

from tests.helpers.server import Server, served
from tests.helpers.track_clips import BURN_BOX, FFMPEG, make_burn_film

pytestmark = pytest.mark.slow
TIMEOUT = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served(tmp_path_factory.mktemp("burn"), make_burn_film,
                profiles="\n240p 240 400 64\ncopy copy") as started:
        yield started


def _variants(server: Server, query: str) -> list[m3u8.Playlist]:
    status, _, body = server.get(f"/media/Burn.mkv/master.m3u8{query}")
    assert status == 200, body
    return m3u8.loads(body.decode()).playlists


def _mean_luma(server: Server, variant: m3u8.Playlist, at: float, area: tuple[int, int, int, int],
               tmp_path: Path) -> float:
    """The mean luma of ``area`` (x, y, w, h) in the frame at media time ``at`` (FFmpeg
    counts ``t`` from the segment's start: the grid here is every 2 s)."""
    segment = tmp_path / "segment.ts"
    status, _, body = server.get(variant.uri.replace("index.m3u8", f"{int(at // 2)}.ts"), timeout=30)
    assert status == 200, body
    segment.write_bytes(body)
    x, y, w, h = area
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(segment), "-vf",
                          f"select=gte(t\\,{at % 2}),crop={w}:{h}:{x}:{y},format=gray",
                          "-frames:v", "1", "-f", "rawvideo", "-"],
                         capture_output=True, timeout=TIMEOUT, check=True).stdout
    assert len(raw) == w * h
    return sum(raw) / len(raw)


def test_burned_rendition_shows_the_subtitle_and_decodes(server, tmp_path):
    plain = next(v for v in _variants(server, "") if "/240p/" in v.uri)
    burned = _variants(server, "?burn=1")
    assert [v.uri.split("/")[-2] for v in burned] == ["240p"]  # no copy of a burned picture
    assert burned[0].stream_info.resolution == plain.stream_info.resolution == (320, 240)
    x, y, w, h = BURN_BOX
    inside = (x + 10, y + 5, w - 20, h - 10)
    above = (x, y - 40, w, 30)
    assert _mean_luma(server, burned[0], 1.5, inside, tmp_path) > 225  # the white box
    assert _mean_luma(server, plain, 1.5, inside, tmp_path) < 180  # the test picture
    assert _mean_luma(server, burned[0], 1.5, above, tmp_path) == pytest.approx(
        _mean_luma(server, plain, 1.5, above, tmp_path), abs=6)
    assert _mean_luma(server, burned[0], 4.5, inside, tmp_path) == pytest.approx(
        _mean_luma(server, plain, 4.5, inside, tmp_path), abs=6)  # cleared at 3 s
    done = subprocess.run([FFMPEG, "-v", "error", "-i", server.url + burned[0].uri, "-f", "null", "-"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and done.stderr == "", done.stderr
