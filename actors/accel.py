"""Segments that nginx sends itself (``hls.accel_redirect``): short-lived hard links.

hlsd answers a complete segment with ``X-Accel-Redirect: <prefix><path>``; nginx opens
that path a moment later. The session may delete the segment (``hls.keep_behind``) or
its whole run dir (seek, idle, stop: invariant 2, within 1 s) in that moment. So the
path given to nginx is not the run dir's file but a hard link to it, made from the file
the session already opened, at ``<work_dir>/<instance>/serve-<ms>-<hex>.ts``: deleting
the run dir never touches it, and the run dir goes as fast as before.

Guarantees:
- A link is made from the open file of a complete segment: when that is impossible (its
  last name is gone, the dir is unwritable), hlsd streams the open file itself.
- Links are plain files in the instance dir, never dirs: they are no session work dir
  (SPEC invariant 2 counts those) and the sweep of run dirs never sees them.
- ``sweep_links`` removes links older than ``LINK_GRACE``; the reaper calls it on every
  sweep (and so at start-up), so a link lives at most ``LINK_GRACE`` + ``hls.reap_interval``.
  nginx holds its own open file once it has opened one: removing the name then is safe.
"""
from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from pathlib import Path
from typing import BinaryIO

from actors import ffmpeg

log = logging.getLogger(__name__)

LINK_GRACE = 10.0  # nginx opens the file within milliseconds of reading hlsd's header
PREFIX = "serve-"


def link_for_proxy(work_dir: Path, instance: str, opened: BinaryIO) -> str | None:
    """The path under ``work_dir`` of a fresh hard link to the open segment, closing it;
    None (the file left open, for hlsd to stream) when it cannot be linked."""
    directory = ffmpeg.instance_dir(work_dir, instance)
    name = f"{PREFIX}{int(time.time() * 1000)}-{secrets.token_hex(6)}.ts"
    try:
        # Through the open file, not its name (which may be gone by now): linkat() with
        # AT_SYMLINK_FOLLOW on /proc/self/fd/N links the inode itself, and fails for one
        # no name links any more (nlink 0). A dir fd makes os.link use linkat().
        parent = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.link(f"/proc/self/fd/{opened.fileno()}", name, dst_dir_fd=parent, follow_symlinks=True)
        finally:
            os.close(parent)
    except OSError as error:
        log.debug("segment %s streamed by hlsd: %s", getattr(opened, "name", "?"), error)
        return None
    opened.close()
    return f"{directory.name}/{name}"


def sweep_links(work_dir: Path, instance: str, grace: float = LINK_GRACE) -> int:
    """Remove this instance's links older than ``grace`` seconds; how many went."""
    directory = ffmpeg.instance_dir(work_dir, instance)
    cutoff = (time.time() - grace) * 1000
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            made = _made_ms(entry.name)
            if made is not None and made < cutoff and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def _made_ms(name: str) -> int | None:
    if not (name.startswith(PREFIX) and name.endswith(".ts")):
        return None
    stamp, _, _ = name[len(PREFIX):].partition("-")
    return int(stamp) if stamp.isdigit() else None
