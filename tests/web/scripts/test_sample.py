"""``python -m web.scripts.sample``: a sample clip for an empty library, nothing otherwise."""
from __future__ import annotations

from pathlib import Path

import pytest

from actors import media
from tests.helpers.server import write_ini
from tests.helpers.settings import app_settings
from web.scripts import sample


def test_empty_library_gets_a_playable_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sample, "SECONDS", 2)
    ini = write_ini(tmp_path / "hlsd.ini", app_settings(tmp_path / "media", tmp_path / "work"))
    assert sample.main([str(ini)]) == 0
    assert media.list_media(tmp_path / "media") == ["sample.mp4"]
    info = media.Prober("ffprobe").probe(tmp_path / "media" / "sample.mp4")
    assert (info.video.codec, info.video.height, info.audio and info.audio.codec) == ("h264", 720, "aac")
    assert info.duration == pytest.approx(2.0, abs=0.1)


def test_a_library_with_media_is_left_alone(tmp_path: Path, media_root: Path) -> None:
    before = sorted(p.name for p in media_root.iterdir())
    ini = write_ini(tmp_path / "hlsd.ini", app_settings(media_root, tmp_path / "work"))
    assert sample.main([str(ini)]) == 0
    assert sorted(p.name for p in media_root.iterdir()) == before


def test_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sample.main([str(tmp_path / "missing.ini")]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
