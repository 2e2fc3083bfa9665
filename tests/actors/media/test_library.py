"""resolve_media and list_media: a media id never leaves the root."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from actors.media import MEDIA_EXTENSIONS, list_media, resolve_media
from actors.errors import HlsError as MediaError, NotFound

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- resolve_media

@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A media root with traps in it, and a folder outside it."""
    base = tmp_path_factory.mktemp("library")
    root, outside = base / "root", base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    for name in ("a.mp4", "sub/b.mkv", "Upper.MOV", "café.webm", ".hidden.mp4", "notes.txt",
                 "sub/.secret.mkv"):
        (root / name).write_bytes(b"x")
    (root / "dir.mp4").mkdir()
    (outside / "outside.mp4").write_bytes(b"x")
    (outside / "c.mp4").write_bytes(b"x")
    (root / "link_in.mp4").symlink_to(root / "a.mp4")
    (root / "link_out.mp4").symlink_to(outside / "outside.mp4")
    (root / "relative_out.mp4").symlink_to("../outside/outside.mp4")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    (root / "fake.mp4").symlink_to(root / "notes.txt")
    return root, outside


@pytest.mark.parametrize("media_id, expected", [
    ("a.mp4", "a.mp4"),
    ("sub/b.mkv", "sub/b.mkv"),
    ("Upper.MOV", "Upper.MOV"),
    ("café.webm", "café.webm"),
    ("link_in.mp4", "a.mp4"),
])
def test_resolve_accepts_media_inside_the_root(library, media_id, expected):
    root, _ = library
    assert resolve_media(root, media_id) == Path(os.path.realpath(root / expected))


@pytest.mark.parametrize("media_id", [
    "", "../outside/outside.mp4", "sub/../../outside/outside.mp4", "sub/../a.mp4",
    "./a.mp4", "sub//b.mkv", "a.mp4/", "link_out.mp4", "relative_out.mp4",
    "dirlink/c.mp4", "notes.txt", "fake.mp4", "sub", "dir.mp4", "missing.mp4",
    ".hidden.mp4", "sub/.secret.mkv", "sub\\b.mkv", "a.mp4\x00", "a.mp4\x00.txt",
    "..", "%2e%2e/outside/outside.mp4", "\udcff.mp4",
])
def test_resolve_refuses_everything_else(library, media_id):
    root, _ = library
    with pytest.raises(MediaError) as refused:
        resolve_media(root, media_id)
    assert (type(refused.value), refused.value.code) == (NotFound, "not_found")


def test_resolve_refuses_absolute_paths_even_inside_the_root(library):
    root, outside = library
    for absolute in (str(outside / "outside.mp4"), str(root / "a.mp4")):
        with pytest.raises(MediaError):
            resolve_media(root, absolute)


SEGMENTS = st.sampled_from([
    "a.mp4", "sub", "b.mkv", "..", ".", "", "link_in.mp4", "link_out.mp4", "dirlink",
    "c.mp4", "outside", "outside.mp4", "notes.txt", ".hidden.mp4", "dir.mp4", "fake.mp4",
    "relative_out.mp4", "%2e%2e", "..\\outside.mp4", "\x00", "root",
]) | st.text(max_size=6)


@settings(max_examples=400, deadline=None)
@given(lead=st.sampled_from(["", "/", "//", "../", "./"]),
       parts=st.lists(SEGMENTS, min_size=1, max_size=5))
def test_resolve_never_leaves_the_root(library, lead, parts):
    root, outside = library
    real_root = os.path.realpath(root)
    allowed = {os.path.realpath(root / name) for name in ("a.mp4", "sub/b.mkv", "Upper.MOV")}
    try:
        found = resolve_media(root, lead + "/".join(parts))
    except MediaError as refused:
        assert isinstance(refused, NotFound)
        return
    assert str(found) in allowed
    assert os.path.commonpath([real_root, found]) == real_root
    assert found.suffix.lower() in MEDIA_EXTENSIONS and found.is_file()


def test_list_media_lists_only_what_resolve_accepts(library):
    root, _ = library
    assert list_media(root) == ["Upper.MOV", "a.mp4", "café.webm", "link_in.mp4", "sub/b.mkv"]


