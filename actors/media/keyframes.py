"""Keyframe times from a container's own index, without reading the media data.

``read_keyframes(path)`` returns the presentation times (seconds) of the main video
track's keyframes, or None when the container has no usable index (MPEG-TS, Matroska
without Cues, fragmented MP4, an edit list it does not model): the caller then falls
back to a full ffprobe pass. ``keyframes_from_file(f)`` does the same on an open file.

- MP4/MOV: the first ``vide`` track's ``stss`` (sync samples; absent means every sample
  is one), ``stts`` (decode times), ``ctts`` (composition offsets, signed) and the
  ``mdhd`` timescale. An edit list is honoured when it is simple: an optional empty edit
  (a delay, in the ``mvhd`` timescale) then one edit at rate 1 whose media time is the
  usual B-frame shift. ``moov`` may sit before or after ``mdat``: top-level boxes are
  skipped by seeking over them.
- Matroska/WebM: ``CueTime`` of every ``CuePoint`` with a ``CueTrackPositions`` of the
  first video track, scaled by ``TimestampScale`` from ``Info``. ``Cues`` is found
  through the ``SeekHead`` (FFmpeg writes it after the clusters), or before the first
  ``Cluster``; level-1 elements that are not needed are seeked over. FFmpeg and
  mkvmerge cue every video keyframe; a muxer that cues fewer gives fewer (still true)
  keyframes.

Times are the stream's presentation timestamps, exactly what ffprobe reports as
``pts_time`` for the keyframe packets: the stream's start time is included, not
subtracted. Callers that count from the container's ``format.start_time`` (the media
timeline) subtract it themselves.

At most ``max_bytes`` are read (default 32 MiB; a 3-hour film's tables are a few MiB);
past that the answer is None. Parsing is pure Python with ``struct``.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from actors.media import _ebml, _mp4
from actors.media._reader import BoundedReader, ReadLimitExceeded

DEFAULT_MAX_BYTES = 32 * 1024 * 1024

Keyframes = tuple[float, ...]


def read_keyframes(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Keyframes | None:
    """Keyframe times of ``path``'s main video track, or None without a usable index."""
    try:
        with open(path, "rb") as file:
            return keyframes_from_file(file, max_bytes=max_bytes)
    except OSError:
        return None


def keyframes_from_file(file: BinaryIO, *,
                        max_bytes: int = DEFAULT_MAX_BYTES) -> Keyframes | None:
    """Like ``read_keyframes`` on an open, seekable binary file."""
    reader = BoundedReader(file, max_bytes)
    try:
        head = reader.read_at(0, 8)
        if len(head) < 8:
            return None
        if head[:4] == _ebml.EBML_MAGIC:
            return _ebml.cue_times(reader)
        if _mp4.looks_like_mp4(head):
            return _mp4.keyframe_times(reader)
    except (ReadLimitExceeded, struct.error, ValueError):
        return None
    return None
