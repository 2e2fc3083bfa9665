"""A small checker of the HLS rules (RFC 8216 and Apple's authoring rules) that hlsd's
playlists must keep; apply it to every playlist a test fetches.

``check_master(text)`` and ``check_media(text)`` return the rules a playlist breaks
(an empty list when it keeps them all); ``assert_master`` / ``assert_media`` fail with
that list. ``uris(text)`` gives every URI a playlist names, for the caller to resolve.

Rules of every playlist:
- ``#EXTM3U`` is the first line; at most one ``#EXT-X-VERSION``.
- Every tag line is a tag this checker knows (a typo is no tag).
Rules of a master playlist:
- ``#EXT-X-INDEPENDENT-SEGMENTS``.
- Every ``#EXT-X-STREAM-INF`` has ``BANDWIDTH``, ``AVERAGE-BANDWIDTH`` (not above
  BANDWIDTH), ``CODECS``, ``RESOLUTION``, ``FRAME-RATE`` and ``VIDEO-RANGE`` (SDR, PQ or
  HLG), and is followed by its URI.
- Beside any variant with ``VIDEO-RANGE`` PQ or HLG there is an SDR variant.
- Every ``AUDIO=`` / ``SUBTITLES=`` group a variant names has an ``#EXT-X-MEDIA`` of it
  with a ``URI``.
Rules of a media playlist:
- ``#EXT-X-TARGETDURATION`` is at least every ``#EXTINF`` rounded to the nearest integer.
- ``#EXT-X-VERSION`` is at least what its features need: 7 with ``#EXT-X-MAP`` (fMP4);
  ``#EXT-X-MAP`` comes before the first segment, and has a URI.
- fMP4 segments (``.m4s``) appear only after an ``#EXT-X-MAP``.
- Every ``#EXTINF`` is followed by a URI (``#EXT-X-BYTERANGE`` or ``#EXT-X-TILES`` may come
  between: they describe that segment); ``#EXT-X-ENDLIST`` ends a VOD playlist.
- An ``#EXT-X-I-FRAMES-ONLY`` playlist is version 4 or more and names a byte range for
  every entry.
- An ``#EXT-X-IMAGES-ONLY`` playlist (the Roku convention) gives every entry an
  ``#EXT-X-TILES`` with ``RESOLUTION``, ``LAYOUT`` (CxR) and ``DURATION``, and a sheet's
  tiles cover its ``#EXTINF`` (C × R × DURATION ≥ EXTINF).
"""
from __future__ import annotations

import math
import re

KNOWN_TAGS = frozenset({
    "#EXTM3U", "#EXT-X-VERSION", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-STREAM-INF",
    "#EXT-X-MEDIA", "#EXT-X-I-FRAME-STREAM-INF", "#EXT-X-IMAGE-STREAM-INF",
    "#EXT-X-PLAYLIST-TYPE", "#EXT-X-TARGETDURATION", "#EXT-X-MEDIA-SEQUENCE", "#EXTINF",
    "#EXT-X-MAP", "#EXT-X-ENDLIST", "#EXT-X-I-FRAMES-ONLY", "#EXT-X-BYTERANGE", "#EXT-X-TILES",
    "#EXT-X-IMAGES-ONLY",
    "#EXT-X-SESSION-DATA", "#EXT-X-START", "#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-DISCONTINUITY",
})
STREAM_INF_NEEDS = ("BANDWIDTH", "AVERAGE-BANDWIDTH", "CODECS", "RESOLUTION", "FRAME-RATE",
                    "VIDEO-RANGE")
VIDEO_RANGES = frozenset({"SDR", "PQ", "HLG"})
ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def attributes(line: str) -> dict[str, str]:
    """The attribute list of a tag line, quotes removed."""
    _tag, _, listed = line.partition(":")
    return {name: value.strip('"') for name, value in ATTRIBUTE.findall(listed)}


def uris(text: str) -> list[str]:
    """Every URI a playlist names: its non-tag lines and its ``URI=`` attributes."""
    found = []
    for line in _lines(text):
        if not line.startswith("#"):
            found.append(line)
        elif 'URI="' in line:
            found.append(attributes(line)["URI"])
    return found


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _common(lines: list[str]) -> list[str]:
    broken = []
    if not lines or lines[0] != "#EXTM3U":
        broken.append("#EXTM3U is not the first line")
    if sum(line.startswith("#EXT-X-VERSION:") for line in lines) > 1:
        broken.append("more than one #EXT-X-VERSION")
    for line in lines:
        tag = line.partition(":")[0]
        if line.startswith("#EXT") and tag not in KNOWN_TAGS:
            broken.append(f"unknown tag {tag}")
    return broken


def check_master(text: str) -> list[str]:
    lines = _lines(text)
    broken = _common(lines)
    if "#EXT-X-INDEPENDENT-SEGMENTS" not in lines:
        broken.append("no #EXT-X-INDEPENDENT-SEGMENTS")
    groups = {(a.get("TYPE"), a.get("GROUP-ID")) for a in
              (attributes(line) for line in lines if line.startswith("#EXT-X-MEDIA:"))
              if "URI" in a}
    ranges = []
    for number, line in enumerate(lines):
        if not line.startswith("#EXT-X-STREAM-INF:"):
            continue
        found = attributes(line)
        broken += [f"a variant has no {name}" for name in STREAM_INF_NEEDS if name not in found]
        if "AVERAGE-BANDWIDTH" in found and int(found["AVERAGE-BANDWIDTH"]) > int(found.get("BANDWIDTH", 0)):
            broken.append("AVERAGE-BANDWIDTH above BANDWIDTH")
        ranges.append(found.get("VIDEO-RANGE"))
        if found.get("VIDEO-RANGE", "SDR") not in VIDEO_RANGES:
            broken.append(f"VIDEO-RANGE {found['VIDEO-RANGE']}")
        for kind, name in (("AUDIO", "AUDIO"), ("SUBTITLES", "SUBTITLES")):
            if name in found and (kind, found[name]) not in groups:
                broken.append(f"no #EXT-X-MEDIA of {kind} group {found[name]}")
        if number + 1 >= len(lines) or lines[number + 1].startswith("#"):
            broken.append("a variant is not followed by its URI")
    if not ranges:
        broken.append("no #EXT-X-STREAM-INF")
    if any(r in ("PQ", "HLG") for r in ranges) and "SDR" not in ranges:
        broken.append("HDR variants without an SDR one")
    return broken


def check_media(text: str) -> list[str]:
    lines = _lines(text)
    broken = _common(lines)
    version = next((int(line.partition(":")[2]) for line in lines
                    if line.startswith("#EXT-X-VERSION:")), 1)
    target = next((int(line.partition(":")[2]) for line in lines
                   if line.startswith("#EXT-X-TARGETDURATION:")), None)
    if target is None:
        broken.append("no #EXT-X-TARGETDURATION")
    mapped = False
    iframes, images = "#EXT-X-I-FRAMES-ONLY" in lines, "#EXT-X-IMAGES-ONLY" in lines
    if iframes and version < 4:
        broken.append(f"#EXT-X-I-FRAMES-ONLY in version {version} (needs 4)")
    for number, line in enumerate(lines):
        if line.startswith("#EXT-X-MAP:"):
            mapped = True
            if version < 7:
                broken.append(f"#EXT-X-MAP in version {version} (fMP4 needs 7)")
            if "URI" not in attributes(line):
                broken.append("#EXT-X-MAP without a URI")
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].partition(",")[0])
            if target is not None and math.floor(duration + 0.5) > target:
                broken.append(f"EXTINF {duration} over TARGETDURATION {target}")
            described = _segment_tags(lines, number + 1)
            uri_at = number + 1 + len(described)
            if uri_at >= len(lines) or lines[uri_at].startswith("#"):
                broken.append("an #EXTINF is not followed by its URI")
            if iframes and not any(t.startswith("#EXT-X-BYTERANGE:") for t in described):
                broken.append("an I-frame entry without #EXT-X-BYTERANGE")
            if images:
                broken += _tiles_rules(duration, described)
        elif not line.startswith("#") and line.split("?")[0].endswith(".m4s") and not mapped:
            broken.append(f"fMP4 segment {line} before any #EXT-X-MAP")
    if "#EXT-X-PLAYLIST-TYPE:VOD" in lines and lines[-1] != "#EXT-X-ENDLIST":
        broken.append("a VOD playlist that does not end with #EXT-X-ENDLIST")
    return broken


def _segment_tags(lines: list[str], start: int) -> list[str]:
    """The tag lines between an ``#EXTINF`` and its URI that describe that segment."""
    found = []
    for line in lines[start:]:
        if not line.startswith(("#EXT-X-BYTERANGE:", "#EXT-X-TILES:")):
            break
        found.append(line)
    return found


def _tiles_rules(duration: float, described: list[str]) -> list[str]:
    tiles = next((attributes(t) for t in described if t.startswith("#EXT-X-TILES:")), None)
    if tiles is None or not {"RESOLUTION", "LAYOUT", "DURATION"} <= tiles.keys():
        return ["an image entry without #EXT-X-TILES RESOLUTION, LAYOUT and DURATION"]
    columns, _, rows = tiles["LAYOUT"].partition("x")
    if int(columns) * int(rows) * float(tiles["DURATION"]) + 1e-3 < duration:
        return [f"a sheet of {tiles['LAYOUT']} tiles of {tiles['DURATION']} s covers less than {duration} s"]
    return []


def assert_master(text: str) -> None:
    broken = check_master(text)
    assert not broken, f"master playlist breaks HLS rules: {broken}\n{text}"


def assert_media(text: str) -> None:
    broken = check_media(text)
    assert not broken, f"media playlist breaks HLS rules: {broken}\n{text}"
