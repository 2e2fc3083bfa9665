"""Every variant's segments are what its master line says: size and frame rate, never
above the source's upright size.

A regression test: a 640x360 10-bit H.264 file (nothing fits, so the smallest profile is
scaled down to the source) had a master saying RESOLUTION=640x360 over segments encoded
at 854x480, because the transcoder looked its profile up in the settings, not the plan.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import m3u8
import pytest

from actors.system import HlsSystem
from actors.media import RenditionKey
from tests.helpers.media import FFMPEG, FFPROBE
from tests.helpers.runtime import leftover_runs, tagged_pids
from tests.helpers.settings import settings_for

pytestmark = pytest.mark.timeout(240)

LADDER = "\n copy copy\n 720p 720 2800k 128k\n 480p 480 1400k 96k\n 360p 360 600k 64k"
# The ladder the bug was seen with: nothing fits a 640x360 10-bit file.
NO_FIT_LADDER = "\n copy copy\n 720p 720 2800k 128k\n 480p 480 1400k 96k"


@dataclass(frozen=True)
class Source:
    name: str
    width: int
    height: int
    rate: str  # an FFmpeg rational
    video: tuple[str, ...]


H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
SOURCES = (
    Source("h264-720p30.mp4", 1280, 720, "30", H264),
    Source("h264-10bit-360p.mp4", 640, 360, "30",
           ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le")),
    Source("mpeg4-480p25.mkv", 854, 480, "25", ("-c:v", "mpeg4", "-q:v", "5")),
    Source("h264-portrait.mp4", 720, 1280, "30", H264),
    Source("h264-1080p23976.mp4", 1920, 1080, "24000/1001", H264),
)
CASES = [(source, LADDER) for source in SOURCES] + [(SOURCES[1], NO_FIT_LADDER)]


def make_source(root: Path, source: Source, seconds: float = 4.0) -> Path:
    path = root / source.name
    command = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "lavfi", "-i", f"testsrc2=size={source.width}x{source.height}:rate={source.rate}",
               "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
               "-t", str(seconds), *source.video, "-g", "30", "-c:a", "aac", "-b:a", "96k", str(path)]
    subprocess.run(command, check=True, timeout=120, capture_output=True)
    return path


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("sizes")
    for source in SOURCES:
        make_source(root, source)
    return root


def probe_video(path: Path) -> tuple[int, int, Fraction]:
    """(width, height, frame rate) of the first video stream, as a player sees them."""
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height,r_frame_rate", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    stream = json.loads(out)["streams"][0]
    return stream["width"], stream["height"], Fraction(stream["r_frame_rate"])


@pytest.mark.parametrize("source, ladder", CASES,
                         ids=[f"{s.name}-{'ladder' if l == LADDER else 'no-fit'}" for s, l in CASES])
def test_every_variant_is_the_size_and_rate_its_master_says(library, tmp_path, source, ladder):
    work = tmp_path / "work"
    system = HlsSystem(settings_for(library, work, profiles=ladder, segment_seconds=2)).start()
    try:
        session_id = system.open_session(source.name)["id"]
        master = m3u8.loads(system.master_playlist(session_id, lambda name: name))
        assert master.is_variant and master.playlists
        width, height, rate = probe_video(library / source.name)
        for variant in master.playlists:
            says_width, says_height = variant.stream_info.resolution
            says_rate = variant.stream_info.frame_rate
            segment = tmp_path / f"{variant.uri}-0.ts"
            with system.segment(session_id, RenditionKey.video(variant.uri), 0) as opened:
                segment.write_bytes(opened.read())
            got_width, got_height, got_rate = probe_video(segment)
            where = f"{source.name} {variant.uri}"
            assert (got_width, got_height) == (says_width, says_height), where
            assert float(got_rate) == pytest.approx(says_rate, abs=0.0005), where
            assert float(got_rate) == pytest.approx(float(rate), abs=0.0005), where
            assert got_width <= width and got_height <= height, where
    finally:
        system.stop()
    assert tagged_pids(work) == [], "an FFmpeg outlived hlsd"
    assert leftover_runs(work) == [], "a run dir outlived hlsd"
