"""Keyframe times of an MP4/MOV file's first video track, from its sample tables.

Only box headers are read on the way down (``moov/trak/mdia/minf/stbl``); the payloads
read are ``mvhd``, ``hdlr``, ``mdhd``, ``elst``, ``stts``, ``ctts`` and ``stss``. The
layouts are those of ISO/IEC 14496-12. See ``keyframes.py`` for the guarantees.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from actors.media._reader import BoundedReader

TOP_LEVEL_TYPES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"uuid"}

Runs = list[tuple[int, int]]  # (sample count, value) pairs of stts / ctts


@dataclass(frozen=True)
class Box:
    """A box's type, where its payload starts and where the box ends (file offsets)."""

    kind: bytes
    start: int
    end: int


@dataclass(frozen=True)
class VideoTrack:
    """What the keyframe times are computed from, in the track's timescale."""

    timescale: int
    decode_deltas: Runs
    composition_offsets: Runs
    sync_samples: list[int] | None  # 1-based; None: every sample is a sync sample
    edits: list[tuple[int, int, float]]  # (duration in movie timescale, media time, rate)


def looks_like_mp4(head: bytes) -> bool:
    """Whether the first 8 bytes of a file are the header of a top-level MP4 box."""
    return head[4:8] in TOP_LEVEL_TYPES


def _boxes(reader: BoundedReader, start: int, end: int) -> Iterator[Box]:
    offset = start
    while offset + 8 <= end:
        head = reader.read_at(offset, 16)
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", head[8:16])[0], 16
        elif size == 0:  # the box runs to the end of its parent
            size = end - offset
        if size < header or offset + size > end:
            raise ValueError(f"box {kind!r} at {offset} has a bad size {size}")
        yield Box(kind, offset + header, offset + size)
        offset += size


def _child(reader: BoundedReader, parent: Box, kind: bytes) -> Box | None:
    return next((box for box in _boxes(reader, parent.start, parent.end)
                 if box.kind == kind), None)


def _path(reader: BoundedReader, parent: Box | None, *kinds: bytes) -> Box | None:
    for kind in kinds:
        if parent is None:
            return None
        parent = _child(reader, parent, kind)
    return parent


def _payload(reader: BoundedReader, box: Box) -> bytes:
    return reader.read_at(box.start, box.end - box.start)


def _timescale(payload: bytes) -> int:
    """The timescale of an ``mvhd`` or ``mdhd`` payload (version 0 or 1)."""
    offset = 20 if payload[0] == 1 else 12
    return struct.unpack_from(">I", payload, offset)[0]


def _table(payload: bytes, entry: str) -> list[tuple[int, ...]]:
    """The entries of a full box that is a 32-bit count then fixed-size entries."""
    count = struct.unpack_from(">I", payload, 4)[0]
    size = struct.calcsize(entry)
    if 8 + count * size > len(payload):
        raise ValueError("table entries run past the box")
    return list(struct.iter_unpack(entry, payload[8:8 + count * size]))


def _edits(payload: bytes) -> list[tuple[int, int, float]]:
    entry = ">QqhH" if payload[0] == 1 else ">IihH"
    return [(duration, media_time, whole + fraction / 65536)
            for duration, media_time, whole, fraction in _table(payload, entry)]


def _video_track(reader: BoundedReader, trak: Box) -> VideoTrack | None:
    hdlr = _path(reader, trak, b"mdia", b"hdlr")
    if hdlr is None or _payload(reader, hdlr)[8:12] != b"vide":
        return None
    mdhd = _path(reader, trak, b"mdia", b"mdhd")
    stbl = _path(reader, trak, b"mdia", b"minf", b"stbl")
    stts = _path(reader, stbl, b"stts")
    if mdhd is None or stbl is None or stts is None:
        return None
    ctts, stss = _child(reader, stbl, b"ctts"), _child(reader, stbl, b"stss")
    elst = _path(reader, trak, b"edts", b"elst")
    return VideoTrack(
        timescale=_timescale(_payload(reader, mdhd)),
        decode_deltas=_table(_payload(reader, stts), ">II"),  # type: ignore[arg-type]
        composition_offsets=(_table(_payload(reader, ctts), ">Ii")  # type: ignore[arg-type]
                             if ctts else []),
        sync_samples=[n for (n,) in _table(_payload(reader, stss), ">I")] if stss else None,
        edits=_edits(_payload(reader, elst)) if elst else [])


def _decode_times(runs: Runs, samples: list[int]) -> list[int]:
    """Decode times of the given 0-based, ascending sample numbers."""
    times, run, run_first, run_time = [], 0, 0, 0
    for sample in samples:
        while run < len(runs) and sample >= run_first + runs[run][0]:
            run_first += runs[run][0]
            run_time += runs[run][0] * runs[run][1]
            run += 1
        if run == len(runs):
            raise ValueError(f"sample {sample} is past the decode time table")
        times.append(run_time + (sample - run_first) * runs[run][1])
    return times


def _run_values(runs: Runs, samples: list[int]) -> list[int]:
    """The run-length coded value of each given 0-based, ascending sample (0 past the end)."""
    values, run, run_first = [], 0, 0
    for sample in samples:
        while run < len(runs) and sample >= run_first + runs[run][0]:
            run_first += runs[run][0]
            run += 1
        values.append(runs[run][1] if run < len(runs) else 0)
    return values


def _edit_shift(edits: list[tuple[int, int, float]]) -> tuple[int, int] | None:
    """(delay in movie timescale, media time) of a simple edit list; None otherwise."""
    delay = 0
    while edits and edits[0][1] == -1:
        delay += edits[0][0]
        edits = edits[1:]
    if not edits:
        return (delay, 0) if delay == 0 else None
    if len(edits) != 1 or edits[0][2] != 1.0 or edits[0][1] < 0:
        return None
    return delay, edits[0][1]


def _times(track: VideoTrack, movie_timescale: int) -> tuple[float, ...] | None:
    sample_count = sum(count for count, _ in track.decode_deltas)
    shift = _edit_shift(track.edits)
    if sample_count == 0 or shift is None or track.timescale <= 0 or movie_timescale <= 0:
        return None  # fragmented, or an edit list this does not model
    numbers = track.sync_samples if track.sync_samples is not None else range(1, sample_count + 1)
    samples = sorted(n - 1 for n in numbers if 1 <= n <= sample_count)
    decode = _decode_times(track.decode_deltas, samples)
    composition = _run_values(track.composition_offsets, samples)
    delay, media_time = shift
    presented = sorted(d + c - media_time for d, c in zip(decode, composition))
    # An edit that trims the start keeps (as FFmpeg does) the last keyframe before it,
    # at a negative time, and drops the earlier ones.
    first = max((i for i, t in enumerate(presented) if t <= 0), default=0)
    offset = delay / movie_timescale
    return tuple(offset + t / track.timescale for t in presented[first:]) or None


def keyframe_times(reader: BoundedReader) -> tuple[float, ...] | None:
    """Keyframe presentation times (s) of the first video track, or None."""
    moov = next((box for box in _boxes(reader, 0, reader.size) if box.kind == b"moov"), None)
    mvhd = _child(reader, moov, b"mvhd") if moov else None
    if moov is None or mvhd is None:
        return None
    movie_timescale = _timescale(_payload(reader, mvhd))
    for trak in _boxes(reader, moov.start, moov.end):
        if trak.kind != b"trak":
            continue
        track = _video_track(reader, trak)
        if track is not None and sum(count for count, _ in track.decode_deltas) > 1:
            return _times(track, movie_timescale)
    return None
