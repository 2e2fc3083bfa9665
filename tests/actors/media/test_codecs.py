"""CODECS strings: the builders against known values, and against the boxes of real
encodes (the init segments hlsd makes of them)."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from actors.media import Prober, make_plan
from actors.media.codecs import av1_codecs, hevc_codecs, video_codecs, vp9_codecs
from actors.media.fmp4 import InitSegments
from actors.media.profiles import DEFAULT_PROFILES
from tests.helpers.media import FFMPEG
from tests.helpers.modern_clips import make_modern_clip


def hvcc(space: int, tier: int, profile: int, compat: int, constraints: bytes, level: int) -> bytes:
    return bytes([1, space << 6 | tier << 5 | profile]) + struct.pack(">I", compat) + \
        constraints + bytes([level]) + bytes(10)


def test_hevc_main10_level_5_is_apples_example() -> None:
    # Main 10: profile_idc 2, compatibility flag 2 set (bit 29 of the 32, MSB first).
    record = hvcc(0, 0, 2, 0x20000000, b"\xb0\0\0\0\0\0", 150)
    assert hevc_codecs("hvc1", record) == "hvc1.2.4.L150.B0"


def test_hevc_main_high_tier_and_every_constraint_byte() -> None:
    # Main (1) compatible with Main and Main 10 (flags 1 and 2): reversed 0b110 = 6.
    record = hvcc(0, 1, 1, 0x60000000, b"\x90\0\x01\0\0\0", 123)
    assert hevc_codecs("hvc1", record) == "hvc1.1.6.H123.90.0.1"


def test_hevc_profile_space_is_a_letter_and_zero_constraints_are_dropped() -> None:
    assert hevc_codecs("hev1", hvcc(1, 0, 4, 0x08000000, bytes(6), 93)) == "hev1.A4.10.L93"


def av1c(profile: int, level: int, tier: int, high: int, twelve: int, mono: int = 0,
         sub_x: int = 1, sub_y: int = 1, position: int = 0) -> bytes:
    flags = tier << 7 | high << 6 | twelve << 5 | mono << 4 | sub_x << 3 | sub_y << 2 | position
    return bytes([0x81, profile << 5 | level, flags, 0])


def test_av1_short_form_when_colour_is_default() -> None:
    assert av1_codecs(av1c(0, 8, 0, 1, 0)) == "av01.0.08M.10"
    assert av1_codecs(av1c(0, 4, 0, 0, 0)) == "av01.0.04M.08"
    assert av1_codecs(av1c(2, 13, 1, 1, 1)) == "av01.2.13H.12"


def test_av1_long_form_names_hdr_colour() -> None:
    colr = b"nclx" + struct.pack(">HHH", 9, 16, 9) + bytes([0])
    assert av1_codecs(av1c(0, 13, 0, 1, 0), colr) == "av01.0.13M.10.0.110.09.16.09.0"


def test_vp9_long_form() -> None:
    # version 1, flags; profile 2, level 4.1, 10-bit, 4:2:0 colocated, BT.2020 PQ, limited.
    record = bytes([1, 0, 0, 0, 2, 41, 10 << 4 | 1 << 1 | 0, 9, 16, 9, 0, 0])
    assert vp9_codecs(record) == "vp09.02.41.10.01.09.16.09.00"


@pytest.fixture(scope="module")
def inits(media_clips: Path, prober: Prober) -> dict[str, bytes]:
    made = InitSegments(FFMPEG)
    found = {}
    for kind in ("hevc_pq", "hevc_phone", "av1", "vp9"):
        info = prober.probe(make_modern_clip(media_clips, kind), keyframes=True)
        plan = make_plan(kind, info, DEFAULT_PROFILES, 4.0)
        found[kind] = made(plan, plan.rendition("copy"))
    return found


@pytest.mark.parametrize(("kind", "expected"), [
    # x265 sets general_progressive_source and frame_only_constraint: 0x90.
    ("hevc_pq", "hvc1.2.4.L60.90"), ("hevc_phone", "hvc1.1.6.L60.90"),
    ("av1", "av01.0.00M.10"), ("vp9", "vp09.00.11.08.01.02.02.02.00")])
def test_codecs_of_real_encodes(inits: dict[str, bytes], kind: str, expected: str) -> None:
    assert video_codecs(inits[kind]) == expected
