"""fMP4 passthrough runs with real FFmpeg: the init is the head of every segment of every
run, the video is copied as it is (hvc1, 10 bits, PQ/HLG kept), every tfdt is on the one
timeline, and segments of a run from 0 and of a run started later (a seek) splice and
decode cleanly."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from actors.media import TIMELINE_OFFSET, Plan, Prober, make_plan, with_inits
from actors.media.fmp4 import InitSegments, strip_to_fragments
from actors.media.profiles import DEFAULT_PROFILES
from tests.helpers.media import FFMPEG, FFPROBE
from tests.helpers.media_runs import packets, run_ffmpeg
from tests.helpers.modern_clips import FPS, GOP, make_modern_clip

SEEK_TO = 2  # the second run starts at this segment


@dataclass
class Passthrough:
    plan: Plan
    init: bytes
    whole: list[Path]  # the segments of a run from 0
    seeked: list[Path]  # those of a run from SEEK_TO
    heads_match: list[bool]
    work: Path


def _stripped(plan: Plan, start: int, out: Path, init: bytes) -> tuple[list[Path], list[bool]]:
    copy = plan.rendition("copy")
    run = run_ffmpeg(plan.info, copy, plan.grid, start, out, container="fmp4")
    assert run.stderr == ""
    paths = [out / segment.name for segment, _size in run.listed]
    return paths, [strip_to_fragments(path, init) for path in paths]


@pytest.fixture(scope="module", params=["hevc_pq", "hevc_hlg", "av1", "vp9"])
def passthrough(request, media_clips: Path, prober: Prober,
                tmp_path_factory: pytest.TempPathFactory) -> Passthrough:
    info = prober.probe(make_modern_clip(media_clips, request.param), keyframes=True)
    plan = with_inits(make_plan(request.param, info, DEFAULT_PROFILES, GOP), InitSegments(FFMPEG))
    assert plan.container("copy") == "fmp4"
    init = plan.init("copy")
    work = tmp_path_factory.mktemp(request.param)
    whole, whole_heads = _stripped(plan, 0, work / "whole", init)
    seeked, seeked_heads = _stripped(plan, SEEK_TO, work / "seeked", init)
    return Passthrough(plan, init, whole, seeked, whole_heads + seeked_heads, work)


def joined(passthrough: Passthrough, name: str, *segments: Path) -> Path:
    path = passthrough.work / name
    path.write_bytes(passthrough.init + b"".join(s.read_bytes() for s in segments))
    return path


def streams(path: Path) -> list[dict[str, str]]:
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries",
         "stream=codec_type,codec_name,codec_tag_string,profile,pix_fmt,color_transfer",
         "-of", "compact=p=0", str(path)], capture_output=True, text=True, check=True,
        timeout=30).stdout
    return [dict(field.split("=", 1) for field in line.split("|")) for line in out.splitlines()]


def test_the_init_is_the_head_of_every_segment_of_every_run(passthrough: Passthrough) -> None:
    assert len(passthrough.whole) == passthrough.plan.segment_count("copy") >= 3
    assert all(passthrough.heads_match)


def test_init_and_a_segment_hold_the_source_video_as_it_is(passthrough: Passthrough) -> None:
    video, audio = streams(joined(passthrough, "first.mp4", passthrough.whole[0]))
    source = passthrough.plan.info
    assert video["codec_name"] == source.video.codec
    assert video["pix_fmt"] == source.video.pix_fmt
    if source.video.codec == "hevc":
        assert video["codec_tag_string"] == "hvc1"  # the sample entry Apple requires
        assert video["profile"] == source.video.profile
    assert video["color_transfer"] == {"pq": "smpte2084", "hlg": "arib-std-b67", None: video[
        "color_transfer"]}[source.tracks.video.hdr]
    assert (audio["codec_type"], audio["codec_name"]) == ("audio", "aac")


def test_every_segment_starts_at_its_boundary_on_the_timeline(passthrough: Passthrough) -> None:
    info = passthrough.plan.info
    starts = (info.keyframes[0], *passthrough.plan.grid[1:])  # the first frame, then cuts
    for run, first in ((passthrough.whole, 0), (passthrough.seeked, SEEK_TO)):
        for number, segment in enumerate(run, start=first):
            video = packets(joined(passthrough, f"one-{number}.mp4", segment), "v")
            assert min(pts for pts, _dts, _duration in video) == pytest.approx(
                starts[number] + TIMELINE_OFFSET, abs=0.5 / FPS)


def test_segments_of_two_runs_splice_and_decode_cleanly(passthrough: Passthrough) -> None:
    spliced = joined(passthrough, "spliced.mp4", *passthrough.whole[:SEEK_TO],
                     *passthrough.seeked)
    done = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(spliced), "-f", "null",
                           "-"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    times = sorted(pts for pts, _dts, _duration in packets(spliced, "v"))
    assert len(times) == len(packets(joined(passthrough, "whole.mp4", *passthrough.whole), "v"))
    steps = {round(b - a, 4) for a, b in zip(times, times[1:])}
    assert steps == {round(1 / FPS, 4)}  # no frame lost, none twice, one timeline


def test_runs_from_different_segments_write_the_same_video(passthrough: Passthrough) -> None:
    overlap = passthrough.whole[SEEK_TO:]
    assert len(overlap) == len(passthrough.seeked) > 0
    for number, (first, second) in enumerate(zip(overlap, passthrough.seeked), start=SEEK_TO):
        assert packets(joined(passthrough, f"a-{number}.mp4", first), "v") == \
            packets(joined(passthrough, f"b-{number}.mp4", second), "v")
