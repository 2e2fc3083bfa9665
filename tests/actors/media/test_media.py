"""actors.media against real ffprobe and FFmpeg, on short clips made per module."""
from __future__ import annotations

import math
import os
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import m3u8
import psutil
import pytest
from hypothesis import given, settings, strategies as st

from actors import media
from actors.media import recipe
from actors.media import (
    MEDIA_EXTENSIONS, TIMELINE_OFFSET, AudioStream, ListedSegment, MediaInfo,
    Prober, VideoStream, copies_audio, ffmpeg_args, list_media, master_playlist,
    media_playlist, parse_segment_list_line, reaches_its_boundary, renditions, resolve_media,
    segment_boundaries, segment_for_time,
)
from actors.errors import HlsError as MediaError, NotFound, NotMedia, Unplayable
from actors.settings import DEFAULT_PROFILES, Profile
from tests.helpers.media import FFMPEG, FFPROBE, make_clip

pytestmark = pytest.mark.timeout(60)

COPY, P720, P480 = DEFAULT_PROFILES
P360 = Profile("360p", 360, 800, 96)
SEGMENT = 4.0
RUN_TIMEOUT = 45.0


# ---------------------------------------------------------------- resolve_media

@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A media root with traps in it, and a folder outside it."""
    base = tmp_path_factory.mktemp("library")
    root, outside = base / "root", base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    for name in ("a.mp4", "sub/b.mkv", "Upper.MOV", "café.webm", ".hidden.mp4", "notes.txt",
                 "sub/.secret.mkv"):
        (root / name).write_bytes(b"x")
    (root / "dir.mp4").mkdir()
    (outside / "outside.mp4").write_bytes(b"x")
    (outside / "c.mp4").write_bytes(b"x")
    (root / "link_in.mp4").symlink_to(root / "a.mp4")
    (root / "link_out.mp4").symlink_to(outside / "outside.mp4")
    (root / "relative_out.mp4").symlink_to("../outside/outside.mp4")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    (root / "fake.mp4").symlink_to(root / "notes.txt")
    return root, outside


@pytest.mark.parametrize("media_id, expected", [
    ("a.mp4", "a.mp4"),
    ("sub/b.mkv", "sub/b.mkv"),
    ("Upper.MOV", "Upper.MOV"),
    ("café.webm", "café.webm"),
    ("link_in.mp4", "a.mp4"),
])
def test_resolve_accepts_media_inside_the_root(library, media_id, expected):
    root, _ = library
    assert resolve_media(root, media_id) == Path(os.path.realpath(root / expected))


@pytest.mark.parametrize("media_id", [
    "", "../outside/outside.mp4", "sub/../../outside/outside.mp4", "sub/../a.mp4",
    "./a.mp4", "sub//b.mkv", "a.mp4/", "link_out.mp4", "relative_out.mp4",
    "dirlink/c.mp4", "notes.txt", "fake.mp4", "sub", "dir.mp4", "missing.mp4",
    ".hidden.mp4", "sub/.secret.mkv", "sub\\b.mkv", "a.mp4\x00", "a.mp4\x00.txt",
    "..", "%2e%2e/outside/outside.mp4", "\udcff.mp4",
])
def test_resolve_refuses_everything_else(library, media_id):
    root, _ = library
    with pytest.raises(MediaError) as refused:
        resolve_media(root, media_id)
    assert (type(refused.value), refused.value.code) == (NotFound, "not_found")


def test_resolve_refuses_absolute_paths_even_inside_the_root(library):
    root, outside = library
    for absolute in (str(outside / "outside.mp4"), str(root / "a.mp4")):
        with pytest.raises(MediaError):
            resolve_media(root, absolute)


SEGMENTS = st.sampled_from([
    "a.mp4", "sub", "b.mkv", "..", ".", "", "link_in.mp4", "link_out.mp4", "dirlink",
    "c.mp4", "outside", "outside.mp4", "notes.txt", ".hidden.mp4", "dir.mp4", "fake.mp4",
    "relative_out.mp4", "%2e%2e", "..\\outside.mp4", "\x00", "root",
]) | st.text(max_size=6)


@settings(max_examples=400, deadline=None)
@given(lead=st.sampled_from(["", "/", "//", "../", "./"]),
       parts=st.lists(SEGMENTS, min_size=1, max_size=5))
def test_resolve_never_leaves_the_root(library, lead, parts):
    root, outside = library
    real_root = os.path.realpath(root)
    allowed = {os.path.realpath(root / name) for name in ("a.mp4", "sub/b.mkv", "Upper.MOV")}
    try:
        found = resolve_media(root, lead + "/".join(parts))
    except MediaError as refused:
        assert isinstance(refused, NotFound)
        return
    assert str(found) in allowed
    assert os.path.commonpath([real_root, found]) == real_root
    assert found.suffix.lower() in MEDIA_EXTENSIONS and found.is_file()


def test_list_media_lists_only_what_resolve_accepts(library):
    root, _ = library
    assert list_media(root) == ["Upper.MOV", "a.mp4", "café.webm", "link_in.mp4", "sub/b.mkv"]


# ---------------------------------------------------------------- probing

@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def clip720(clips: Path) -> Path:
    return make_clip(clips / "hd.mp4", 3, gop=2.0)


@pytest.fixture(scope="module")
def prober() -> Prober:
    return Prober(FFPROBE)


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
    assert info.keyframe_bytes is not None and len(info.keyframe_bytes) == 3
    assert info.keyframe_bytes[0] == 0 < info.keyframe_bytes[1] < info.keyframe_bytes[2]
    assert info.keyframe_bytes[2] < info.size
    assert replace(info, keyframes=None, keyframe_bytes=None) == prober.probe(clip720)


@pytest.fixture
def counting_ffprobe(tmp_path: Path) -> tuple[str, Path]:
    """An ffprobe that logs each run and is slow enough for callers to overlap."""
    log = tmp_path / "runs.log"
    script = tmp_path / "ffprobe"
    script.write_text(f'#!/bin/sh\necho run >> "{log}"\nsleep 0.3\nexec {FFPROBE} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
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
    assert runs(log) == 2  # the keyframe pass, once


def test_probe_runs_again_when_the_file_changes(counting_ffprobe, clips):
    script, log = counting_ffprobe
    prober = Prober(script)
    clip = make_clip(clips / "changing.mp4", 1, width=320, height=180)
    first = prober.probe(clip)
    os.utime(clip, ns=(time.time_ns(), clip.stat().st_mtime_ns + 10**9))
    second = prober.probe(clip)
    assert runs(log) == 2 and second.mtime != first.mtime


@pytest.mark.parametrize("name, content", [
    ("text.mp4", b"just some text, not a movie\n" * 50),
    ("noise.mkv", bytes(range(256)) * 40),
    ("empty.mp4", b""),
])
def test_probe_refuses_files_that_are_not_media(prober, clips, name, content):
    path = clips / name
    path.write_bytes(content)
    with pytest.raises(MediaError) as refused:
        prober.probe(path)
    assert (type(refused.value), refused.value.code) == (NotMedia, "not_media")
    assert str(clips) not in refused.value.detail  # no server path in what clients see


def test_probe_refuses_a_truncated_file(prober, clips):
    whole = make_clip(clips / "whole.mp4", 2, width=320, height=180)
    cut = clips / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # the index is at the end
    with pytest.raises(MediaError) as refused:
        prober.probe(cut)
    assert isinstance(refused.value, NotMedia)


def test_probe_refuses_audio_only(prober, clips):
    sound = make_clip(clips / "sound.mp4", 1, video=None)
    with pytest.raises(MediaError) as refused:
        prober.probe(sound)
    assert (type(refused.value), refused.value.code) == (Unplayable, "no_video")


def test_probe_refuses_a_playlist_dressed_as_a_movie(prober, clips, tmp_path):
    """Without a demuxer whitelist ffprobe would follow it to a file outside the root."""
    outside = make_clip(tmp_path / "outside.ts", 1, width=320, height=180)
    trap = clips / "trap.mp4"
    trap.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\n{outside}\n#EXT-X-ENDLIST\n")
    with pytest.raises(MediaError) as refused:
        prober.probe(trap)
    assert isinstance(refused.value, NotMedia)


def test_probe_of_a_missing_file_is_not_found(prober, clips):
    with pytest.raises(MediaError) as refused:
        prober.probe(clips / "gone.mp4")
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


# ---------------------------------------------------------------- pure planning

def fake_info(*, codec: str = "h264", width: int = 1280, height: int = 720,
              fps: float = 30.0, duration: float = 20.0, end: float | None = None,
              profile: str | None = "High", level: int | None = 31,
              pix_fmt: str = "yuv420p", rotation: int = 0, audio: str | None = "aac",
              keyframes: tuple[float, ...] | None = None) -> MediaInfo:
    video = VideoStream(0, codec, width, height, fps, pix_fmt, 3_000_000, profile, level,
                        duration if end is None else end, rotation)
    sound = AudioStream(1, audio, 2, 48000, 128_000, "LC") if audio else None
    sizes = None if keyframes is None else tuple(range(0, 100_000 * (len(keyframes) + 1), 100_000))
    return MediaInfo(Path("/m/x.mp4"), 10**7, 0.0, duration, video, sound, "mov",
                     keyframes=keyframes, keyframe_bytes=sizes)


@pytest.mark.parametrize("info, expected", [
    (fake_info(), (COPY, P720, P480)),
    (fake_info(codec="mpeg4", profile="Simple Profile"), (P720, P480)),
    (fake_info(width=854, height=480), (COPY, P480)),
    (fake_info(width=854, height=480, pix_fmt="yuv420p10le", profile="High 10"), (P480,)),
    (fake_info(width=1920, height=1080, rotation=90), (P720, P480)),
    (fake_info(width=1080, height=1920, rotation=270), (P720, P480)),
])
def test_renditions_fit_the_source_and_never_upscale(info, expected):
    assert renditions(info, DEFAULT_PROFILES) == expected


def test_renditions_scale_the_smallest_profile_down_when_none_fits():
    small = fake_info(codec="mpeg4", width=640, height=361)
    (only,) = renditions(small, DEFAULT_PROFILES)
    assert (only.name, only.height) == ("480p", 360)
    assert only.video_kbps == round(1400 * (360 / 480) ** 2)
    with pytest.raises(MediaError) as refused:
        renditions(small, (COPY,))
    assert isinstance(refused.value, Unplayable)


@pytest.mark.parametrize("audio, profile, copied", [
    ("aac", COPY, True), ("mp3", COPY, False), ("ac3", COPY, False), ("aac", P720, False),
])
def test_only_aac_is_copied_and_only_under_copy(audio, profile, copied):
    assert copies_audio(fake_info(audio=audio), profile) is copied


@pytest.mark.parametrize("duration, end, expected", [
    (10.0, None, (0.0, 4.0, 8.0, 10.0)),
    (9.5, None, (0.0, 4.0, 8.0, 9.5)),
    (8.5, None, (0.0, 4.0, 8.5)),  # a half-second tail joins the segment before
    (3.0, None, (0.0, 3.0)),
    (12.0, 7.5, (0.0, 4.0, 12.0)),  # audio outlasts the video: no cut without frames
])
def test_transcode_boundaries_are_multiples_of_the_segment(duration, end, expected):
    info = fake_info(duration=duration, end=end)
    assert segment_boundaries(info, P720, SEGMENT) == expected


def test_copy_boundaries_follow_the_keyframes_greedily():
    keyframes = (0.0, 1.0, 2.5, 3.9999, 5.0, 9.0, 20.0, 21.5)
    info = fake_info(duration=22.0, keyframes=keyframes)
    # 3.9999 is within half a frame of 4; then nothing until 9; 20 after a sparse stretch.
    assert segment_boundaries(info, COPY, SEGMENT) == (0.0, 3.9999, 9.0, 20.0, 22.0)
    with pytest.raises(ValueError):
        segment_boundaries(fake_info(), COPY, SEGMENT)


@settings(max_examples=200, deadline=None)
@given(duration=st.floats(0.5, 3600), segment=st.floats(1, 10),
       gaps=st.lists(st.floats(0.1, 12), min_size=0, max_size=60))
def test_boundaries_always_tile_the_whole_file(duration, segment, gaps):
    keyframes = [0.0]
    for gap in gaps:
        keyframes.append(round(keyframes[-1] + gap, 6))
    info = fake_info(duration=duration, keyframes=tuple(k for k in keyframes if k < duration))
    for profile in (COPY, P720):
        bounds = segment_boundaries(info, profile, segment)
        assert bounds[0] == 0.0 and bounds[-1] == duration
        assert all(a < b for a, b in zip(bounds, bounds[1:]))
        assert all(b - a >= segment - 1 / 60 for a, b in zip(bounds, bounds[1:-1]))
        if profile is P720:
            assert all(b == pytest.approx(round(b / segment) * segment) for b in bounds[1:-1])
        else:
            assert set(bounds[1:-1]) <= set(keyframes)


def test_segment_for_time_clamps_to_the_file():
    bounds = (0.0, 4.0, 8.0, 10.0)
    cases = {-1.0: 0, 0.0: 0, 3.999: 0, 4.0: 1, 7.5: 1, 8.0: 2, 10.0: 2, 99.0: 2}
    assert {t: segment_for_time(bounds, t) for t in cases} == cases


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


def test_master_playlist_never_offers_an_upscale(prober, clips):
    small = make_clip(clips / "small.mkv", 1, width=640, height=360, video="mpeg4")
    info = prober.probe(small)
    master = m3u8.loads(master_playlist(info, renditions(info, DEFAULT_PROFILES),
                                        lambda p: p.name, SEGMENT))
    assert [(v.uri, v.stream_info.resolution) for v in master.playlists] == [("480p", (640, 360))]


# ---------------------------------------------------------------- FFmpeg runs

def test_ffmpeg_args_read_only_files_and_seek_before_the_input():
    info = fake_info(keyframes=(0.0, 4.0, 8.0, 12.0, 16.0))
    bounds = segment_boundaries(info, COPY, SEGMENT)
    for profile in (COPY, P720):
        first = ffmpeg_args(info, profile, bounds, 0, Path("/w/run"), 5, 6)
        later = ffmpeg_args(info, profile, bounds, 2, Path("/w/run"), 5, 6)
        assert "-ss" not in first
        assert later[later.index("-ss") + 1] == "8" and later.index("-ss") < later.index("-i")
        for args in (first, later):
            assert args[args.index("-i") + 1] == "file:/m/x.mp4"
            assert args[args.index("-protocol_whitelist") + 1] == "file"
            assert args.index("-protocol_whitelist") < args.index("-i")
            assert "-format_whitelist" in args and args[-1] == "file:/w/run/%d.ts"
            assert args[args.index("-segment_list") + 1] == "pipe:6"
            assert args[args.index("-progress") + 1] == "pipe:5"
        assert later[later.index("-segment_start_number") + 1] == "2"
        assert later[later.index("-output_ts_offset") + 1] == "18"
        assert later[later.index("-segment_times") + 1] == "22,26,30"
    with pytest.raises(ValueError):
        ffmpeg_args(info, P720, bounds, len(bounds) - 1, Path("/w"), 5, 6)


def test_ffmpeg_args_transcode_audio_that_copy_cannot_keep():
    info = fake_info(audio="mp3", keyframes=(0.0, 4.0))
    bounds = segment_boundaries(info, COPY, SEGMENT)
    args = ffmpeg_args(info, COPY, bounds, 0, Path("/w"), 5, 6)
    assert args[args.index("-c:v") + 1] == "copy" and args[args.index("-c:a") + 1] == "aac"
    aac = fake_info(keyframes=(0.0, 4.0))
    args = ffmpeg_args(aac, COPY, bounds, 0, Path("/w"), 5, 6)
    assert args[args.index("-c:a") + 1] == "copy"


def test_parse_segment_list_line_returns_the_media_timeline():
    assert parse_segment_list_line("7.ts,0.000000,42.500000\n") == ListedSegment(7, "7.ts", 32.5)


@dataclass
class Run:
    out_dir: Path
    listed: list[tuple[ListedSegment, int]]  # each with its file size when it was listed
    stderr: str


def run_ffmpeg(info: MediaInfo, profile: Profile, bounds: tuple[float, ...],
               start_segment: int, out_dir: Path, *, stop_after: int | None = None) -> Run:
    """Spawn FFmpeg as the transcoder will, and read its segment list as it comes;
    SIGTERM it once ``stop_after`` segments are listed."""
    out_dir.mkdir()
    progress_read, progress_write = os.pipe()
    list_read, list_write = os.pipe()
    args = ffmpeg_args(info, profile, bounds, start_segment, out_dir, progress_write, list_write)
    process = subprocess.Popen([FFMPEG, *args], pass_fds=(progress_write, list_write),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    os.close(progress_write)
    os.close(list_write)
    errors: list[bytes] = []
    progress, stderr = os.fdopen(progress_read, "rb"), process.stderr
    assert stderr is not None
    drains = [threading.Thread(target=progress.read),
              threading.Thread(target=lambda: errors.append(stderr.read()))]
    watchdog = threading.Timer(RUN_TIMEOUT, process.kill)
    for thread in (*drains, watchdog):
        thread.start()
    listed = []
    try:
        with open(list_read) as segment_list:
            for line in segment_list:
                segment = parse_segment_list_line(line)
                listed.append((segment, (out_dir / segment.name).stat().st_size))
                if len(listed) == stop_after:
                    process.terminate()
        assert process.wait(RUN_TIMEOUT) == (0 if stop_after is None else 255)
    finally:
        process.kill()
        process.wait()
        watchdog.cancel()
        for thread in (*drains, watchdog):
            thread.join(RUN_TIMEOUT)
        progress.close()
        stderr.close()
    return Run(out_dir, listed, b"".join(errors).decode())


def packets(path: Path, stream: str) -> list[tuple[float, float, float]]:
    """(pts, dts, duration) of every packet of ``stream`` (``v`` or ``a``), in file order."""
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", stream, "-show_entries",
         "packet=pts_time,dts_time,duration_time", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True, timeout=30).stdout
    rows = [line.split(",") for line in out.split()]
    # MPEG-TS stores no packet duration: FFprobe derives one from the H.264 timing info,
    # which transcodes (90 kHz time base, the source's timestamps) do not give: "N/A".
    return [(float(row[0]), float(row[1]), math.nan if row[2] == "N/A" else float(row[2]))
            for row in rows]


def decode(playlist: Path) -> tuple[str, int]:
    """Play an HLS playlist with FFmpeg as the client; its error output and frames decoded."""
    done = subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-nostats", "-protocol_whitelist", "file",
         "-i", str(playlist), "-progress", "pipe:1", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60)
    frames = [line for line in done.stdout.splitlines() if line.startswith("frame=")]
    assert done.returncode == 0, done.stderr
    return done.stderr, int(frames[-1].partition("=")[2])


@dataclass
class Splice:
    info: MediaInfo
    profile: Profile
    bounds: tuple[float, ...]
    at: int
    first: Run
    second: Run
    work: Path


@pytest.fixture(scope="module")
def bframes_clip(clips: Path) -> Path:
    """B-frames as real files have; keyframes every 1.5 s, so copy cuts every 4.5 s."""
    return make_clip(clips / "a clip: aac %d.mp4", 20, width=640, height=360, gop=1.5,
                     bframes=2)


@pytest.fixture(scope="module")
def mp3_clip(clips: Path) -> Path:
    """No B-frames, so no reorder delay: the tightest case for audio at a splice."""
    return make_clip(clips / "a clip: mp3.mp4", 12, width=480, height=270, gop=1.0,
                     audio="mp3")


def run_splice(prober: Prober, clip: Path, profile: Profile, work: Path) -> Splice:
    """Run A from segment 0 and run B from about half way, as a seek or a restart does."""
    info = prober.probe(clip, keyframes=profile.is_copy)
    bounds = segment_boundaries(info, profile, SEGMENT)
    at = (len(bounds) - 1) // 2
    first = run_ffmpeg(info, profile, bounds, 0, work / "A")
    second = run_ffmpeg(info, profile, bounds, at, work / "B")
    return Splice(info, profile, bounds, at, first, second, work)


@pytest.fixture(scope="module", params=["copy", "transcode", "copy-mp3"])
def splice(request, tmp_path_factory: pytest.TempPathFactory, prober: Prober,
           bframes_clip: Path, mp3_clip: Path) -> Splice:
    clip, profile = {"copy": (bframes_clip, COPY), "transcode": (bframes_clip, P360),
                     "copy-mp3": (mp3_clip, COPY)}[request.param]
    return run_splice(prober, clip, profile, tmp_path_factory.mktemp(f"splice-{request.param}"))


def test_runs_are_quiet(splice):
    assert splice.first.stderr == "" and splice.second.stderr == ""


def test_runs_list_the_playlist_segments_complete_and_in_order(splice):
    count = len(splice.bounds) - 1
    for run, start in ((splice.first, 0), (splice.second, splice.at)):
        assert [segment.number for segment, _ in run.listed] == list(range(start, count))
        for segment, size_when_listed in run.listed:
            assert size_when_listed == (run.out_dir / segment.name).stat().st_size > 0
            assert segment.end == pytest.approx(splice.bounds[segment.number + 1],
                                                abs=1.5 / splice.info.video.fps)


def test_whole_segments_reach_their_boundary(splice):
    last, fps = len(splice.bounds) - 2, splice.info.video.fps
    for run in (splice.first, splice.second):
        for segment, _ in run.listed:
            assert reaches_its_boundary(segment, splice.bounds, fps) is (segment.number < last)


def test_a_stopped_run_lists_its_cut_short_segment(prober, bframes_clip, tmp_path):
    info = prober.probe(bframes_clip)
    bounds = segment_boundaries(info, P360, SEGMENT)
    run = run_ffmpeg(info, P360, bounds, 0, tmp_path / "run", stop_after=1)
    *whole, (cut_short, _) = run.listed  # SIGTERM: FFmpeg still ends the open segment
    assert whole and all(reaches_its_boundary(s, bounds, info.video.fps) for s, _ in whole)
    assert not reaches_its_boundary(cut_short, bounds, info.video.fps)
    assert cut_short.end < bounds[cut_short.number + 1]


def test_segments_start_at_their_boundaries_in_every_run(splice):
    frame = 1 / splice.info.video.fps
    origin = packets(splice.first.out_dir / "0.ts", "v")[0][0]
    # -muxdelay 0: the first frame is at TIMELINE_OFFSET, plus at most the B-frame delay.
    assert TIMELINE_OFFSET <= origin < TIMELINE_OFFSET + 3 * frame
    for run in (splice.first, splice.second):
        for segment, _ in run.listed:
            start = packets(run.out_dir / segment.name, "v")[0][0] - origin
            assert start == pytest.approx(splice.bounds[segment.number], abs=frame / 2)


def spliced_playlist(splice: Splice) -> Path:
    playlist = splice.work / "spliced.m3u8"
    playlist.write_text(media_playlist(
        splice.bounds, lambda n: f"{'A' if n < splice.at else 'B'}/{n}.ts"))
    return playlist


def test_whole_first_run_plays_end_to_end(splice):
    playlist = splice.work / "first.m3u8"
    playlist.write_text(media_playlist(splice.bounds, lambda n: f"A/{n}.ts"))
    errors, frames = decode(playlist)
    assert errors == ""
    assert frames == pytest.approx(splice.info.duration * splice.info.video.fps, abs=1)


def test_splice_plays_cleanly(splice):
    """A's segments before the splice, then B's: no decoder complaint, no frame lost."""
    errors, frames = decode(spliced_playlist(splice))
    assert errors == ""  # in particular no "non monotonically increasing dts"
    assert frames == pytest.approx(splice.info.duration * splice.info.video.fps, abs=1)


def test_splice_keeps_one_timeline_and_audio_in_sync(splice):
    frame = 1 / splice.info.video.fps
    joined = splice.work / "joined.ts"
    with joined.open("wb") as out:
        for n in range(len(splice.bounds) - 1):
            run = splice.first if n < splice.at else splice.second
            out.write((run.out_dir / f"{n}.ts").read_bytes())
    video = sorted(pts for pts, _, _ in packets(joined, "v"))
    steps = [b - a for a, b in zip(video, video[1:])]
    assert max(steps) == pytest.approx(frame, abs=0.001) == min(steps)  # no gap, no repeat
    audio = packets(joined, "a")
    assert all(a[1] < b[1] for a, b in zip(audio, audio[1:]))  # audio DTS always advance
    gaps = [b[0] - (a[0] + a[2]) for a, b in zip(audio, audio[1:])]
    assert max(gaps) < 3 * frame  # at the splice: about the video's reorder delay
    video_end = video[-1] + frame
    audio_start, audio_end = audio[0][0], audio[-1][0] + audio[-1][2]
    assert audio_start == pytest.approx(video[0], abs=frame)
    assert audio_end == pytest.approx(video_end, abs=frame)
    assert video_end - video[0] == pytest.approx(splice.info.duration, abs=frame)


@pytest.mark.parametrize("splice", ["copy", "copy-mp3"], indirect=True)
def test_copy_runs_write_the_same_video_packets(splice):
    first = packets(splice.first.out_dir / f"{splice.at}.ts", "v")
    second = packets(splice.second.out_dir / f"{splice.at}.ts", "v")
    assert first == second


@pytest.mark.parametrize("constant, value, clip", [
    ("TIMELINE_OFFSET", 0.0, "bframes_clip"),  # -output_ts_offset S, as DESIGN.md measured
    ("AAC_FRAME_SAMPLES", 0, "mp3_clip"),  # no atrim: the priming overlaps run A's audio
])
def test_each_part_of_the_timestamp_recipe_is_needed(request, monkeypatch, tmp_path, prober,
                                                     constant, value, clip):
    monkeypatch.setattr(recipe, constant, value)
    broken = run_splice(prober, request.getfixturevalue(clip), COPY, tmp_path)
    errors, _ = decode(spliced_playlist(broken))
    assert "non monotonically increasing dts" in errors


@pytest.mark.parametrize("profile", [COPY, Profile("180p", 180, 300, 64)], ids=lambda p: p.name)
def test_master_bandwidth_is_an_honest_peak(prober, clips, profile):
    noisy = clips / "noisy.mp4"
    if not noisy.exists():
        make_clip(noisy, 10, width=320, height=180, gop=1.0, noise=True)
    info = prober.probe(noisy, keyframes=True)
    bounds = segment_boundaries(info, profile, SEGMENT)
    run = run_ffmpeg(info, profile, bounds, 0, clips / f"bandwidth-{profile.name}")
    master = m3u8.loads(master_playlist(info, (profile,), lambda p: p.name, SEGMENT))
    declared = master.playlists[0].stream_info
    rates = [8 * size / (bounds[s.number + 1] - bounds[s.number]) for s, size in run.listed]
    average = 8 * sum(size for _, size in run.listed) / info.duration
    assert max(rates) <= declared.bandwidth
    assert declared.average_bandwidth == pytest.approx(average, rel=0.1)
