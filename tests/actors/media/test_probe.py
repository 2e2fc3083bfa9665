"""The prober against real ffprobe: what it reads, what it refuses, and its cache."""
from __future__ import annotations

import os
import subprocess
import stat
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from actors.media import AudioStream, MediaInfo, Prober
from actors.errors import HlsError as MediaError, NotFound, NotMedia, Unplayable
from tests.helpers import ffmpeg_tools
from tests.helpers.media import FFMPEG, make_clip

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- probing


def test_probe_reads_a_720p_h264_aac_clip(prober, clip720):
    info = prober.probe(clip720)
    video, audio = info.video, info.audio
    assert (video.codec, video.width, video.height, video.pix_fmt) == ("h264", 1280, 720, "yuv420p")
    assert video.fps == 30.0 and video.level == 31 and video.rotation == 0
    assert video.profile == "Constrained Baseline"  # what x264 ultrafast writes
    assert video.bit_rate and video.bit_rate > 0
    assert audio == AudioStream(index=1, codec="aac", channels=1, sample_rate=48000,
                                bit_rate=audio.bit_rate, profile="LC")
    assert info.duration == pytest.approx(3.0, abs=1 / 30)
    assert info.size == clip720.stat().st_size
    assert info.mtime == pytest.approx(clip720.stat().st_mtime)
    assert "mp4" in info.format_name and info.keyframes is None


def test_probe_with_keyframes_indexes_the_video(prober, clip720):
    info = prober.probe(clip720, keyframes=True)
    assert info.keyframes == (0.0, 2.0)
    assert info.keyframe_bytes is None  # from the MP4's stss: no packet sizes read
    assert replace(info, keyframes=None) == prober.probe(clip720)


def test_probe_of_a_container_without_index_counts_the_bytes(prober, clip720, media_clips):
    """MPEG-TS has no keyframe index: the packet pass finds the keyframes and sizes."""
    ts = media_clips / "hd.ts"
    if not ts.exists():
        subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(clip720), "-c", "copy", str(ts)],
                       check=True, timeout=60)
    info = prober.probe(ts, keyframes=True)
    assert info.keyframes == pytest.approx((0.0, 2.0), abs=0.05)
    assert info.keyframe_bytes is not None and len(info.keyframe_bytes) == 3
    assert info.keyframe_bytes[0] == 0 < info.keyframe_bytes[1] < info.keyframe_bytes[2]
    assert info.keyframe_bytes[2] < info.size
    assert replace(info, keyframes=None, keyframe_bytes=None) == prober.probe(ts)


@pytest.fixture
def counting_ffprobe(tmp_path: Path) -> tuple[str, Path]:
    """An ffprobe that logs each run and is slow enough for callers to overlap."""
    script, log = ffmpeg_tools.counting_ffprobe(tmp_path, delay=0.3)
    return str(script), log


def runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_probe_runs_ffprobe_once_for_concurrent_callers(counting_ffprobe, clip720):
    script, log = counting_ffprobe
    prober = Prober(script)
    results: list[MediaInfo] = []
    callers = [threading.Thread(target=lambda: results.append(prober.probe(clip720)))
               for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(30)
    assert len(results) == 8 and all(info == results[0] for info in results)
    assert runs(log) == 1
    prober.probe(clip720)
    prober.probe(clip720, keyframes=True)
    prober.probe(clip720, keyframes=True)
    assert runs(log) == 1  # the keyframes come from the MP4's stss: no ffprobe pass


def test_probe_runs_again_when_the_file_changes(counting_ffprobe, media_clips):
    script, log = counting_ffprobe
    prober = Prober(script)
    clip = make_clip(media_clips / "changing.mp4", 1, width=320, height=180)
    first = prober.probe(clip)
    os.utime(clip, ns=(time.time_ns(), clip.stat().st_mtime_ns + 10**9))
    second = prober.probe(clip)
    assert runs(log) == 2 and second.mtime != first.mtime


@pytest.mark.parametrize("name, content", [
    ("text.mp4", b"just some text, not a movie\n" * 50),
    ("noise.mkv", bytes(range(256)) * 40),
    ("empty.mp4", b""),
])
def test_probe_refuses_files_that_are_not_media(prober, media_clips, name, content):
    path = media_clips / name
    path.write_bytes(content)
    with pytest.raises(MediaError) as refused:
        prober.probe(path)
    assert (type(refused.value), refused.value.code) == (NotMedia, "not_media")
    assert str(media_clips) not in refused.value.detail  # no server path in what clients see


def test_probe_refuses_a_truncated_file(prober, media_clips):
    whole = make_clip(media_clips / "whole.mp4", 2, width=320, height=180)
    cut = media_clips / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # the index is at the end
    with pytest.raises(MediaError) as refused:
        prober.probe(cut)
    assert isinstance(refused.value, NotMedia)


def test_probe_refuses_audio_only(prober, media_clips):
    sound = make_clip(media_clips / "sound.mp4", 1, video=None)
    with pytest.raises(MediaError) as refused:
        prober.probe(sound)
    assert (type(refused.value), refused.value.code) == (Unplayable, "no_video")


def test_probe_refuses_a_playlist_dressed_as_a_movie(prober, media_clips, tmp_path):
    """Without a demuxer whitelist ffprobe would follow it to a file outside the root."""
    outside = make_clip(tmp_path / "outside.ts", 1, width=320, height=180)
    trap = media_clips / "trap.mp4"
    trap.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\n{outside}\n#EXT-X-ENDLIST\n")
    with pytest.raises(MediaError) as refused:
        prober.probe(trap)
    assert isinstance(refused.value, NotMedia)


def test_probe_of_a_missing_file_is_not_found(prober, media_clips):
    with pytest.raises(MediaError) as refused:
        prober.probe(media_clips / "gone.mp4")
    assert isinstance(refused.value, NotFound)


def test_probe_timeout_kills_ffprobe_and_is_not_cached(tmp_path, clip720):
    pid_file = tmp_path / "pid"
    script = tmp_path / "ffprobe"
    script.write_text(f'#!/bin/sh\necho $$ >> "{pid_file}"\nexec sleep 30\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    prober = Prober(str(script), timeout=0.5)
    for attempt in (1, 2):
        started = time.monotonic()
        with pytest.raises(MediaError) as refused:
            prober.probe(clip720)
        assert refused.value.code == "probe_timeout" and time.monotonic() - started < 5
        pids = [int(line) for line in pid_file.read_text().split()]
        assert len(pids) == attempt
        assert not psutil.pid_exists(pids[-1])


