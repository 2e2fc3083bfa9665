"""Clips shared by the track tests, made once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.track_clips import make_film, make_video


@pytest.fixture(scope="session")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_film(tmp_path_factory.mktemp("film"))


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("clips")
    kinds = ("plain", "interlaced", "pq", "hlg", "rotated", "yuv444", "10bit")
    return {kind: make_video(directory, kind) for kind in kinds}
