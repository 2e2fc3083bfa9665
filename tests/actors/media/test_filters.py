"""The filter chains run by real FFmpeg: what comes out is what the master announces."""
from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from actors.media.filters import (INPUT_ARGS, copy_refusal, finish_filters, output_size,
                                  prepare_filters, video_filters)
from actors.media.tracks import VideoSource, parse_streams
from tests.helpers.track_clips import FFMPEG, TIMEOUT, ffmpeg, ffprobe_json

SECONDS = 1


def source_of(path: Path) -> VideoSource:
    video = parse_streams(ffprobe_json(path), path).video
    assert video is not None
    return video


def render(clip: Path, chain: list[str], out: Path) -> dict:
    """Encodes ``SECONDS`` of ``clip`` through ``chain`` as a rendition would; ffprobe's
    view of the result's video stream, with the frames counted."""
    ffmpeg(*INPUT_ARGS, "-i", f"file:{clip}", "-map", "0:V:0", "-t", str(SECONDS),
           "-vf", ",".join(chain), "-c:v", "libx264", "-preset", "ultrafast",
           "-f", "mpegts", str(out))
    streams = ffprobe_json(out)["streams"]
    video = next(s for s in streams if s["codec_type"] == "video")
    counted = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(out)],
        check=True, capture_output=True, text=True, timeout=TIMEOUT)
    video["frames"] = int(counted.stdout.split()[0])  # TS lists it per program too
    return video


def luma_and_fields(path: Path) -> tuple[float, dict[str, int]]:
    """Mean luma of the picture, and idet's multi-frame verdict counts."""
    done = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", f"file:{path}",
                           "-vf", "idet,signalstats,metadata=print:key=lavfi.signalstats.YAVG",
                           "-f", "null", "-"], capture_output=True, text=True,
                          timeout=TIMEOUT, check=True)
    averages = [float(v) for v in re.findall(r"YAVG=([\d.]+)", done.stderr)]
    verdict = re.search(r"Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) "
                        r"Progressive:\s*(\d+)", done.stderr)
    assert verdict and averages
    tff, bff, progressive = map(int, verdict.groups())
    return sum(averages) / len(averages), {"tff": tff, "bff": bff, "progressive": progressive}


@pytest.mark.parametrize("kind", ["plain", "interlaced", "pq", "hlg", "rotated", "yuv444",
                                  "10bit"])
def test_chain_gives_the_announced_picture(clips: dict[str, Path], tmp_path: Path,
                                           kind: str) -> None:
    source = source_of(clips[kind])
    width, height = output_size(source, 180)
    out = tmp_path / f"{kind}.ts"
    video = render(clips[kind], video_filters(source, width, height), out)
    assert (video["width"], video["height"]) == (width, height)
    assert Fraction(video["r_frame_rate"]) == source.fps
    assert video["frames"] == SECONDS * source.fps  # send_field would double them
    assert video["pix_fmt"] == "yuv420p" and video.get("field_order") == "progressive"
    assert not video.get("side_data_list")  # no display matrix left to turn it again
    luma, _ = luma_and_fields(out)
    assert 30 < luma < 220, "the picture must not be black or washed out"
    if source.hdr:
        assert (video.get("color_transfer"), video.get("color_primaries")) == \
            ("bt709", "bt709")


def test_the_interlaced_clip_really_is_interlaced(clips: dict[str, Path]) -> None:
    _, fields = luma_and_fields(clips["interlaced"])
    assert fields["tff"] > 3 * fields["progressive"]


def test_interlaced_comes_out_progressive(clips: dict[str, Path], tmp_path: Path) -> None:
    """At the source's own size: scaling down alone would hide the combing from idet."""
    source = source_of(clips["interlaced"])
    width, height = output_size(source, source.height)
    assert (width, height) == (source.width, source.height)
    out = tmp_path / "deinterlaced.ts"
    render(clips["interlaced"], video_filters(source, width, height), out)
    _, fields = luma_and_fields(out)
    assert fields["progressive"] > 3 * (fields["tff"] + fields["bff"])


def test_rotated_comes_out_upright(clips: dict[str, Path], tmp_path: Path) -> None:
    """Compared with FFmpeg's own autorotation of the same clip."""
    source = source_of(clips["rotated"])
    width, height = output_size(source, 240)
    assert (width, height) == (180, 240)
    ours, reference = tmp_path / "ours.png", tmp_path / "reference.png"
    ffmpeg(*INPUT_ARGS, "-i", f"file:{clips['rotated']}", "-frames:v", "1",
           "-vf", ",".join(video_filters(source, width, height)), str(ours))
    ffmpeg("-i", f"file:{clips['rotated']}", "-frames:v", "1",
           "-vf", f"scale={width}:{height},format=yuv420p", str(reference))
    done = subprocess.run([FFMPEG, "-hide_banner", "-i", str(ours), "-i", str(reference),
                           "-lavfi", "[0][1]psnr", "-f", "null", "-"], capture_output=True,
                          text=True, timeout=TIMEOUT, check=True)
    psnr = re.search(r"average:([\d.]+|inf)", done.stderr)
    assert psnr and float(psnr.group(1)) > 30


def test_split_chain_equals_the_whole_for_sdr(clips: dict[str, Path]) -> None:
    source = source_of(clips["interlaced"])
    assert prepare_filters(source) + finish_filters(source, 320, 240) == \
        video_filters(source, 320, 240)


@pytest.mark.parametrize(("kind", "reason"), [
    ("plain", None), ("interlaced", "mpeg2video"), ("pq", None), ("hlg", None),
    ("rotated", "rotated"), ("yuv444", "4:4:4"), ("10bit", "10-bit")])
def test_copy_refusal(clips: dict[str, Path], kind: str, reason: str | None) -> None:
    refusal = copy_refusal(source_of(clips[kind]))
    assert (refusal is None) if reason is None else (reason in (refusal or ""))


def test_passthrough_refusal_names_each_problem() -> None:
    """HEVC Main / Main 10, AV1 and VP9 are copied into fMP4 unless rotated, interlaced,
    of another HEVC profile or not 4:2:0 of 8 or 10 bits."""
    base = VideoSource(index=0, codec="hevc", width=3840, height=2160, fps=Fraction(24),
                       pix_fmt="yuv420p10le", bit_depth=10, chroma=420, interlaced=False,
                       hdr="pq", rotation=0, profile="Main 10")
    assert copy_refusal(base) is None
    assert copy_refusal(replace(base, codec="av1", profile="Main")) is None
    assert copy_refusal(replace(base, codec="vp9", profile="Profile 2")) is None
    assert "rotated" in (copy_refusal(replace(base, rotation=90)) or "")
    assert "interlaced" in (copy_refusal(replace(base, interlaced=True, field_order="tt")) or "")
    assert "profile" in (copy_refusal(replace(base, profile="Rext")) or "")
    assert "4:2:0" in (copy_refusal(replace(base, pix_fmt="yuv422p10le", chroma=422)) or "")


def test_copy_refusal_names_each_problem_of_h264() -> None:
    base = VideoSource(index=0, codec="h264", width=1920, height=1080, fps=Fraction(25),
                       pix_fmt="yuv420p", bit_depth=8, chroma=420, interlaced=False,
                       hdr=None, rotation=0, profile="High")
    assert copy_refusal(base) is None
    assert "interlaced" in (copy_refusal(replace(base, interlaced=True, field_order="tt")) or "")
    assert "HDR" in (copy_refusal(replace(base, hdr="hlg")) or "")
    assert "profile" in (copy_refusal(replace(base, profile="High 4:2:2")) or "")


def test_output_size_never_exceeds_the_source() -> None:
    anamorphic = VideoSource(index=0, codec="mpeg2video", width=720, height=576,
                             fps=Fraction(25), pix_fmt="yuv420p", bit_depth=8, chroma=420,
                             interlaced=True, hdr=None, rotation=0,
                             sample_aspect=Fraction(64, 45))
    assert output_size(anamorphic, 1080) == (1024, 576)  # 16:9 display, square pixels
    assert output_size(anamorphic, 360) == (640, 360)
    odd = VideoSource(index=0, codec="h264", width=853, height=481, fps=Fraction(30),
                      pix_fmt="yuv420p", bit_depth=8, chroma=420, interlaced=False,
                      hdr=None, rotation=270)
    width, height = output_size(odd, 2160)
    assert (width, height) == (480, 852) and width % 2 == height % 2 == 0
