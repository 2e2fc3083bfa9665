"""Probing: what streams a media file holds, found by ffprobe once per file version.

``Prober(ffprobe, timeout, index, media_root).probe(path, *, keyframes=False) -> MediaInfo``:
at most one ffprobe run per file version (size, mtime, inode), shared by concurrent
callers, and none at all when the media index (``actors.media.index``) already holds the
file's probe. ``keyframes=True`` adds the video keyframe index that remuxing (``copy``)
needs, taken from the first that has it: the media index; the container's own index
(MP4 ``stss``, Matroska Cues: a few table reads, never the media data); a whole-file
ffprobe packet pass. What was found is stored in the index, so a restart costs nothing.
Every time here is on the *media timeline*: seconds from the container's ``start_time``,
which is also what FFmpeg's ``-ss`` counts from (the index stores ffprobe's ``pts_time``). ``MediaInfo.tracks`` holds
every stream (audio tracks, subtitles, what the video source needs), ``MediaInfo.chapters``
the file's chapters (``actors.media.chapters``).
"""
from __future__ import annotations

import json
import logging
import math
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from actors.errors import HlsError, NotFound, NotMedia, Unavailable, Unplayable, logged
from actors.ffmpeg import ProbeFailed, ProbeTimedOut, run_ffprobe
from actors.media.chapters import Chapter, parse_chapters
from actors.media.index import MediaIndex, Stamp
from actors.media.keyframes import read_keyframes
from actors.media.tracks import Tracks, parse_streams

log = logging.getLogger(__name__)

INDEX_READ_RATE = 50e6  # bytes/s of a slow disk; a cached 520 MB file took 0.35 s
PROBE_ARGS = ("-of", "json", "-show_format", "-show_streams", "-show_chapters")


@dataclass(frozen=True)
class VideoStream:
    """The video stream FFmpeg maps (``index``); ``end`` is where it ends on the timeline."""

    index: int
    codec: str
    width: int
    height: int
    fps: float
    pix_fmt: str
    bit_rate: int | None
    profile: str | None
    level: int | None
    end: float
    rotation: int = 0
    sample_aspect: float = 1.0

    @property
    def display_aspect(self) -> float:
        aspect = self.width * self.sample_aspect / self.height
        return 1 / aspect if self.rotation in (90, 270) else aspect


@dataclass(frozen=True)
class AudioStream:
    index: int
    codec: str
    channels: int
    sample_rate: int
    bit_rate: int | None
    profile: str | None = None


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe found. ``keyframes`` (video keyframe times) and ``keyframe_bytes``
    (video bytes before each keyframe, then the total) are None until probed with
    ``keyframes=True``."""

    path: Path
    size: int
    mtime: float
    duration: float
    video: VideoStream
    audio: AudioStream | None
    format_name: str
    start_time: float = 0.0
    keyframes: tuple[float, ...] | None = None
    keyframe_bytes: tuple[int, ...] | None = None
    tracks: Tracks | None = None  # every stream, as ``actors.media.tracks`` reads them
    stream_count: int = 0  # subtitle files beside the media are numbered from here
    chapters: tuple[Chapter, ...] = ()  # on the media timeline (``actors.media.chapters``)


@dataclass(frozen=True)
class PacketIndex:
    """A packet pass over one video stream: keyframe ``pts_time`` values (sorted) and the
    stream's bytes before each of them, then its total."""

    times: tuple[float, ...]
    bytes_before: tuple[int, ...]


def packet_index(ffprobe: str, path: Path, stream: str, timeout: float, *,
                 low_priority: bool = False) -> PacketIndex:
    """Read the whole file once with ffprobe; raises ``ProbeTimedOut``/``ProbeFailed``."""
    output = run_ffprobe(ffprobe, ["-select_streams", stream, "-show_entries",
                                   "packet=pts_time,size,flags", "-of", "compact=p=0:nk=0"],
                         path, timeout, low_priority=low_priority)
    index: list[tuple[float, int]] = []
    total = 0
    for line in output.splitlines():
        packet = dict(item.partition("=")[::2] for item in line.split("|"))
        pts = _float(packet.get("pts_time"))
        if "K" in packet.get("flags", "") and pts is not None:
            index.append((pts, total))
        total += int(packet.get("size") or 0)
    if not index:
        return PacketIndex((), (total,))
    times, before = zip(*sorted(index))
    return PacketIndex(tuple(times), (*before, total))


@dataclass
class _CacheEntry:
    stamp: Stamp
    info: Future[MediaInfo]
    indexed: Future[MediaInfo] | None = None


class Prober:
    """Runs ffprobe, at most once per file version, and caches what it found.

    Thread-safe: the first caller for a file version runs ffprobe in the calling thread
    while concurrent callers wait for its result. ffprobe never outlives its deadline
    (``timeout``, plus ``size / INDEX_READ_RATE`` for the keyframe pass, which reads the
    whole file): it is killed and reaped, and the timeout is not cached. A file that is
    not media is remembered as such until it changes.
    """

    def __init__(self, ffprobe: str, timeout: float = 15.0, index: MediaIndex | None = None,
                 media_root: Path | None = None) -> None:
        self._ffprobe = ffprobe
        self._timeout = timeout
        self._index = index
        self._root = media_root
        self._lock = threading.Lock()
        self._entries: dict[Path, _CacheEntry] = {}

    def probe(self, path: Path, *, keyframes: bool = False) -> MediaInfo:
        stamp = _stamp(path)
        entry, owner = self._claim(path, stamp)
        if owner:
            self._fill(path, entry, entry.info, lambda: self._read_info(path, stamp))
        info = entry.info.result()  # the owner always settles it within the timeout
        if not keyframes:
            return info
        indexed, owner = self._claim_index(entry)
        if owner:
            self._fill(path, entry, indexed, lambda: self._keyframes(info, entry.stamp))
        return indexed.result()

    def _media_id(self, path: Path) -> str | None:
        """The index key of ``path``: relative to the media root (None outside it)."""
        if self._index is None or self._root is None:
            return None
        try:
            return path.relative_to(self._root).as_posix()
        except ValueError:
            return None

    def _claim(self, path: Path, stamp: Stamp) -> tuple[_CacheEntry, bool]:
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None and entry.stamp == stamp:
                return entry, False
            entry = _CacheEntry(stamp, Future())
            self._entries[path] = entry
            return entry, True

    def _claim_index(self, entry: _CacheEntry) -> tuple[Future[MediaInfo], bool]:
        with self._lock:
            if entry.indexed is not None:
                return entry.indexed, False
            entry.indexed = Future()
            return entry.indexed, True

    def _fill(self, path: Path, entry: _CacheEntry, future: Future[MediaInfo],
              work: Callable[[], MediaInfo]) -> None:
        try:
            future.set_result(work())
        except BaseException as error:
            future.set_exception(error)
            if not isinstance(error, (NotMedia, Unplayable)):  # those last until the file changes
                self._forget(path, entry)

    def _forget(self, path: Path, entry: _CacheEntry) -> None:
        with self._lock:
            if self._entries.get(path) is entry:
                del self._entries[path]

    def _run(self, args: list[str], path: Path, timeout: float) -> str:
        try:
            return run_ffprobe(self._ffprobe, args, path, timeout)
        except (ProbeTimedOut, ProbeFailed) as error:
            raise _refused(error, path) from None

    def _read_info(self, path: Path, stamp: Stamp) -> MediaInfo:
        media_id = self._media_id(path)
        entry = self._index.get(media_id, stamp) if media_id is not None else None
        if entry is not None and entry.probe is not None and "chapters" in entry.probe:
            return _media_info(path, stamp, entry.probe)  # (a probe without: an older node's)
        probed = json.loads(self._run(list(PROBE_ARGS), path, self._timeout))
        if media_id is not None:
            self._index.put_probe(media_id, stamp, probed)
        return _media_info(path, stamp, probed)

    def _keyframes(self, info: MediaInfo, stamp: Stamp) -> MediaInfo:
        """Index, then container index, then the packet pass; stores what it had to find."""
        media_id = self._media_id(info.path)
        times = self._index.keyframes(media_id, stamp) if media_id is not None else None
        if not times:
            times = read_keyframes(info.path)
            if not times:
                return self._packet_pass(info, media_id, stamp)
            if media_id is not None:
                self._index.put_keyframes(media_id, stamp, times, complete=True)
        shifted = tuple(round(t - info.start_time, 6) for t in times)
        return replace(info, keyframes=shifted)

    def _packet_pass(self, info: MediaInfo, media_id: str | None, stamp: Stamp) -> MediaInfo:
        timeout = self._timeout + info.size / INDEX_READ_RATE
        try:
            found = packet_index(self._ffprobe, info.path, str(info.video.index), timeout)
        except (ProbeTimedOut, ProbeFailed) as error:
            raise _refused(error, info.path) from None
        if not found.times:
            raise Unplayable("the video stream has no keyframes", "no_keyframes")
        if media_id is not None:
            self._index.put_keyframes(media_id, stamp, found.times, complete=True)
        return replace(info, keyframes=tuple(round(t - info.start_time, 6) for t in found.times),
                       keyframe_bytes=found.bytes_before)


def _stamp(path: Path) -> Stamp:
    try:
        stat = os.stat(path)
    except OSError:
        raise NotFound(f"no media file {path.name!r}") from None
    return Stamp.of(stat)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None and number > 0 else None


def _ratio(text: Any) -> float:
    """``30000/1001`` or ``16:9`` as a number; 0 when unknown."""
    top, _, bottom = str(text).replace(":", "/").partition("/")
    numerator, denominator = _float(top), _float(bottom)
    return numerator / denominator if numerator and denominator else 0.0


def _clock(text: Any) -> float | None:
    """Matroska's ``DURATION`` tag, ``HH:MM:SS.fraction``."""
    try:
        hours, minutes, seconds = str(text).split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _media_info(path: Path, stamp: Stamp, probed: dict[str, Any]) -> MediaInfo:
    container = probed.get("format", {})
    streams = probed.get("streams", [])
    start = _float(container.get("start_time")) or 0.0
    duration = _float(container.get("duration"))
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        raise Unplayable("the file has no video stream", "no_video")
    if not duration or duration <= 0:
        raise Unplayable("the file has no known duration", "no_duration")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    return MediaInfo(
        path=path, size=stamp[0], mtime=stamp[1] / 1e9, duration=duration,
        video=_video_stream(video, start, duration),
        audio=_audio_stream(audio) if audio else None,
        format_name=container.get("format_name", ""), start_time=start,
        tracks=parse_streams(probed, path), stream_count=len(streams),
        chapters=parse_chapters(probed, start, duration))


def _video_stream(stream: dict[str, Any], start: float, duration: float) -> VideoStream:
    fps = _ratio(stream.get("avg_frame_rate")) or _ratio(stream.get("r_frame_rate"))
    if not fps or not stream.get("width") or not stream.get("height"):
        raise Unplayable("the video stream has no size or frame rate", "no_video")
    tags = stream.get("tags", {})
    length = _float(stream.get("duration")) or _clock(tags.get("DURATION"))
    offset = (_float(stream.get("start_time")) or start) - start
    return VideoStream(
        index=stream["index"], codec=stream.get("codec_name", ""),
        width=stream["width"], height=stream["height"], fps=fps,
        pix_fmt=stream.get("pix_fmt", ""),
        bit_rate=_int(stream.get("bit_rate")) or _int(tags.get("BPS")),
        profile=stream.get("profile"), level=_int(stream.get("level")),
        end=min(duration, offset + length) if length else duration,
        rotation=_rotation(stream), sample_aspect=_ratio(stream.get("sample_aspect_ratio")) or 1.0)


def _rotation(stream: dict[str, Any]) -> int:
    matrices = [d for d in stream.get("side_data_list", []) if "rotation" in d]
    degrees = matrices[0]["rotation"] if matrices else stream.get("tags", {}).get("rotate", 0)
    return round(_float(degrees) or 0) % 360


def _audio_stream(stream: dict[str, Any]) -> AudioStream:
    return AudioStream(
        index=stream["index"], codec=stream.get("codec_name", ""),
        channels=int(stream.get("channels") or 2),
        sample_rate=_int(stream.get("sample_rate")) or 48000,
        bit_rate=_int(stream.get("bit_rate")) or _int(stream.get("tags", {}).get("BPS")),
        profile=stream.get("profile"))


def _refused(error: ProbeTimedOut | ProbeFailed, path: Path) -> HlsError:
    """What a client hears of a failed probe; the reason and the path go to the log."""
    if isinstance(error, ProbeTimedOut):
        return logged(Unavailable("reading the file took too long", retry_in=2,
                                  code="probe_timeout"), f"{path}: {error}", log, logging.WARNING)
    # A file of the library that is not media is the library's state, not hlsd's fault.
    return logged(NotMedia("not a media file FFmpeg can read"), f"{path}: {error}", log,
                  logging.WARNING)
