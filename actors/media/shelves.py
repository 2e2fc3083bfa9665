"""The name a made segment is kept under in the segment store: its shelf.

A segment is a function of the file version, the recipe of its run and its number. So
a shelf hashes the media id and the file's version (size, mtime), FFmpeg's version
string, the rendition key, the segment grid and the arguments of a run of that key
*from segment 0*, with the run's own parts (its dir, its pipes) replaced by constants:
two runs of one rendition share a shelf whatever segment they started at, and anything
that changes the bytes (a rendition's size or rates, audio muxed or not, a burned
track, an upgrade of FFmpeg, another grid) gives another shelf, so nothing stale is
ever served. A subtitle file beside the media (a sidecar) has a version of its own: its
size and mtime, read when the shelf is named.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from actors.media.plan import Plan
from actors.media.runs import RenditionKey, RunKind, recipe_for

# What a run's own parts read as in the hashed arguments.
_RUN_DIR, _PROGRESS_FD, _LIST_FD = Path("/run"), 3, 4


def shelf(plan: Plan, key: RenditionKey, ffmpeg_version: str) -> str:
    """The store's name for segments of ``key`` of ``plan``'s file (see the module)."""
    argv = recipe_for(plan, key, 0).argv(_RUN_DIR, _PROGRESS_FD, _LIST_FD)
    info = plan.info
    facts = [plan.media_id, info.size, round(info.mtime * 1e6), ffmpeg_version,
             key.kind.value, key.name, list(plan.grid), argv, _sidecar_version(plan, key)]
    return hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()[:32]


def _sidecar_version(plan: Plan, key: RenditionKey) -> list[int]:
    if key.kind is not RunKind.SUBTITLES:
        return []
    path = plan.subtitle_track(key.track).path
    if path is None:
        return []
    try:
        stat = path.stat()
    except OSError:
        return [-1]  # gone: its run fails, nothing is kept
    return [stat.st_size, stat.st_mtime_ns]
