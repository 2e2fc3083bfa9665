"""The FFmpeg recipe against real FFmpeg: arguments, segment lists, and splices of runs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from actors.media import recipe
from actors.media import (TIMELINE_OFFSET, ListedSegment, MediaInfo, Prober, ffmpeg_args,
                          media_playlist, parse_segment_list_line, reaches_its_boundary,
                          segment_boundaries)
from actors.media.profiles import Profile
from tests.helpers.media import make_clip
from tests.helpers.media_runs import (COPY, P360, P720, SEGMENT, Run, decode,
                                      fake_info, packets, run_ffmpeg)

pytestmark = pytest.mark.timeout(60)


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
class Splice:
    info: MediaInfo
    profile: Profile
    bounds: tuple[float, ...]
    at: int
    first: Run
    second: Run
    work: Path


@pytest.fixture(scope="module")
def bframes_clip(media_clips: Path) -> Path:
    """B-frames as real files have; keyframes every 1.5 s, so copy cuts every 4.5 s."""
    return make_clip(media_clips / "a clip: aac %d.mp4", 20, width=640, height=360, gop=1.5,
                     bframes=2)


@pytest.fixture(scope="module")
def mp3_clip(media_clips: Path) -> Path:
    """No B-frames, so no reorder delay: the tightest case for audio at a splice."""
    return make_clip(media_clips / "a clip: mp3.mp4", 12, width=480, height=270, gop=1.0,
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


