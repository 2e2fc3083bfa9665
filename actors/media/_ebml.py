"""Keyframe times of a Matroska/WebM file's first video track, from its Cues.

Reads the EBML header, the Segment header, and level-1 elements up to the first
Cluster (headers only, except ``SeekHead``, ``Info``, ``Tracks`` and ``Cues``); elements
the ``SeekHead`` points to past the clusters are read by seeking straight to them.
Element ids and layouts follow the Matroska specification (RFC 9559). See
``keyframes.py`` for the guarantees.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from actors.media._reader import BoundedReader

EBML_MAGIC = b"\x1a\x45\xdf\xa3"
SEGMENT = 0x18538067
SEEK_HEAD, SEEK, SEEK_ID, SEEK_POSITION = 0x114D9B74, 0x4DBB, 0x53AB, 0x53AC
INFO, TIMESTAMP_SCALE = 0x1549A966, 0x2AD7B1
TRACKS, TRACK_ENTRY, TRACK_NUMBER, TRACK_TYPE = 0x1654AE6B, 0xAE, 0xD7, 0x83
CUES, CUE_POINT, CUE_TIME, CUE_TRACK_POSITIONS, CUE_TRACK = 0x1C53BB6B, 0xBB, 0xB3, 0xB7, 0xF7
CLUSTER = 0x1F43B675
VIDEO_TRACK_TYPE = 1
DEFAULT_TIMESTAMP_SCALE = 1_000_000  # ns per timestamp unit
MAX_LEVEL1_BEFORE_CLUSTER = 256


@dataclass(frozen=True)
class Element:
    """An element's id, where its data starts and where it ends (None: unknown size)."""

    ident: int
    start: int
    end: int | None


@dataclass
class SegmentIndex:
    """What the walk over the Segment's level-1 elements found so far."""

    timescale_ns: int = DEFAULT_TIMESTAMP_SCALE
    video_track: int | None = None
    cues: bytes | None = None
    seen: set[int] = field(default_factory=set)
    seeks: list[tuple[int, int]] = field(default_factory=list)  # (element id, position)


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """(value, length, all value bits set) of the variable-size integer at ``pos``."""
    first = data[pos]
    length = 9 - first.bit_length() if first else 9
    if length > 8 or pos + length > len(data):
        raise ValueError(f"bad variable-size integer at {pos}")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1:pos + length]:
        value = value << 8 | byte
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, length, unknown


def _header(data: bytes, pos: int, base: int) -> Element:
    """The element whose header is at ``data[pos:]``; ``base`` is ``data``'s file offset."""
    ident, id_length, _ = _vint(data, pos, keep_marker=True)
    size, size_length, unknown = _vint(data, pos + id_length, keep_marker=False)
    start = base + pos + id_length + size_length
    return Element(ident, start, None if unknown else start + size)


def _read_header(reader: BoundedReader, offset: int) -> Element:
    return _header(reader.read_at(offset, 12), 0, offset)


def _children(data: bytes, base: int = 0) -> Iterator[Element]:
    """The child elements of a master element whose whole data is ``data``."""
    pos = 0
    while pos < len(data):
        element = _header(data, pos, base)
        if element.end is None or element.end - base > len(data):
            raise ValueError("child element runs past its parent")
        yield element
        pos = element.end - base


def _uint(data: bytes, element: Element, base: int = 0) -> int:
    assert element.end is not None
    return int.from_bytes(data[element.start - base:element.end - base], "big")


def _body(data: bytes, element: Element, base: int = 0) -> bytes:
    assert element.end is not None
    return data[element.start - base:element.end - base]


def _read_level1(reader: BoundedReader, element: Element, found: SegmentIndex) -> None:
    """Parse a level-1 element that matters; others are left unread."""
    if element.end is None or element.ident not in (SEEK_HEAD, INFO, TRACKS, CUES):
        return
    data = reader.read_at(element.start, element.end - element.start)
    found.seen.add(element.ident)
    if element.ident == SEEK_HEAD:
        found.seeks += _seek_entries(data)
    elif element.ident == INFO:
        scale = next((_uint(data, e) for e in _children(data) if e.ident == TIMESTAMP_SCALE),
                     DEFAULT_TIMESTAMP_SCALE)
        found.timescale_ns = scale or DEFAULT_TIMESTAMP_SCALE
    elif element.ident == TRACKS:
        found.video_track = _video_track_number(data)
    else:
        found.cues = data


def _seek_entries(data: bytes) -> list[tuple[int, int]]:
    entries = []
    for seek in (e for e in _children(data) if e.ident == SEEK):
        body = _body(data, seek)
        fields = {e.ident: body[e.start:e.end] for e in _children(body)}
        if SEEK_ID in fields and SEEK_POSITION in fields:
            entries.append((int.from_bytes(fields[SEEK_ID], "big"),
                            int.from_bytes(fields[SEEK_POSITION], "big")))
    return entries


def _video_track_number(data: bytes) -> int | None:
    for entry in (e for e in _children(data) if e.ident == TRACK_ENTRY):
        body = _body(data, entry)
        fields = {e.ident: _uint(body, e) for e in _children(body)
                  if e.ident in (TRACK_NUMBER, TRACK_TYPE)}
        if fields.get(TRACK_TYPE) == VIDEO_TRACK_TYPE and TRACK_NUMBER in fields:
            return fields[TRACK_NUMBER]
    return None


def _walk_to_first_cluster(reader: BoundedReader, start: int, end: int,
                           found: SegmentIndex) -> None:
    offset = start
    for _ in range(MAX_LEVEL1_BEFORE_CLUSTER):
        if offset >= end:
            return
        element = _read_header(reader, offset)
        if element.ident == CLUSTER or element.end is None:
            return
        _read_level1(reader, element, found)
        offset = element.end


def _follow_seeks(reader: BoundedReader, segment_start: int, found: SegmentIndex) -> None:
    """Read the wanted elements the SeekHead(s) point to; a SeekHead may name another."""
    done: set[int] = set()
    while True:
        pending = [(ident, pos) for ident, pos in found.seeks
                   if ident in (SEEK_HEAD, INFO, TRACKS, CUES) and pos not in done
                   and (ident == SEEK_HEAD or ident not in found.seen)]
        if not pending:
            return
        ident, position = pending[0]
        done.add(position)
        element = _read_header(reader, segment_start + position)
        if element.ident == ident:
            _read_level1(reader, element, found)


def _cue_times(cues: bytes, track: int, timescale_ns: int) -> tuple[float, ...]:
    times = set()
    for point in (e for e in _children(cues) if e.ident == CUE_POINT):
        body = _body(cues, point)
        time, tracks = None, set()
        for child in _children(body):
            if child.ident == CUE_TIME:
                time = _uint(body, child)
            elif child.ident == CUE_TRACK_POSITIONS:
                positions = _body(body, child)
                tracks |= {_uint(positions, e) for e in _children(positions)
                           if e.ident == CUE_TRACK}
        if time is not None and track in tracks:
            times.add(time)
    return tuple(t * timescale_ns / 1e9 for t in sorted(times))


def cue_times(reader: BoundedReader) -> tuple[float, ...] | None:
    """Cue times (s) of the first video track, or None without Cues for it."""
    header = _read_header(reader, 0)
    if header.end is None:
        return None
    segment = _read_header(reader, header.end)
    if segment.ident != SEGMENT:
        return None
    end = reader.size if segment.end is None else min(segment.end, reader.size)
    found = SegmentIndex()
    _walk_to_first_cluster(reader, segment.start, end, found)
    _follow_seeks(reader, segment.start, found)
    if found.cues is None or found.video_track is None:
        return None
    times = _cue_times(found.cues, found.video_track, found.timescale_ns)
    return times or None
