"""Switching quality through a real hlsd (pserve + waitress): segments of different
renditions splice cleanly, and a player toggling rendition cannot start a restart storm."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Iterator

import m3u8
import pytest

from actors.run import SWITCH_HOLD
from tests.helpers.media import make_clip
from tests.helpers.server import Server, spawned, start_server
from tests.helpers.track_clips import FFMPEG, FFPROBE

pytestmark = pytest.mark.slow
TIMEOUT = 60
FPS = 25


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("switching")
    media = base / "media"
    media.mkdir()
    make_clip(media / "clip.mp4", 12, width=320, height=240, fps=FPS, gop=1.0)
    started = start_server(base, media, segment_seconds=1,
                           profiles="\n180p 180 300 64\n120p 120 200 64\ncopy copy")
    try:
        yield started
    finally:
        started.stop()
        assert not spawned(started.work_dir)


def _open(server: Server) -> tuple[str, m3u8.M3U8]:
    status, headers, body = server.get("/media/clip.mp4/master.m3u8")
    assert status == 200, body
    return headers["X-Session-Id"], m3u8.loads(body.decode())


def _segment_uri(variant: m3u8.Playlist, number: int) -> str:
    return variant.uri.replace("index.m3u8", f"{number}.ts")


def _probe(path: Path, entries: str) -> dict:
    return json.loads(subprocess.run(
        [FFPROBE, "-v", "error", "-of", "json", "-select_streams", "v", "-show_entries",
         entries, str(path)], capture_output=True, timeout=TIMEOUT, check=True).stdout)


def test_segments_of_three_renditions_splice_on_one_timeline(server, tmp_path):
    _, master = _open(server)
    variants = master.playlists[:3]
    assert len({v.stream_info.resolution for v in variants}) == 3
    start = 4
    joined = tmp_path / "joined.ts"
    with joined.open("wb") as out:
        for offset, variant in enumerate(variants):
            status, _, body = server.get(_segment_uri(variant, start + offset), timeout=30)
            assert status == 200, body
            part = tmp_path / f"{offset}.ts"
            part.write_bytes(body)
            stream = _probe(part, "stream=width,height")["streams"][0]
            assert (stream["width"], stream["height"]) == variant.stream_info.resolution
            first = _probe(part, "packet=pts_time,flags")["packets"][0]
            assert first["flags"].startswith("K")  # every segment opens on a keyframe
            assert float(first["pts_time"]) == pytest.approx(10 + start + offset, abs=1 / FPS / 2)
            out.write(body)
    done = subprocess.run([FFMPEG, "-v", "error", "-i", str(joined), "-f", "null", "-"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    frames = sorted(float(f["pts_time"]) for f in _probe(joined, "frame=pts_time")["frames"])
    assert len(frames) == 3 * FPS
    steps = [b - a for a, b in zip(frames, frames[1:])]
    assert max(steps) == pytest.approx(1 / FPS, abs=1e-3)
    assert min(steps) == pytest.approx(1 / FPS, abs=1e-3)


def test_toggling_rendition_every_segment_starts_a_bounded_number_of_runs(server):
    """A player asking for segments 0..5, each of the other rendition than the last, as
    fast as they come: without a bound each would start an FFmpeg at once (some 0.2 s
    apart); with it, one starts per ``SWITCH_HOLD`` s at most, and every one is served."""
    session_id, master = _open(server)
    began = time.monotonic()
    statuses = []
    for number in range(6):
        variant = master.playlists[number % 2]
        status, _, body = server.get(_segment_uri(variant, number), timeout=30)
        statuses.append(status)
        assert status == 200 and body[:1] == b"G", (number, status)  # a TS packet
    elapsed = time.monotonic() - began
    status, _, body = server.get(f"/api/v1/sessions/{session_id}")
    assert status == 200
    runs = json.loads(body)["video_runs"]
    assert statuses == [200] * 6
    assert 2 <= runs <= 1 + int(elapsed // SWITCH_HOLD), (runs, elapsed)
