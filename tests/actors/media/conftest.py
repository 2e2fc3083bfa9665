"""Clips shared by the track tests, made once per test session.

Until ``actors/media.py`` becomes the ``actors/media/`` package, that module shadows the
directory; giving it the directory as its ``__path__`` lets ``actors.media.tracks`` and
its siblings import. Once the package exists this does nothing.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import actors.media

if not hasattr(actors.media, "__path__"):
    actors.media.__path__ = [str(Path(actors.media.__file__).with_suffix(""))]

from tests.helpers.track_clips import make_film, make_video  # noqa: E402


@pytest.fixture(scope="session")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_film(tmp_path_factory.mktemp("film"))


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("clips")
    kinds = ("plain", "interlaced", "pq", "hlg", "rotated", "yuv444", "10bit")
    return {kind: make_video(directory, kind) for kind in kinds}
