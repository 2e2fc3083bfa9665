"""RFC 6381 ``CODECS`` values of a video stream, read from its init segment's sample entry.

``video_codecs(init)`` finds the first video sample entry of an fMP4 init segment
(``moov/trak/mdia/minf/stbl/stsd``) and builds its string from the decoder
configuration box, never from constants:

- HEVC (``hvc1``/``hev1`` + ``hvcC``, ISO/IEC 14496-15 E.3):
  ``hvc1.<space letter><profile_idc>.<compat flags, bits reversed, hex>.<L|H><level_idc>
  .<constraint bytes, hex, trailing zero bytes dropped>``: Main 10 L5.0 is ``hvc1.2.4.L150.B0``.
- AV1 (``av01`` + ``av1C``, AV1-ISOBMFF "Codecs Parameter String"):
  ``av01.<profile>.<level, 2 digits><tier M|H>.<bit depth, 2 digits>``, then the optional
  fields (monochrome, chroma subsampling and position, colour primaries, transfer, matrix,
  full range) only when the ``colr`` box or the chroma differ from the defaults.
- VP9 (``vp09`` + ``vpcC``, VP Codec ISO Media File Format Binding): the long form
  ``vp09.<profile>.<level>.<bit depth>.<chroma>.<primaries>.<transfer>.<matrix>.<full range>``
  (all two digits): the short form cannot tell PQ or HLG from SDR.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator

CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl"})
VISUAL_SAMPLE_ENTRY = 78  # bytes before a visual sample entry's child boxes (14496-12 12.1.3)
AV1_DEFAULT_COLOUR = (1, 1, 1, 0)  # BT.709 primaries, transfer and matrix; limited range


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, offset + 8)[0], 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise ValueError(f"box {kind!r} at {offset} has a bad size {size}")
        yield kind, offset + header, offset + size
        offset += size


def _find(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in boxes(data, start, end) if k == kind), None)


def _sample_entries(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """Every sample entry of every track: (format, payload start, end)."""
    def walk(start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        for kind, payload, box_end in boxes(data, start, end):
            if kind in CONTAINERS:
                yield from walk(payload, box_end)
            elif kind == b"stsd":
                yield from boxes(data, payload + 8, box_end)  # version, flags, entry count
    yield from walk(0, len(data))


def video_codecs(init: bytes) -> str:
    """The CODECS value of the first HEVC, AV1 or VP9 sample entry in ``init``."""
    for kind, start, end in _sample_entries(init):
        children = start + VISUAL_SAMPLE_ENTRY
        if kind in (b"hvc1", b"hev1") and (box := _find(init, children, end, b"hvcC")):
            return hevc_codecs(kind.decode(), init[box[0]:box[1]])
        if kind == b"av01" and (box := _find(init, children, end, b"av1C")):
            colr = _find(init, children, end, b"colr")
            return av1_codecs(init[box[0]:box[1]], init[colr[0]:colr[1]] if colr else None)
        if kind == b"vp09" and (box := _find(init, children, end, b"vpcC")):
            return vp9_codecs(init[box[0]:box[1]])
    raise ValueError("no HEVC, AV1 or VP9 sample entry in the init segment")


def hevc_codecs(entry: str, hvcc: bytes) -> str:
    """From an ``hvcC`` payload (HEVCDecoderConfigurationRecord)."""
    if len(hvcc) < 13:
        raise ValueError("hvcC is too short")
    space, tier, profile = hvcc[1] >> 6, (hvcc[1] >> 5) & 1, hvcc[1] & 0x1F
    compat = int(f"{struct.unpack_from('>I', hvcc, 2)[0]:032b}"[::-1], 2)
    constraints = hvcc[6:12].rstrip(b"\0")
    level = hvcc[12]
    parts = [entry, f"{'' if space == 0 else 'ABC'[space - 1]}{profile}", f"{compat:X}",
             f"{'HL'[tier == 0]}{level}", *(f"{byte:X}" for byte in constraints)]
    return ".".join(parts)


def av1_codecs(av1c: bytes, colr: bytes | None = None) -> str:
    """From an ``av1C`` payload (AV1CodecConfigurationRecord) and the ``colr`` beside it."""
    if len(av1c) < 4 or av1c[0] & 0x7F != 1:
        raise ValueError("not an av1C of version 1")
    profile, level = av1c[1] >> 5, av1c[1] & 0x1F
    flags = av1c[2]
    tier, high, twelve, mono = flags >> 7, (flags >> 6) & 1, (flags >> 5) & 1, (flags >> 4) & 1
    chroma = f"{(flags >> 3) & 1}{(flags >> 2) & 1}{flags & 3 if (flags >> 2) & 1 else 0}"
    depth = 12 if twelve else 10 if high else 8
    short = f"av01.{profile}.{level:02d}{'MH'[tier]}.{depth:02d}"
    colour = _nclx(colr) or AV1_DEFAULT_COLOUR
    if not mono and chroma == "110" and colour == AV1_DEFAULT_COLOUR:
        return short
    primaries, transfer, matrix, full = colour
    return f"{short}.{mono}.{chroma}.{primaries:02d}.{transfer:02d}.{matrix:02d}.{full}"


def _nclx(colr: bytes | None) -> tuple[int, int, int, int] | None:
    if colr is None or len(colr) < 11 or colr[:4] != b"nclx":
        return None
    primaries, transfer, matrix = struct.unpack_from(">HHH", colr, 4)
    return primaries, transfer, matrix, colr[10] >> 7


def vp9_codecs(vpcc: bytes) -> str:
    """From a ``vpcC`` payload of version 1 (after its version and flags)."""
    if len(vpcc) < 10 or vpcc[0] != 1:
        raise ValueError("not a vpcC of version 1")
    profile, level, packed = vpcc[4], vpcc[5], vpcc[6]
    depth, chroma, full = packed >> 4, (packed >> 1) & 7, packed & 1
    primaries, transfer, matrix = vpcc[7], vpcc[8], vpcc[9]
    return ".".join(["vp09", *(f"{n:02d}" for n in (profile, level, depth, chroma, primaries,
                                                    transfer, matrix, full))])
