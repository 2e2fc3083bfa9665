"""Clips shared by the media tests: the track tests' ``film`` and ``clips`` (made once per
test session), and ``media_clips``, ``clip720`` and ``prober`` (once per module)."""
from __future__ import annotations

from pathlib import Path

import pytest

from actors.media import Prober
from tests.helpers.media import FFPROBE, make_clip
from tests.helpers.track_clips import make_film, make_video


@pytest.fixture(scope="session")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_film(tmp_path_factory.mktemp("film"))


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("clips")
    kinds = ("plain", "interlaced", "pq", "hlg", "rotated", "yuv444", "10bit")
    return {kind: make_video(directory, kind) for kind in kinds}


# The media tests' own clips (a directory per test module) and the prober they share.

@pytest.fixture(scope="module")
def media_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media_clips")


@pytest.fixture(scope="module")
def clip720(media_clips: Path) -> Path:
    return make_clip(media_clips / "hd.mp4", 3, gop=2.0)


@pytest.fixture(scope="module")
def prober() -> Prober:
    return Prober(FFPROBE)
