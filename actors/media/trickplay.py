"""Trick play, the pure part: what the scan's one FFmpeg pass makes, and what is said of it.

One pass per file version decodes the main video (keyframes only where they are at most
``KEYFRAME_GAP`` apart, else every frame), takes one picture per ``INTERVAL`` s of film
(tick ``n`` shows the latest picture at or before ``n * INTERVAL``) and writes it twice:

- into JPEG tile sheets, ``COLUMNS`` x ``ROWS`` thumbnails of ``TILE_WIDTH`` px wide
  (Jellyfin's defaults), ``0.jpg``, ``1.jpg``, ... (the last one padded black);
- into ``iframes.mp4``: an all-intra H.264 stream (``IFRAME_CODECS``), one picture per
  tick, as fragmented MP4 with one ``moof`` + ``mdat`` per picture, so that every I-frame
  playlist entry is the init (``ftyp`` + ``moov``) plus one byte range, decodable alone
  before any segment of the film was ever made.

From a ``Manifest`` (the geometry and the fragments' byte ranges) come the image playlist
(``#EXT-X-TILES``, the Roku convention), the WebVTT thumbnails track (``N.jpg#xywh=``
cues), the ``#EXT-X-I-FRAMES-ONLY`` playlist and the master's two lines.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from actors.media._mp4 import Box, _boxes, _child
from actors.media._reader import BoundedReader

INTERVAL = 10.0  # s of film per thumbnail and per I-frame (SPEC: at most 10 s apart)
TILE_WIDTH = 320
COLUMNS = ROWS = 10
IFRAME_WIDTH = 480
IFRAME_CODECS = "avc1.4d401e"  # H.264 Main, level 3.0: what ``scan_args`` encodes
KEYFRAME_GAP = INTERVAL  # wider keyframe gaps: decode every frame, not keyframes only
SHEET_QUALITY = 5  # mjpeg -q:v
IFRAME_CRF = 26
MANIFEST = "manifest.json"
IFRAMES = "iframes.mp4"
MAX_MP4_READ = 64 << 20  # bytes the box walk may read of iframes.mp4 (headers only)
_EARLY = 0.02  # s: a picture exactly on a tick (in its timebase's rounding) belongs to it


@dataclass(frozen=True)
class Geometry:
    """Thumbnail and I-frame picture sizes (display aspect, even), ticks of the film."""

    tile_width: int
    tile_height: int
    iframe_width: int
    iframe_height: int
    ticks: int
    duration: float
    interval: float = INTERVAL
    columns: int = COLUMNS
    rows: int = ROWS

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows

    @property
    def sheets(self) -> int:
        return math.ceil(self.ticks / self.per_sheet)

    def cell(self, tick: int) -> tuple[int, int, int, int]:
        """(sheet, x, y) of tick ``tick``'s thumbnail, and the sheet's tick count."""
        sheet, place = divmod(tick, self.per_sheet)
        row, column = divmod(place, self.columns)
        return sheet, column * self.tile_width, row * self.tile_height, place

    def tick_time(self, tick: int) -> float:
        return tick * self.interval

    def tick_end(self, tick: int) -> float:
        return min((tick + 1) * self.interval, self.duration)


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def geometry(duration: float, display_aspect: float) -> Geometry:
    """The geometry for a film of ``duration`` s whose pictures show at ``display_aspect``."""
    if duration <= 0 or display_aspect <= 0:
        raise ValueError("trick play needs a positive duration and aspect")
    ticks = max(1, math.ceil(duration / INTERVAL - 1e-9))
    return Geometry(TILE_WIDTH, _even(TILE_WIDTH / display_aspect), IFRAME_WIDTH,
                    _even(IFRAME_WIDTH / display_aspect), ticks, duration)


def keyframes_suffice(keyframes: tuple[float, ...] | None, duration: float) -> bool:
    """Whether decoding keyframes only still gives every tick a picture of its time."""
    if not keyframes:
        return False
    times = sorted(keyframes)
    gaps = [b - a for a, b in zip(times, times[1:])] + [duration - times[-1]]
    return max(gaps) <= KEYFRAME_GAP


def filter_graph(shape: Geometry) -> str:
    """Pictures on the tick grid, split into the sheets and the I-frame stream."""
    return (f"[0:V:0]setpts=PTS-STARTPTS-{_EARLY}/TB,fps=fps=1/{shape.interval:g}:round=up,"
            f"trim=end_frame={shape.ticks},setsar=1,split=2[t][i];"
            f"[t]scale={shape.tile_width}:{shape.tile_height},"
            f"tile={shape.columns}x{shape.rows}[sheets];"
            f"[i]scale={shape.iframe_width}:{shape.iframe_height},format=yuv420p[iframes]")


def scan_args(source: Path, out_dir: Path, shape: Geometry, keyframes_only: bool,
              progress_fd: int, demuxers: str) -> list[str]:
    """FFmpeg's arguments (after argv[0]) for the one pass: ``file:`` in and out only."""
    skip = ["-skip_frame", "nokey"] if keyframes_only else []
    return ["-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-progress", f"pipe:{progress_fd}", "-stats_period", "1",
            "-protocol_whitelist", "file", "-format_whitelist", demuxers,
            *skip, "-i", f"file:{source}", "-filter_complex", filter_graph(shape),
            "-map", "[sheets]", "-c:v", "mjpeg", "-q:v", str(SHEET_QUALITY),
            "-f", "image2", "-start_number", "0", f"file:{out_dir / '%d.jpg'}",
            "-map", "[iframes]", "-c:v", "libx264", "-preset", "veryfast",
            "-profile:v", "main", "-level:v", "3.0", "-g", "1", "-bf", "0",
            "-crf", str(IFRAME_CRF), "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
            "-f", "mp4", f"file:{out_dir / IFRAMES}"]


@dataclass(frozen=True)
class Manifest:
    """What one pass made: its geometry, each sheet's bytes, the I-frames' byte ranges
    (``init``: the ``ftyp`` + ``moov`` length; ``frames``: (offset, length, time))."""

    shape: Geometry
    sheet_bytes: tuple[int, ...]
    init: int
    frames: tuple[tuple[int, int, float], ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data: dict[str, Any] = json.loads(text)
        return cls(Geometry(**data["shape"]), tuple(data["sheet_bytes"]), int(data["init"]),
                   tuple((int(o), int(n), float(t)) for o, n, t in data["frames"]))


def fragments(path: Path) -> tuple[int, tuple[tuple[int, int, float], ...]]:
    """The init's length and every ``moof`` + ``mdat`` pair's (offset, length, time in s)
    of a fragmented MP4 of one video track."""
    with open(path, "rb") as file:
        reader = BoundedReader(file, MAX_MP4_READ)
        top = list(_boxes(reader, 0, reader.size))
        moov = next(box for box in top if box.kind == b"moov")
        scale = _timescale(reader, moov)
        init = moov.end
        found, pending, offset = [], None, 0
        for box in top:  # top-level boxes follow each other: each starts where one ended
            if box.kind == b"moof":
                pending = (offset, _decode_time(reader, box) / scale)
            elif box.kind == b"mdat" and pending is not None:
                found.append((pending[0], box.end - pending[0], pending[1]))
                pending = None
            offset = box.end
    return init, tuple(found)


def _timescale(reader: BoundedReader, moov: Box) -> int:
    trak = _child(reader, moov, b"trak")
    mdia = _child(reader, trak, b"mdia") if trak else None
    mdhd = _child(reader, mdia, b"mdhd") if mdia else None
    if mdhd is None:
        raise ValueError("no mdhd in the init")
    payload = reader.read_at(mdhd.start, 32)
    return struct.unpack(">I", payload[20:24] if payload[0] == 1 else payload[12:16])[0]


def _decode_time(reader: BoundedReader, moof: Box) -> int:
    traf = _child(reader, moof, b"traf")
    tfdt = _child(reader, traf, b"tfdt") if traf else None
    if tfdt is None:
        raise ValueError("a fragment without tfdt")
    payload = reader.read_at(tfdt.start, 12)
    return struct.unpack(">Q", payload[4:12])[0] if payload[0] == 1 else \
        struct.unpack(">I", payload[4:8])[0]


# --- what is said of it ----------------------------------------------------------------


def _sheet_seconds(shape: Geometry, sheet: int) -> float:
    first = sheet * shape.per_sheet
    last = min(first + shape.per_sheet, shape.ticks) - 1
    return shape.tick_end(last) - shape.tick_time(first)


def image_playlist(manifest: Manifest) -> str:
    """The image media playlist: every sheet, with its ``#EXT-X-TILES``."""
    shape = manifest.shape
    tiles = (f"#EXT-X-TILES:RESOLUTION={shape.tile_width}x{shape.tile_height},"
             f"LAYOUT={shape.columns}x{shape.rows},DURATION={shape.interval:.3f}")
    target = math.ceil(shape.interval * shape.per_sheet)
    lines = ["#EXTM3U", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-VERSION:7",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-IMAGES-ONLY"]
    for sheet in range(shape.sheets):
        lines += [f"#EXTINF:{_sheet_seconds(shape, sheet):.3f},", tiles, f"{sheet}.jpg"]
    return "\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n"


def _clock(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def thumbnails_vtt(manifest: Manifest) -> str:
    """The WebVTT thumbnails track: one cue per tick, ``N.jpg#xywh=x,y,w,h``."""
    shape, cues = manifest.shape, ["WEBVTT", ""]
    for tick in range(shape.ticks):
        sheet, x, y, _ = shape.cell(tick)
        cues += [f"{_clock(shape.tick_time(tick))} --> {_clock(shape.tick_end(tick))}",
                 f"{sheet}.jpg#xywh={x},{y},{shape.tile_width},{shape.tile_height}", ""]
    return "\n".join(cues)


def iframe_playlist(manifest: Manifest) -> str:
    """The ``#EXT-X-I-FRAMES-ONLY`` playlist: the init, then one byte range per picture,
    each lasting until the next one (the last until the film ends). Version 7: an
    I-frames-only playlist with ``EXT-X-MAP`` needs 5 (RFC 8216 7), fMP4 media 7 (Apple)."""
    shape = manifest.shape
    lines = ["#EXTM3U", f"#EXT-X-TARGETDURATION:{math.ceil(shape.interval)}",
             "#EXT-X-VERSION:7", "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD",
             "#EXT-X-I-FRAMES-ONLY", f'#EXT-X-MAP:URI="{IFRAMES}",BYTERANGE="{manifest.init}@0"']
    for (offset, length, _), seconds in zip(manifest.frames, _frame_seconds(manifest)):
        lines += [f"#EXTINF:{seconds:.3f},", f"#EXT-X-BYTERANGE:{length}@{offset}", IFRAMES]
    return "\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n"


def _frame_seconds(manifest: Manifest) -> list[float]:
    """How long each I-frame entry lasts: until the next one, the last until the end."""
    times = [at for _, _, at in manifest.frames] + [manifest.shape.duration]
    return [max(end - start, 0.001) for start, end in zip(times, times[1:])]


def master_lines(manifest: Manifest, images_uri: str, iframes_uri: str) -> list[str]:
    """The master's ``#EXT-X-IMAGE-STREAM-INF`` and ``#EXT-X-I-FRAME-STREAM-INF`` lines;
    BANDWIDTH is the peak (a sheet over its time, a picture over its entry's time)."""
    shape = manifest.shape
    sheet_peak = max((size * 8 / max(_sheet_seconds(shape, n), 1e-3)
                      for n, size in enumerate(manifest.sheet_bytes)), default=0)
    frame_peak = max((length * 8 / seconds for (_, length, _), seconds
                      in zip(manifest.frames, _frame_seconds(manifest))), default=0)
    return [f"#EXT-X-IMAGE-STREAM-INF:BANDWIDTH={math.ceil(sheet_peak)},"
            f"RESOLUTION={shape.tile_width}x{shape.tile_height},CODECS=\"jpeg\","
            f"URI=\"{images_uri}\"",
            f"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={math.ceil(frame_peak)},"
            f"RESOLUTION={shape.iframe_width}x{shape.iframe_height},"
            f"CODECS=\"{IFRAME_CODECS}\",URI=\"{iframes_uri}\""]
