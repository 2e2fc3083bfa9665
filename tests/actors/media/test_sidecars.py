"""Subtitle files beside a media file: which are found, which are left out and why."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from actors.media.sidecars import find_sidecars, sidecar_flags, subtitle_problem

CUE = "1\n00:00:01,000 --> 00:00:02,000\nHi\n"
VTT = "WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n"


def test_film_sidecars(film: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="actors.media.sidecars"):
        tracks = find_sidecars(film, first_index=7)
    assert [(t.index, t.language, t.codec, t.kind, t.path) for t in tracks] == [
        (7, "eng", "subrip", "text", film.parent / "Film.en.srt")]
    assert any("Film.de.srt" in r.getMessage() and "UTF-8" in r.getMessage()
               for r in caplog.records)


def test_names_flags_and_case(tmp_path: Path) -> None:
    media = tmp_path / "Film.mkv"
    media.write_bytes(b"")
    for name in ("Film.srt", "film.FR.Forced.SRT", "Film.pt-br.sdh.vtt", "Film 2.srt",
                 "Film.en.txt", "Other.en.srt", "Film.en.fr.srt", "Film.english.srt"):
        (tmp_path / name).write_text(VTT if name.lower().endswith(".vtt") else CUE)
    found = {t.path.name: t for t in find_sidecars(media, 2) if t.path}
    assert set(found) == {"Film.srt", "film.FR.Forced.SRT", "Film.pt-br.sdh.vtt"}
    assert (found["Film.srt"].language, found["Film.srt"].forced) == ("und", False)
    assert (found["film.FR.Forced.SRT"].language, found["film.FR.Forced.SRT"].forced) == \
        ("fre", True)
    brazil = found["Film.pt-br.sdh.vtt"]
    assert (brazil.language, brazil.codec, brazil.hearing_impaired) == ("por", "webvtt", True)
    assert sorted(t.index for t in found.values()) == [2, 3, 4]


def test_symlinks_leaving_the_directory_are_refused(tmp_path: Path) -> None:
    library, elsewhere = tmp_path / "library", tmp_path / "elsewhere"
    library.mkdir()
    elsewhere.mkdir()
    media = library / "Film.mkv"
    media.write_bytes(b"")
    (elsewhere / "secret.srt").write_text(CUE)
    (library / "Film.es.srt").symlink_to(elsewhere / "secret.srt")
    (library / "real.srt").write_text(CUE)
    (library / "Film.it.srt").symlink_to(library / "real.srt")  # stays inside: fine
    (library / "Film.ja.srt").symlink_to(library / "missing.srt")
    found = [t.path.name for t in find_sidecars(media, 0) if t.path]
    assert found == ["Film.it.srt"]


@pytest.mark.parametrize(("name", "data", "problem"), [
    ("a.srt", b"\xef\xbb\xbf" + CUE.encode(), None),
    ("a.srt", CUE.replace("\n", "\r\n").encode(), None),
    ("a.srt", "1\n00:00:01,000 --> 00:00:02,000\nGrüße\n".encode("latin-1"), "UTF-8"),
    ("a.srt", b"just some text\n", "cue"),
    ("a.srt", b"1\n00:00:01 --> 00:00:02\nno millis\n", "cue"),
    ("a.vtt", VTT.encode(), None),
    ("a.vtt", b"WEBVTT - title\n\nid\n00:00:01.000 --> 00:00:02.000 line:0\nx\n", None),
    ("a.vtt", CUE.encode(), "WEBVTT"),
    ("a.vtt", b"WEBVTT\n\nnothing here\n", "cue"),
])
def test_validation(tmp_path: Path, name: str, data: bytes, problem: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    found = subtitle_problem(path)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_flags_parse() -> None:
    assert sidecar_flags("Movie.mp4", "Movie.en.default.srt") == ["en", "default"]
    assert sidecar_flags("Movie.mp4", "Movie.mp4") is None
    assert sidecar_flags("Movie.mp4", "Movie.hi.srt") == ["hi"]  # Hindi, not a flag
