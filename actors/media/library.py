"""The library: media ids and the files they name.

A media id is a path relative to ``hls.media_root`` with ``/`` separators. Anything that
is not a visible, regular media file inside the root (symlinks resolved) is ``NotFound``
before anything is opened.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from actors.errors import NotFound

MEDIA_EXTENSIONS = frozenset({
    ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".avi", ".ts", ".mpg", ".mpeg", ".flv",
    ".wmv", ".ogv",
})


def _not_found(media_id: str) -> NotFound:
    return NotFound(f"no media file {media_id!r}")


def resolve_media(root: Path, media_id: str) -> Path:
    """The real path of ``media_id`` under ``root``; ``NotFound`` for anything else.

    Only path names are inspected (``realpath`` follows symlinks) until the target is
    known to be inside the root; then it must be a regular file with a media extension.
    """
    if not media_id or "\\" in media_id or "\x00" in media_id or media_id.startswith("/"):
        raise _not_found(media_id)
    parts = media_id.split("/")
    if any(not part or part.startswith(".") for part in parts):  # also "." and ".."
        raise _not_found(media_id)
    if PurePosixPath(media_id).suffix.lower() not in MEDIA_EXTENSIONS:
        raise _not_found(media_id)
    try:
        real_root = os.path.realpath(root)
        target = os.path.realpath(os.path.join(real_root, *parts))
        inside = target != real_root and os.path.commonpath([real_root, target]) == real_root
        is_media = Path(target).suffix.lower() in MEDIA_EXTENSIONS
        if not (inside and is_media and os.path.isfile(target)):
            raise _not_found(media_id)
    except ValueError:  # a name the file system cannot encode
        raise _not_found(media_id) from None
    return Path(target)


def list_media(root: Path) -> list[str]:
    """Sorted ids of every file under ``root`` that ``resolve_media`` accepts."""
    real_root = os.path.realpath(root)
    found = []
    for folder, dirs, files in os.walk(real_root):  # does not enter symlinked folders
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in files:
            media_id = os.path.relpath(os.path.join(folder, name), real_root)
            try:
                resolve_media(Path(real_root), media_id)
            except NotFound:
                continue
            found.append(media_id)
    return sorted(found)
