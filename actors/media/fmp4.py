"""fMP4 segments: the one init segment of a rendition, and the fragments served after it.

- ``InitSegments``: the init (``ftyp`` + ``moov``) of each (file version, rendition),
  made once by a short FFmpeg run (``recipe.init_args``: the first frame copied to
  standard output) and kept in memory, never on disk. It is a function of the file and
  the recipe, so every node and every run makes the same bytes; CODECS is read from it
  (``codecs.video_codecs``). Measured here (2 cores, under load from other work): 0.1-0.2 s
  per file version, paid once by the session open that plans it first; then ~0.1 ms.
- ``strip_to_fragments(path, init)``: the segment muxer writes every segment as a small
  fragmented MP4 of its own; this rewrites it in place (a new file, renamed over it) as
  the ``moof`` + ``mdat`` pairs a player appends after the init, and says whether its
  head was the init (it is, unless the file changed under hlsd).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

from actors import ffmpeg
from actors.errors import Unplayable
from actors.media.codecs import boxes
from actors.media.plan import Plan
from actors.media.profiles import Profile
from actors.media.recipe import init_args

HEAD_BOXES = frozenset({b"ftyp", b"moov"})
MFRO_BYTES = 16  # the mfra's last box, which holds the mfra's size
INIT_TIMEOUT = 20.0  # seconds; the init copies one frame
HEAD_READ = 1 << 20  # an init is a few kB: the head of a segment holds it whole


class InitSegments:
    """The init segments of fMP4 renditions, made once per file version and recipe
    (at most ``size`` kept, least recently used go first). Thread-safe: waitress threads
    plan sessions in parallel."""

    def __init__(self, ffmpeg_path: str, size: int = 64, timeout: float = INIT_TIMEOUT) -> None:
        self._ffmpeg = ffmpeg_path
        self._size = size
        self._timeout = timeout
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self.made = 0  # FFmpeg runs so far (tests count them)

    def __call__(self, plan: Plan, rendition: Profile) -> bytes:
        """The init of ``rendition`` of ``plan`` (a ``plan.with_inits`` maker)."""
        info = plan.info
        args = init_args(info, rendition, plan.grid, muxed_audio=not plan.audio)
        stat = os.stat(info.path)
        key = (str(info.path), stat.st_size, stat.st_mtime_ns, tuple(args))
        with self._lock:
            if (kept := self._kept.get(key)) is not None:
                self._kept.move_to_end(key)
                return kept
        init = self._make(info.path, args)
        with self._lock:
            self.made += 1
            self._kept[key] = init
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return init

    def _make(self, path: Path, args: list[str]) -> bytes:
        try:
            output = ffmpeg.run_ffmpeg_output(self._ffmpeg, args, path, self._timeout)
        except (ffmpeg.ProbeFailed, ffmpeg.ProbeTimedOut) as error:
            raise Unplayable(f"no init segment: {error}", "no_init") from error
        head = fragment_offset(output)
        if head is None:
            raise Unplayable("no init segment: FFmpeg wrote no fragment", "no_init")
        return output[:head]


def fragment_offset(data: bytes) -> int | None:
    """Where the first box after the ``ftyp`` + ``moov`` head starts (None: no such box)."""
    offset = 0
    for kind, _payload, end in boxes(data):
        if kind not in HEAD_BOXES:
            return offset
        offset = end
    return None


def strip_to_fragments(path: Path, init: bytes | None = None) -> bool:
    """Rewrite the segment file ``path`` as its fragments only; whether its head was
    ``init`` (always True without one)."""
    size = path.stat().st_size
    with open(path, "rb") as source:
        head = source.read(min(size, HEAD_READ))
        first, end = _fragments(head, source, size)
        matches = init is None or head[:first] == init
        temporary = path.with_name(f".{path.name}.part")
        with open(temporary, "wb") as target:
            os.sendfile(target.fileno(), source.fileno(), first, end - first)
    os.replace(temporary, path)
    return matches


def _fragments(head: bytes, source: BinaryIO, size: int) -> tuple[int, int]:
    """(first fragment, end of the last) of a segment file of ``size`` bytes: its tail
    may be an ``mfra``, whose last box (``mfro``, 16 bytes) gives its size."""
    first = fragment_offset(head)
    if first is None:
        raise ValueError("the segment holds no fragment")
    source.seek(max(size - MFRO_BYTES, 0))
    tail = source.read(MFRO_BYTES)
    end = size
    if len(tail) == MFRO_BYTES and tail[4:8] == b"mfro":
        end = size - int.from_bytes(tail[12:16], "big")
    if not first < end <= size:
        raise ValueError("the segment's random access index is damaged")
    return first, end
