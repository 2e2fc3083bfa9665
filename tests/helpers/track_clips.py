"""Clips with every kind of stream a real film has, made with FFmpeg's synthetic sources.

- ``make_film(dir)``: ``Film.mkv``, 7 s, 320x240 25 fps H.264; audio 0 English stereo
  440 Hz, audio 1 French 5.1 660 Hz (default; the tone is in the centre channel only),
  audio 2 Japanese mono 990 Hz; subtitles English (SRT) and French (SRT, forced); a
  cover picture attached. Beside it ``Film.en.srt`` (valid) and ``Film.de.srt``
  (Latin-1 bytes, so not UTF-8).
- ``make_video(path, kind)``: 2 s clips a browser cannot show as they are:
  ``interlaced`` (MPEG-2 in TS, really interlaced: 50p woven into 25i top field first),
  ``pq`` / ``hlg`` (HEVC 10-bit BT.2020), ``rotated`` (H.264 in MP4, display matrix 90),
  ``yuv444`` and ``10bit`` (H.264), and ``plain`` (H.264 a browser plays).
- ``make_burn_film(dir)``: ``Burn.mkv``, 6 s 320x240 H.264 with an image (PGS) subtitle
  track, stream 1: an opaque white box ``BURN_BOX`` shown from 1 s to 3 s. This FFmpeg
  cannot encode image subtitles from text, so ``write_pgs`` writes the ``.sup`` itself.
- ``ffprobe_json(path)``: what ``-show_format -show_streams`` says, parsed.
"""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

from actors import media
from tests.helpers.settings import settings_for

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"
TIMEOUT = 60

AUDIO_TONES = (440, 660, 990)
ENGLISH_SRT = "1\n00:00:01,000 --> 00:00:02,500\nHello from the start\n\n" \
              "2\n00:00:04,500 --> 00:00:06,000\nA cue across a cut\n"
FORCED_SRT = "1\n00:00:02,000 --> 00:00:03,000\nTexte forcé\n"
SIDECAR_SRT = "\ufeff1\r\n00:00:01,000 --> 00:00:02,000\r\nSidecar line\r\n"
GERMAN_LATIN1 = "1\n00:00:01,000 --> 00:00:02,000\nGrüße aus Köln\n".encode("latin-1")

VIDEO_SOURCE = "testsrc2=size=320x240:rate=25"
VIDEO_KINDS: dict[str, tuple[str, list[str]]] = {
    "plain": (".mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]),
    "interlaced": (".ts", ["-vf", "interlace=scan=tff", "-c:v", "mpeg2video",
                           "-flags", "+ilme+ildct", "-top", "1", "-b:v", "3M"]),
    "pq": (".mkv", ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le",
                    "-color_trc", "smpte2084", "-color_primaries", "bt2020",
                    "-colorspace", "bt2020nc", "-x265-params", "log-level=error"]),
    "hlg": (".mkv", ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le",
                     "-color_trc", "arib-std-b67", "-color_primaries", "bt2020",
                     "-colorspace", "bt2020nc", "-x265-params", "log-level=error"]),
    "yuv444": (".mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"]),
    "10bit": (".mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le"]),
}


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True, timeout=TIMEOUT, capture_output=True)


def ffprobe_json(path: Path) -> dict:
    done = subprocess.run([FFPROBE, "-v", "error", "-of", "json", "-show_format",
                           "-show_streams", f"file:{path}"], check=True, timeout=TIMEOUT,
                          capture_output=True, text=True)
    return json.loads(done.stdout)


def make_film(directory: Path, seconds: float = 7) -> Path:
    """Writes ``Film.mkv`` and its subtitle files into ``directory``; returns the film."""
    (directory / "english.srt").write_text(ENGLISH_SRT, encoding="utf-8")
    (directory / "forced.srt").write_text(FORCED_SRT, encoding="utf-8")
    ffmpeg("-f", "lavfi", "-i", "color=red:size=64x64", "-frames:v", "1",
           str(directory / "cover.jpg"))
    tones = [arg for hz in AUDIO_TONES
             for arg in ("-f", "lavfi", "-i", f"sine=frequency={hz}:sample_rate=48000")]
    film = directory / "Film.mkv"
    ffmpeg("-f", "lavfi", "-i", VIDEO_SOURCE, *tones,
           "-i", str(directory / "english.srt"), "-i", str(directory / "forced.srt"),
           "-t", str(seconds), "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a",
           "-map", "4:s", "-map", "5:s",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
           "-c:a", "aac", "-b:a", "96k", "-ac:a:0", "2", "-ac:a:1", "6", "-ac:a:2", "1",
           "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
           "-metadata:s:a:2", "language=jpn", "-disposition:a:0", "0",
           "-disposition:a:1", "default", "-disposition:a:2", "0",
           "-c:s", "srt", "-metadata:s:s:0", "language=eng", "-metadata:s:s:1",
           "language=fre", "-disposition:s:0", "0", "-disposition:s:1", "forced",
           "-attach", str(directory / "cover.jpg"), "-metadata:s:t", "mimetype=image/jpeg",
           "-metadata:s:t", "filename=cover.jpg", str(film))
    (directory / "Film.en.srt").write_text(SIDECAR_SRT, encoding="utf-8", newline="")
    (directory / "Film.de.srt").write_bytes(GERMAN_LATIN1)
    return film


def make_video(directory: Path, kind: str, seconds: float = 2) -> Path:
    """A short clip of ``kind`` (see ``VIDEO_KINDS`` and ``rotated``)."""
    if kind == "rotated":
        plain = make_video(directory, "plain", seconds)
        rotated = directory / "rotated.mp4"
        # FFmpeg 5.1 has no -display_rotation; a remux turns the rotate tag into a matrix.
        ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
        return rotated
    suffix, codec = VIDEO_KINDS[kind]
    rate = "50" if kind == "interlaced" else "25"  # woven 2:1 into 25 frames/s
    path = directory / f"{kind}{suffix}"
    ffmpeg("-f", "lavfi", "-i", VIDEO_SOURCE.replace("rate=25", f"rate={rate}"),
           "-t", str(seconds), *codec, str(path))
    return path


BURN_BOX = (60, 180, 200, 30)  # x, y, width, height of the burned subtitle
BURN_SHOWN = (1.0, 3.0)


def make_burn_film(directory: Path, seconds: float = 6) -> Path:
    """Writes ``Burn.mkv`` (see the module docstring) into ``directory``; returns it."""
    video, sup = directory / "burn-video.mp4", directory / "burn.sup"
    ffmpeg("-f", "lavfi", "-i", VIDEO_SOURCE, "-t", str(seconds), "-c:v", "libx264",
           "-preset", "ultrafast", "-g", "25", str(video))
    write_pgs(sup, [BURN_SHOWN], 320, 240, BURN_BOX)
    film = directory / "Burn.mkv"
    # -copyts on the .sup: its first display set is at 1 s, not at the file's start.
    ffmpeg("-i", str(video), "-copyts", "-i", str(sup), "-map", "0:v", "-map", "1",
           "-c", "copy", "-metadata:s:s:0", "language=eng", str(film))
    video.unlink()
    sup.unlink()
    return film


def _pgs_segment(kind: int, pts: float, payload: bytes) -> bytes:
    """One PGS segment: magic, PTS and DTS (90 kHz), type, size, payload."""
    return b"PG" + struct.pack(">IIBH", round(pts * 90000), 0, kind, len(payload)) + payload


def write_pgs(path: Path, shows: list[tuple[float, float]], width: int, height: int,
              box: tuple[int, int, int, int]) -> Path:
    """A PGS (``.sup``) stream showing an opaque white ``box`` during each of ``shows``:
    per display set a composition (PCS), a window (WDS), a palette (PDS, entry 1 white)
    and one run-length coded object (ODS), then a composition with no object to clear."""
    x, y, w, h = box
    rle = bytes([0, 0xC0 | (w >> 8), w & 0xFF, 1, 0, 0]) * h  # w pixels of entry 1, end of line
    window = struct.pack(">BBHHHH", 1, 0, x, y, w, h)
    out = b""
    for number, (start, end) in enumerate(shows):
        shown = struct.pack(">HHBHBBBB", width, height, 0x10, 2 * number, 0x80, 0, 0, 1)
        shown += struct.pack(">HBBHH", 0, 0, 0, x, y)
        palette = struct.pack(">BB", 0, 0) + bytes([1, 235, 128, 128, 255])
        picture = (struct.pack(">HBB", 0, 0, 0xC0) + (len(rle) + 4).to_bytes(3, "big")
                   + struct.pack(">HH", w, h) + rle)
        out += b"".join(_pgs_segment(kind, start, payload) for kind, payload in (
            (0x16, shown), (0x17, window), (0x14, palette), (0x15, picture), (0x80, b"")))
        cleared = struct.pack(">HHBHBBBB", width, height, 0x10, 2 * number + 1, 0, 0, 0, 0)
        out += b"".join(_pgs_segment(kind, end, payload) for kind, payload in (
            (0x16, cleared), (0x17, window), (0x80, b"")))
    path.write_bytes(out)
    return path


def film_plan(directory: Path, profiles: str, seconds: float = 30, segment: float = 2.0) -> media.Plan:
    """The plan of a ``make_film`` film written into ``directory``, probed by ffprobe,
    with ``profiles`` (``hls.profiles`` lines)."""
    film = make_film(directory, seconds=seconds)
    info = media.Prober(FFPROBE).probe(film, keyframes=True)
    chosen = settings_for(directory, directory / "work", profiles=profiles).profiles
    return media.make_plan("Film.mkv", info, chosen, segment,
                           sidecars=tuple(media.find_sidecars(film, info.stream_count)))
