"""Audio renditions and WebVTT subtitles made by real FFmpeg runs on the segment grid."""
from __future__ import annotations

import math
from fractions import Fraction
import subprocess
from array import array
from pathlib import Path

import pytest

from actors.media.sidecars import find_sidecars
from actors.media.tracks import SubtitleTrack, VideoSource, parse_streams
from actors.media.track_recipes import (TIMELINE_OFFSET, audio_channels, audio_rendition_args,
                                        burn_in_graph, parse_webvtt, webvtt_conversion_args,
                                        webvtt_segments)
from tests.helpers.track_clips import AUDIO_TONES, FFMPEG, FFPROBE, TIMEOUT, ffprobe_json

BOUNDARIES = (0.0, 2.0, 4.0, 6.0, 7.0)
RATE = 48000


def run(args: list[str]) -> None:
    subprocess.run([FFMPEG, *args], check=True, timeout=TIMEOUT, capture_output=True)


def channels_pcm(segment: Path, channels: int) -> list[array]:
    """Every channel of ``segment``'s audio as 16-bit samples."""
    done = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", f"file:{segment}",
                           "-f", "s16le", "-ac", str(channels), "-ar", str(RATE), "pipe:1"],
                          check=True, capture_output=True, timeout=TIMEOUT)
    samples = array("h", done.stdout)
    return [samples[c::channels] for c in range(channels)]


def dominant_hz(samples: array) -> float:
    """Zero crossings of a pure tone, two per period (the first 50 ms skipped: priming)."""
    body = samples[RATE // 20:]
    crossings = sum(1 for a, b in zip(body, body[1:]) if (a < 0) != (b < 0))
    return crossings / 2 / (len(body) / RATE)


def rms(samples: array) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def first_pts(segment: Path) -> float:
    done = subprocess.run([FFPROBE, "-v", "error", "-show_entries", "packet=pts_time",
                           "-of", "csv=p=0", f"file:{segment}"], check=True,
                          capture_output=True, text=True, timeout=TIMEOUT)
    return float(done.stdout.split()[0].strip(","))


def audio_run(film: Path, out: Path, track_number: int, start_segment: int,
              surround: bool) -> tuple[list[Path], int]:
    track = parse_streams(ffprobe_json(film), film).audio[track_number]
    channels = audio_channels(track, surround)
    out.mkdir()
    run(audio_rendition_args(film, track, BOUNDARIES, start_segment, out,
                             f"file:{out / 'list.csv'}", channels=channels, bitrate_kbps=96))
    listed = [line.split(",")[0] for line in (out / "list.csv").read_text().splitlines()]
    return [out / name for name in listed], channels


@pytest.mark.parametrize("track_number", [0, 1, 2])
def test_each_rendition_carries_its_own_tone(film: Path, tmp_path: Path,
                                             track_number: int) -> None:
    segments, channels = audio_run(film, tmp_path / "a", track_number, 0, surround=True)
    assert [s.name for s in segments] == ["0.ts", "1.ts", "2.ts", "3.ts"]
    assert channels == (6 if track_number == 1 else 2)
    for number, segment in enumerate(segments):
        stream = ffprobe_json(segment)["streams"][0]
        assert (stream["codec_name"], stream["channels"]) == ("aac", channels)
        # On the video's grid and hlsd's timeline: within one AAC frame of the cut.
        assert first_pts(segment) == pytest.approx(BOUNDARIES[number] + TIMELINE_OFFSET,
                                                   abs=1024 / RATE + 0.001)
        loudest = max(channels_pcm(segment, channels), key=rms)
        assert dominant_hz(loudest) == pytest.approx(AUDIO_TONES[track_number], rel=0.02)


def test_stereo_downmix_keeps_the_centre_in_both_sides(film: Path, tmp_path: Path) -> None:
    """The 5.1 track's tone is in the centre channel only: a proper downmix puts it in
    both front channels (a naive two-channel pick would keep silence)."""
    source = channels_pcm(film, 6)  # what the file holds, decoded as 5.1
    assert rms(source[2]) > 1000 and max(rms(source[c]) for c in (0, 1, 3, 4, 5)) < 50
    segments, channels = audio_run(film, tmp_path / "a", 1, 2, surround=False)
    assert channels == 2 and [s.name for s in segments] == ["2.ts", "3.ts"]
    left, right = channels_pcm(segments[0], 2)
    assert rms(left) > 1000 and rms(left) == pytest.approx(rms(right), rel=0.05)
    assert dominant_hz(left) == pytest.approx(AUDIO_TONES[1], rel=0.02)
    # A run started at segment 2 begins on the cut, not one priming frame before it.
    assert first_pts(segments[0]) == pytest.approx(BOUNDARIES[2] + TIMELINE_OFFSET,
                                                   abs=0.002)


def cue_texts(documents: list[str]) -> list[list[tuple[float, float, str]]]:
    return [[(c.start, c.end, c.text) for c in parse_webvtt(d)] for d in documents]


def media_times(film: Path, stream_index: int) -> list[float]:
    """Where the file itself has its subtitle packets, on the media timeline."""
    done = subprocess.run([FFPROBE, "-v", "error", "-select_streams", str(stream_index),
                           "-show_entries", "packet=pts_time", "-of", "csv=p=0",
                           f"file:{film}"], check=True, capture_output=True, text=True,
                          timeout=TIMEOUT)
    start = float(ffprobe_json(film)["format"].get("start_time", 0))
    return [round(float(line.strip(",")) - start, 3) for line in done.stdout.split()]


def test_embedded_text_track_to_webvtt_segments(film: Path, tmp_path: Path) -> None:
    track = parse_streams(ffprobe_json(film), film).subtitles[0]
    out = tmp_path / "english.vtt"
    run(webvtt_conversion_args(film, track, out))
    documents = webvtt_segments(parse_webvtt(out.read_text()), BOUNDARIES)
    assert len(documents) == len(BOUNDARIES) - 1
    assert all(d.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n")
               for d in documents)
    first, across = media_times(film, track.index)
    cues = cue_texts(documents)
    assert [c[2] for c in cues[0]] == ["Hello from the start"]
    assert cues[0][0][0] == pytest.approx(first, abs=0.002)
    # Both cues run past a cut (2.0 s, 6.0 s): each is in the two segments it spans.
    assert cues[1] == cues[0] and cues[2] == cues[3] and cues[0] != cues[2]
    assert cues[2][0][:2] == pytest.approx((across, across + 1.5), abs=0.002)


def test_sidecar_cue_lines_up_with_the_video_pts(film: Path, tmp_path: Path) -> None:
    """A cue at media time 1.0 s maps, through X-TIMESTAMP-MAP, to PTS 11.0 s: the PTS the
    video runs give the frame at media time 1.0 s."""
    (sidecar,) = find_sidecars(film, 10)
    out = tmp_path / "sidecar.vtt"
    run(webvtt_conversion_args(film, sidecar, out))
    document = webvtt_segments(parse_webvtt(out.read_text()), BOUNDARIES)[0]
    mpegts = int(document.split("MPEGTS:")[1].split(",")[0])
    (cue,) = parse_webvtt(document)
    assert cue.text == "Sidecar line"
    assert (cue.start - 0.0) + mpegts / 90000 == pytest.approx(11.0, abs=0.0005)


def test_cues_spanning_a_cut_are_in_both_segments() -> None:
    cues = parse_webvtt("WEBVTT\n\nid-1\n00:01.500 --> 00:02.500 align:start\nboth\n\n"
                        "NOTE a note\n\n00:02.000 --> 00:03.000\nsecond only\n")
    documents = webvtt_segments(cues, (0.0, 2.0, 4.0))
    assert [c.text for c in parse_webvtt(documents[0])] == ["both"]
    assert [c.text for c in parse_webvtt(documents[1])] == ["both", "second only"]
    assert "00:00:01.500 --> 00:00:02.500 align:start" in documents[0]


def test_burn_in_graph_names_the_streams() -> None:
    video = VideoSource(index=0, codec="hevc", width=1920, height=1080, fps=Fraction(25),
                        pix_fmt="yuv420p10le", bit_depth=10, chroma=420, interlaced=False,
                        hdr="pq", rotation=0)
    pgs = SubtitleTrack(index=5, language="eng", codec="hdmv_pgs_subtitle", kind="image",
                        forced=False, default=False)
    graph = burn_in_graph(video, pgs, 1280, 720)
    assert graph.startswith("[0:0]zscale=") and "[base][0:5]overlay=eof_action=pass," in graph
    assert graph.index("tonemap") < graph.index("overlay") < graph.index("scale=1280:720")
    assert graph.endswith("setsar=1[burned]")
    with pytest.raises(ValueError):
        burn_in_graph(video, SubtitleTrack(index=3, language="eng", codec="subrip",
                                           kind="text", forced=False, default=False), 2, 2)


def last_packet_end(segment: Path) -> float:
    done = subprocess.run([FFPROBE, "-v", "error", "-show_entries",
                           "packet=pts_time,duration_time", "-of", "csv=p=0",
                           f"file:{segment}"], check=True, capture_output=True, text=True,
                          timeout=TIMEOUT)
    pts, duration = done.stdout.split()[-1].strip(",").split(",")[:2]
    return float(pts) + float(duration)


def test_runs_splice_without_overlap_and_the_last_segment_alone(film: Path,
                                                                tmp_path: Path) -> None:
    """Run A from 0 and run B from segment 2 meet at the cut: A's segment 1 ends where
    B's segment 2 begins (within an AAC frame, never overlapping); a run of the last
    segment alone (no cut left) writes that one segment."""
    run_a, _ = audio_run(film, tmp_path / "a", 0, 0, surround=False)
    run_b, _ = audio_run(film, tmp_path / "b", 0, 2, surround=False)
    gap = first_pts(run_b[0]) - last_packet_end(run_a[1])
    assert -0.001 <= gap <= 1024 / RATE + 0.001
    last, _ = audio_run(film, tmp_path / "c", 0, 3, surround=False)
    assert [s.name for s in last] == ["3.ts"]
    assert first_pts(last[0]) == pytest.approx(BOUNDARIES[3] + TIMELINE_OFFSET, abs=0.002)
    assert dominant_hz(channels_pcm(last[0], 2)[0]) == pytest.approx(AUDIO_TONES[0], rel=0.02)
