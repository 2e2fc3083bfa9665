"""Keyframes read from container indexes equal what ffprobe's packet pass finds."""
from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from actors.media.keyframes import keyframes_from_file, read_keyframes
from tests.helpers.ffmpeg_tools import FFMPEG, _run, packet_keyframes, probe, remux
from tests.helpers.media import make_clip

FPS = 24
GOP_SECONDS = 2.0  # -g 48 -keyint_min 48 -sc_threshold 0 at 24 fps
SECONDS = 10
TOLERANCE = 0.001


class CountingFile(io.RawIOBase):
    """A raw file that counts the bytes read from the disk through it."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        count = self._file.readinto(buffer)
        self.bytes_read += count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """An MP4 per B-frame setting (0 and 2), with audio, keyframes every 2 s."""
    folder = tmp_path_factory.mktemp("keyframes")
    return {bframes: make_clip(folder / f"bf{bframes}.mp4", SECONDS, width=320, height=240,
                               fps=FPS, gop=GOP_SECONDS, bframes=bframes)
            for bframes in (0, 2)}


def assert_same_times(found: tuple[float, ...] | None, expected: tuple[float, ...]) -> None:
    assert found is not None
    assert len(found) == len(expected), (found, expected)
    assert max(abs(a - b) for a, b in zip(found, expected)) <= TOLERANCE, (found, expected)


def video_start(path: Path) -> float:
    video = next(s for s in probe(path)["streams"] if s["codec_type"] == "video")
    return float(video["start_time"])


@pytest.mark.parametrize("bframes", [0, 2])
@pytest.mark.parametrize("suffix,options", [
    (".mp4", ()), (".mp4", ("-movflags", "+faststart")), (".mov", ()), (".mkv", ()),
])
def test_times_equal_ffprobe_packet_pass(sources: dict[int, Path], tmp_path: Path,
                                         bframes: int, suffix: str,
                                         options: tuple[str, ...]) -> None:
    clip = remux(sources[bframes], tmp_path / f"clip{suffix}", *options)
    expected = packet_keyframes(clip)
    found = read_keyframes(clip)
    assert_same_times(found, expected)
    # the grid itself: one keyframe every 2 s from the video stream's start
    start = video_start(clip)
    grid = tuple(start + GOP_SECONDS * k for k in range(SECONDS // int(GOP_SECONDS)))
    assert_same_times(found, grid)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_start_offset_is_kept_as_ffprobe_reports_it(sources: dict[int, Path],
                                                      tmp_path: Path, suffix: str) -> None:
    clip = remux(sources[2], tmp_path / f"late{suffix}", "-output_ts_offset", "5")
    found = read_keyframes(clip)
    assert_same_times(found, packet_keyframes(clip))
    assert found is not None and found[0] == pytest.approx(5.0, abs=0.05)


def test_an_edit_list_that_trims_the_start_keeps_the_keyframe_before_it(
        sources: dict[int, Path], tmp_path: Path) -> None:
    clip = tmp_path / "trimmed.mp4"
    _run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-ss", "4.5", "-protocol_whitelist",
          "file", "-i", f"file:{sources[2]}", "-c", "copy", str(clip)])
    found = read_keyframes(clip)
    assert_same_times(found, packet_keyframes(clip))
    assert found is not None and found[0] < 0


def test_webm_cues(tmp_path: Path) -> None:
    clip = tmp_path / "clip.webm"
    _run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
          f"testsrc2=size=160x120:rate={FPS}", "-t", "4", "-c:v", "libvpx-vp9",
          "-deadline", "realtime", "-g", str(FPS), "-keyint_min", str(FPS), str(clip)])
    assert_same_times(read_keyframes(clip), packet_keyframes(clip))


@pytest.mark.parametrize("make", ["ts", "mkv_without_cues", "audio_only", "garbage", "empty"])
def test_no_usable_index_gives_none(sources: dict[int, Path], tmp_path: Path,
                                    make: str) -> None:
    path = tmp_path / f"{make}.bin"
    if make == "ts":
        remux(sources[0], path.with_suffix(".ts")).rename(path)
    elif make == "mkv_without_cues":  # a pipe is not seekable: FFmpeg writes no Cues
        data = _run_bytes([FFMPEG, "-nostdin", "-loglevel", "error", "-protocol_whitelist",
                           "file", "-i", f"file:{sources[0]}", "-c", "copy", "-f",
                           "matroska", "pipe:1"])
        path.write_bytes(data)
        assert packet_keyframes(path), "the file itself has keyframes"
    elif make == "audio_only":
        make_clip(path.with_suffix(".m4a"), 2, video=None).rename(path)
    elif make == "garbage":
        path.write_bytes(b"\x00\x00\x00\x10moov" + bytes(range(256)) * 40)
    else:
        path.write_bytes(b"")
    assert read_keyframes(path) is None


def _run_bytes(command: list[str]) -> bytes:
    return subprocess.run(command, check=True, timeout=60, capture_output=True).stdout


@pytest.fixture(scope="module")
def larger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Half a minute of hard-to-compress video: the media data dwarfs the tables."""
    return make_clip(tmp_path_factory.mktemp("larger") / "big.mp4", 30, width=480,
                     height=270, fps=FPS, gop=GOP_SECONDS, bframes=2, noise=True)


@pytest.mark.parametrize("suffix,options", [(".mp4", ()), (".mp4", ("-movflags", "+faststart")),
                                            (".mkv", ())])
def test_bytes_read_stay_small_for_a_larger_file(larger: Path, tmp_path: Path, suffix: str,
                                                 options: tuple[str, ...]) -> None:
    clip = remux(larger, tmp_path / f"clip{suffix}", *options)
    counting = CountingFile(clip)
    with io.BufferedReader(counting) as file:
        found = keyframes_from_file(file)  # type: ignore[arg-type]
    size = clip.stat().st_size
    print(f"\n{suffix} {options}: {counting.bytes_read} of {size} bytes read")
    assert found is not None and len(found) == 15
    assert counting.bytes_read < max(64 * 1024, size // 100)


def test_the_read_cap_gives_none_rather_than_reading_on(sources: dict[int, Path]) -> None:
    assert read_keyframes(sources[2]) is not None
    assert read_keyframes(sources[2], max_bytes=64) is None
