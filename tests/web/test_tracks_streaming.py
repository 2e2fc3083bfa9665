"""Alternate audio and subtitle renditions through a real hlsd (pserve + waitress), with
FFmpeg as the HLS client."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import urljoin
from typing import Iterator

import m3u8
import pytest

from actors.media.track_recipes import parse_webvtt
from tests.helpers.server import Server, served
from tests.helpers.track_clips import AUDIO_TONES, FFMPEG, FFPROBE, make_film

pytestmark = pytest.mark.slow
TIMEOUT = 60


@pytest.fixture(scope="module")
def film_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served(tmp_path_factory.mktemp("tracks"), make_film,
                profiles="\n240p 240 400 96\ncopy copy") as server:
        yield server


def _json(server: Server, path: str) -> object:
    status, _, body = server.get(path)
    assert status == 200, body
    return json.loads(body)


def _open(server: Server) -> tuple[str, m3u8.M3U8]:
    status, headers, body = server.get("/media/Film.mkv/master.m3u8")
    assert status == 200, body
    return headers["X-Session-Id"], m3u8.loads(body.decode())


def _dominant_hz(path: Path, stream: str = "a:0") -> float:
    """The loudest frequency of the audio, by counting zero crossings of its PCM."""
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-map", f"0:{stream}",
                          "-ac", "1", "-f", "s16le", "-ar", "48000", "-"],
                         capture_output=True, timeout=TIMEOUT, check=True).stdout
    samples = [int.from_bytes(raw[i:i + 2], "little", signed=True) for i in range(0, len(raw), 2)]
    crossings = sum(1 for a, b in zip(samples, samples[1:]) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / 48000)


def _start_time(server: Server) -> float:
    film = Path(server.ini).parent / "media" / "Film.mkv"
    probed = json.loads(subprocess.run([FFPROBE, "-v", "error", "-of", "json", "-show_format",
                                        str(film)], capture_output=True, timeout=TIMEOUT,
                                       check=True).stdout)
    return float(probed["format"]["start_time"])


def _first_video_pts(server: Server, master: m3u8.M3U8) -> float:
    """Where source time 0 is in the video segments (hlsd's +10 s included)."""
    uri = master.playlists[0].uri.replace("index.m3u8", "0.ts")
    probed = json.loads(subprocess.run(
        [FFPROBE, "-v", "error", "-of", "json", "-show_entries", "frame=pts_time",
         "-read_intervals", "%+#1", server.url + uri],
        capture_output=True, timeout=TIMEOUT, check=True).stdout)
    return float(probed["frames"][0]["pts_time"])


def test_media_lists_audio_and_subtitle_tracks(film_server):
    entry = next(e for e in _json(film_server, "/media") if e["id"] == "Film.mkv")
    assert [(a["index"], a["language"], a["channels"], a["default"]) for a in entry["audio"]] == [
        (1, "eng", 2, False), (2, "fre", 6, True), (3, "jpn", 1, False)]
    assert [(s["index"], s["language"], s["kind"], s["forced"]) for s in entry["subtitles"]] == [
        (4, "eng", "text", False), (5, "fre", "text", True)]


def test_master_offers_every_audio_and_subtitle_track(film_server):
    session_id, master = _open(film_server)
    audio = [m for m in master.media if m.type == "AUDIO"]
    subs = [m for m in master.media if m.type == "SUBTITLES"]
    assert [(m.language, m.name, m.default) for m in audio] == [
        ("en", "English (stereo)", "NO"), ("fr", "French (5.1)", "YES"), ("ja", "Japanese (mono)", "NO")]
    assert [(m.language, m.forced) for m in subs] == [("en", None), ("fr", "YES"), ("en", None)]
    for variant in master.playlists:
        assert variant.stream_info.audio == "audio" and variant.stream_info.subtitles == "subs"
        assert "mp4a.40.2" in variant.stream_info.codecs
    state = _json(film_server, f"/api/v1/sessions/{session_id}")
    assert [s["index"] for s in state["subtitles"]] == [4, 5, 7]  # the sidecar Film.en.srt


def test_every_audio_rendition_decodes_with_its_own_tone(film_server, tmp_path):
    session_id, master = _open(film_server)
    for rendition, hz in zip([m for m in master.media if m.type == "AUDIO"], AUDIO_TONES):
        out = tmp_path / f"audio-{rendition.language}.wav"
        done = subprocess.run([FFMPEG, "-v", "error", "-i", film_server.url + rendition.uri,
                               "-c:a", "pcm_s16le", "-y", str(out)],
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert _dominant_hz(out) == pytest.approx(hz, rel=0.03)
        probed = json.loads(subprocess.run(
            [FFPROBE, "-v", "error", "-of", "json", "-show_streams", "-show_format", str(out)],
            capture_output=True, timeout=TIMEOUT, check=True).stdout)
        assert float(probed["format"]["duration"]) == pytest.approx(7, abs=0.1)
        expected_channels = 6 if rendition.language == "fr" else 2
        assert probed["streams"][0]["channels"] == expected_channels


def test_video_variants_carry_no_audio_and_decode_end_to_end(film_server, tmp_path):
    session_id, master = _open(film_server)
    for variant in master.playlists:
        done = subprocess.run([FFPROBE, "-v", "error", "-of", "json", "-show_streams",
                               film_server.url + variant.uri.replace("index.m3u8", "0.ts")],
                              capture_output=True, text=True, timeout=TIMEOUT)
        kinds = [s["codec_type"] for s in json.loads(done.stdout)["streams"]]
        assert kinds == ["video"]
        width, height = variant.stream_info.resolution
        out = subprocess.run([FFMPEG, "-v", "error", "-i", film_server.url + variant.uri,
                              "-fps_mode", "passthrough", "-f", "framemd5", "-"], capture_output=True, text=True, timeout=TIMEOUT)
        assert out.returncode == 0 and out.stderr == "", out.stderr
        frames = [line for line in out.stdout.splitlines() if not line.startswith("#")]
        assert len(frames) == pytest.approx(7 * 25, abs=1)  # as tests/actors/media allow
        assert f"#dimensions 0: {width}x{height}" in out.stdout


def test_webvtt_cues_carry_the_text_at_the_video_time(film_server):
    session_id, master = _open(film_server)
    subs = [m for m in master.media if m.type == "SUBTITLES"]
    playlist = m3u8.loads(film_server.get(subs[0].uri)[2].decode())
    documents = []
    for segment in playlist.segments:
        status, headers, body = film_server.get(urljoin(subs[0].uri, segment.uri))
        assert status == 200 and headers["Content-Type"].startswith("text/vtt")
        assert "X-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000" in body.decode()
        documents.append(body.decode())
    cues = {(c.start, c.end, c.text) for d in documents for c in parse_webvtt(d)}
    # Cue times are on the media timeline (from the container's start, here the AAC
    # priming before 0): the cue of PTS 1.0 goes with the video frame of PTS 1.0.
    shift = _first_video_pts(film_server, master) - 10.0 - _start_time(film_server)
    assert cues == {(round(1.0 + shift, 3), round(2.5 + shift, 3), "Hello from the start"),
                    (round(4.5 + shift, 3), round(6.0 + shift, 3), "A cue across a cut")}
    sidecar = film_server.get(subs[2].uri)[2].decode()
    first = film_server.get(urljoin(subs[2].uri, m3u8.loads(sidecar).segments[0].uri))[2].decode()
    # A file beside the media counts from the media's start, not from its first cue.
    assert [(c.start, c.end, c.text) for c in parse_webvtt(first)] == [(1.0, 2.0, "Sidecar line")]


@pytest.mark.parametrize("path, status", [
    ("/audio/9/index.m3u8", 404), ("/audio/4/0.ts", 404), ("/subs/1/0.vtt", 404),
    ("/subs/4/99.vtt", 404)])
def test_tracks_that_do_not_exist_are_refused_and_spawn_nothing(film_server, path, status):
    session_id, _ = _open(film_server)
    before = _json(film_server, f"/api/v1/sessions/{session_id}")["track_runs"]
    assert film_server.get(f"/hls/{session_id}{path}")[0] == status
    assert _json(film_server, f"/api/v1/sessions/{session_id}")["track_runs"] == before == {}


@pytest.mark.parametrize("burn, status", [("4", 400), ("42", 404), ("x", 400)])
def test_burn_of_a_text_or_missing_track_is_refused(film_server, burn, status):
    assert film_server.get(f"/media/Film.mkv/master.m3u8?burn={burn}")[0] == status
