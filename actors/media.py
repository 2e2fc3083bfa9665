"""Media files: find them, probe them, and plan their HLS renditions.

Pure functions plus one thread-safe cache; no actors. Every time here is on the *media
timeline*: seconds from the container's ``start_time``, which is also what FFmpeg's ``-ss``
counts from.

- ``resolve_media(root, media_id) -> Path`` and ``list_media(root) -> list[str]``: media ids
  are paths relative to ``root`` with ``/`` separators. Anything that is not a visible,
  regular media file inside ``root`` (symlinks resolved) raises ``MediaError(404)`` before
  anything is opened.
- ``Prober(ffprobe, timeout).probe(path, *, keyframes=False) -> MediaInfo``: one ffprobe run
  per file version (path, size, mtime), shared by concurrent callers. ``keyframes=True``
  adds the video keyframe index that remuxing (``copy``) needs; it costs one more pass.
- ``renditions(info, profiles)``: the profiles that fit the file (``copy`` only for H.264
  that browsers decode; never an upscale). ``copies_audio(info, profile)``: whether a run
  keeps the audio as is (AAC-LC under ``copy``) or encodes AAC.
- ``segment_boundaries(info, profile, segment_seconds)``, ``segment_for_time``,
  ``media_playlist(boundaries, segment_uri)``, ``master_playlist(info, profiles,
  variant_uri, segment_seconds)``: the VOD plan, the same for every FFmpeg run. ``copy``
  needs ``info`` probed with ``keyframes=True`` (boundaries, and the honest peak rate).
- ``ffmpeg_args(info, profile, boundaries, start_segment, out_dir, progress_fd, list_fd)``:
  FFmpeg's arguments (after argv[0]) for a run that writes ``out_dir/{n}.ts`` from segment
  ``start_segment`` on; ``parse_segment_list_line`` reads what it reports on ``list_fd``,
  one line per finished segment, in order, starting with ``start_segment``. A run that
  is stopped lists the segment it was writing too: ``reaches_its_boundary`` tells.

The FFmpeg recipe, and why (each point is checked by tests/actors/test_media.py):

- Output goes through the segment muxer with ``-segment_times`` set to the playlist's
  boundaries and ``-segment_start_number``, so a run's numbering matches the playlist
  whatever segment it starts at. The muxer writes a segment's csv line to the list pipe
  only after the file is complete, so a listed segment can be served at once.
- Every run gets ``-output_ts_offset start + TIMELINE_OFFSET``, with ``-ss start`` before
  ``-i``: output timestamps are the media timeline plus a constant 10 s, whichever segment
  the run starts at. The offset must be positive: a run from 0 otherwise has negative
  DTS (B-frames, AAC priming) that the muxer shifts while a later run's are not shifted,
  and their segments no longer splice. With it, the video timestamps of a segment are
  identical in every run. The segment muxer compares ``-segment_times`` with these
  offset timestamps, so the cut times carry the offset too.
- Transcoding forces a keyframe at each cut (``-force_key_frames`` with the cut times,
  ``-sc_threshold 0``); remuxing cuts at the source keyframes the boundaries were made of.
- Where run A's segment k-1 meets run B's segment k, A's audio stops at the video
  keyframe's DTS (the muxer interleaves by DTS). B's audio must start later, or audio
  DTS go backwards at the splice: a copied stream drops packets before the start
  (``-copypriorss 0``); an encoded one skips its first AAC frame, because the encoder's
  priming puts the first packet one frame before the first sample. The price is an audio
  gap of about the video's reorder delay (tens of ms) at a splice, never an overlap.
- Inputs are ``file:`` URLs with ``-protocol_whitelist file`` and a demuxer whitelist:
  a "movie" that is really an HLS playlist or a concat script would otherwise make
  FFprobe or FFmpeg read files outside the media root.
"""
from __future__ import annotations

import bisect
import json
import math
import os
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from actors.settings import Profile

MEDIA_EXTENSIONS = frozenset({
    ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".avi", ".ts", ".mpg", ".mpeg", ".flv",
    ".wmv", ".ogv",
})
DEMUXERS = "mov,matroska,avi,mpegts,mpeg,mpegvideo,flv,asf,ogg"  # the only ones opened
INDEX_READ_RATE = 50e6  # bytes/s of a slow disk; a cached 520 MB file took 0.35 s

TIMELINE_OFFSET = 10.0  # seconds added to every run's timestamps; see the module docstring
MIN_LAST_SEGMENT = 1.0
AAC_FRAME_SAMPLES = 1024
COPY_VIDEO_PROFILES = {  # profile name -> profile_idc and constraint flags, for CODECS
    "Constrained Baseline": "42e0", "Baseline": "4200", "Main": "4d40", "High": "6400",
}
COPY_AUDIO_CODECS = frozenset({"aac"})

VBV_SECONDS = 1.0  # x264 -bufsize, in seconds of -maxrate
TS_BYTES_PER_FRAME = 320  # measured 255-275 at 30 fps, from 0.4 to 7 Mbit/s
ADTS_HEADER_BYTES = 7  # MPEG-TS carries each AAC frame with an ADTS header
AAC_OVERSHOOT = 1.1  # FFmpeg's AAC encoder ran up to 8 % over low targets
# H.264 levels (A.3.1): level_idc, macroblocks/s, macroblocks/frame, High-profile kbit/s.
H264_LEVELS = (
    (30, 40500, 1620, 12500), (31, 108000, 3600, 17500), (32, 216000, 5120, 25000),
    (40, 245760, 8192, 25000), (41, 245760, 8192, 62500), (42, 522240, 8704, 62500),
    (50, 589824, 22080, 168750), (51, 983040, 36864, 300000), (52, 2073600, 36864, 300000),
)


class MediaError(Exception):
    """A media file that cannot be served; the web layer renders ``{"error", "detail"}``.

    ``status``: 404 ``not_found`` (refused or missing), 415 ``not_media`` (FFmpeg cannot
    read it), 422 (``no_video``, ``no_duration``, ``no_keyframes``, ``no_rendition``),
    503 ``probe_timeout`` (worth a retry).
    """

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


def _not_found(media_id: str) -> MediaError:
    return MediaError(404, "not_found", f"no media file {media_id!r}")


def resolve_media(root: Path, media_id: str) -> Path:
    """The real path of ``media_id`` under ``root``; ``MediaError(404)`` for anything else.

    Only path names are inspected (``realpath`` follows symlinks) until the target is
    known to be inside the root; then it must be a regular file with a media extension.
    """
    if not media_id or "\\" in media_id or "\x00" in media_id or media_id.startswith("/"):
        raise _not_found(media_id)
    parts = media_id.split("/")
    if any(not part or part.startswith(".") for part in parts):  # also "." and ".."
        raise _not_found(media_id)
    if PurePosixPath(media_id).suffix.lower() not in MEDIA_EXTENSIONS:
        raise _not_found(media_id)
    try:
        real_root = os.path.realpath(root)
        target = os.path.realpath(os.path.join(real_root, *parts))
        inside = target != real_root and os.path.commonpath([real_root, target]) == real_root
        is_media = Path(target).suffix.lower() in MEDIA_EXTENSIONS
        if not (inside and is_media and os.path.isfile(target)):
            raise _not_found(media_id)
    except ValueError:  # a name the file system cannot encode
        raise _not_found(media_id) from None
    return Path(target)


def list_media(root: Path) -> list[str]:
    """Sorted ids of every file under ``root`` that ``resolve_media`` accepts."""
    real_root = os.path.realpath(root)
    found = []
    for folder, dirs, files in os.walk(real_root):  # does not enter symlinked folders
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in files:
            media_id = os.path.relpath(os.path.join(folder, name), real_root)
            try:
                resolve_media(Path(real_root), media_id)
            except MediaError:
                continue
            found.append(media_id)
    return sorted(found)


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


@dataclass
class _CacheEntry:
    stamp: tuple[int, int]
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

    def __init__(self, ffprobe: str, timeout: float = 15.0) -> None:
        self._ffprobe = ffprobe
        self._timeout = timeout
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
            self._fill(path, entry, indexed, lambda: self._read_keyframes(info))
        return indexed.result()

    def _claim(self, path: Path, stamp: tuple[int, int]) -> tuple[_CacheEntry, bool]:
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
            if not (isinstance(error, MediaError) and error.status in (415, 422)):
                self._forget(path, entry)

    def _forget(self, path: Path, entry: _CacheEntry) -> None:
        with self._lock:
            if self._entries.get(path) is entry:
                del self._entries[path]

    def _run(self, args: list[str], path: Path, timeout: float) -> str:
        command = [self._ffprobe, "-v", "error", "-protocol_whitelist", "file",
                   "-format_whitelist", DEMUXERS, *args, f"file:{path}"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, errors="replace",
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:  # run() has killed and reaped ffprobe
            raise MediaError(503, "probe_timeout",
                             f"ffprobe took longer than {timeout:.1f} s") from None
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1:] or ["ffprobe failed"]
            raise MediaError(415, "not_media", "not a media file FFmpeg can read: "
                             + reason[0].replace(f"file:{path}: ", ""))
        return done.stdout

    def _read_info(self, path: Path, stamp: tuple[int, int]) -> MediaInfo:
        output = self._run(["-of", "json", "-show_format", "-show_streams"], path,
                           self._timeout)
        return _media_info(path, stamp, json.loads(output))

    def _read_keyframes(self, info: MediaInfo) -> MediaInfo:
        output = self._run(["-select_streams", str(info.video.index),
                            "-show_entries", "packet=pts_time,size,flags",
                            "-of", "compact=p=0:nk=0"], info.path,
                           self._timeout + info.size / INDEX_READ_RATE)
        index: list[tuple[float, int]] = []
        total = 0
        for line in output.splitlines():
            packet = dict(item.partition("=")[::2] for item in line.split("|"))
            pts = _float(packet.get("pts_time"))
            if "K" in packet.get("flags", "") and pts is not None:
                index.append((round(pts - info.start_time, 6), total))
            total += int(packet.get("size") or 0)
        if not index:
            raise MediaError(422, "no_keyframes", "the video stream has no keyframes")
        keyframes, before = zip(*sorted(index))
        return replace(info, keyframes=keyframes, keyframe_bytes=(*before, total))


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        raise MediaError(404, "not_found", f"no media file {path.name!r}") from None
    return stat.st_size, stat.st_mtime_ns


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


def _media_info(path: Path, stamp: tuple[int, int], probed: dict[str, Any]) -> MediaInfo:
    container = probed.get("format", {})
    streams = probed.get("streams", [])
    start = _float(container.get("start_time")) or 0.0
    duration = _float(container.get("duration"))
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        raise MediaError(422, "no_video", "the file has no video stream")
    if not duration or duration <= 0:
        raise MediaError(422, "no_duration", "the file has no known duration")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    return MediaInfo(
        path=path, size=stamp[0], mtime=stamp[1] / 1e9, duration=duration,
        video=_video_stream(video, start, duration),
        audio=_audio_stream(audio) if audio else None,
        format_name=container.get("format_name", ""), start_time=start)


def _video_stream(stream: dict[str, Any], start: float, duration: float) -> VideoStream:
    fps = _ratio(stream.get("avg_frame_rate")) or _ratio(stream.get("r_frame_rate"))
    if not fps or not stream.get("width") or not stream.get("height"):
        raise MediaError(422, "no_video", "the video stream has no size or frame rate")
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


def _can_copy(info: MediaInfo) -> bool:
    """H.264 that browsers decode (8-bit 4:2:0, a common profile) and needs no rotation."""
    video = info.video
    return (video.codec == "h264" and video.pix_fmt in ("yuv420p", "yuvj420p")
            and video.profile in COPY_VIDEO_PROFILES and video.rotation == 0)


def copies_audio(info: MediaInfo, profile: Profile) -> bool:
    """Under ``copy``, AAC-LC audio is copied; any other audio is encoded to AAC."""
    audio = info.audio
    return (profile.is_copy and audio is not None and audio.codec in COPY_AUDIO_CODECS
            and audio.profile in (None, "LC"))


def renditions(info: MediaInfo, profiles: tuple[Profile, ...]) -> tuple[Profile, ...]:
    """The profiles that fit ``info``, in the given order; never an upscale.

    When none fits, the smallest transcode profile is scaled down to the source height,
    its video bit rate in proportion to the pixels.
    """
    height = _source_height(info)
    fitting = tuple(p for p in profiles if _fits(info, p, height))
    if fitting:
        return fitting
    transcodes = [p for p in profiles if p.height is not None]
    if not transcodes:
        raise MediaError(422, "no_rendition", "no configured profile can play this file")
    smallest = min(transcodes, key=lambda p: p.height or 0)
    return (_scaled(smallest, height - height % 2),)


def _fits(info: MediaInfo, profile: Profile, source_height: int) -> bool:
    if profile.height is None:
        return _can_copy(info)
    return profile.height <= source_height


def _scaled(profile: Profile, height: int) -> Profile:
    pixels = (height / (profile.height or height)) ** 2
    return replace(profile, height=height, video_kbps=max(1, round(profile.video_kbps * pixels)))


def _source_height(info: MediaInfo) -> int:
    video = info.video
    return video.width if video.rotation in (90, 270) else video.height


def _output_size(info: MediaInfo, profile: Profile) -> tuple[int, int]:
    """Width and height of a rendition: square pixels, even sizes, the source's shape."""
    if profile.is_copy:
        return info.video.width, info.video.height
    height = (profile.height or 0) // 2 * 2
    return 2 * round(height * info.video.display_aspect / 2), height


def segment_boundaries(info: MediaInfo, profile: Profile,
                       segment_seconds: float) -> tuple[float, ...]:
    """Start of every segment, then the end: ``len == segments + 1``, media timeline.

    Transcoding cuts at multiples of ``segment_seconds``; remuxing at the first source
    keyframe at least ``segment_seconds`` after the previous cut (needs ``keyframes``).
    A last segment shorter than ``MIN_LAST_SEGMENT`` joins the one before: too short to
    be worth a request, and a cut that close to the end of the video may find no frame.
    """
    slack = 0.5 / info.video.fps
    if profile.is_copy:
        if info.keyframes is None:
            raise ValueError("copy needs the keyframes: probe with keyframes=True")
        cuts = _keyframe_cuts(info.keyframes, segment_seconds, slack)
    else:
        count = math.ceil(info.video.end / segment_seconds)
        cuts = [k * segment_seconds for k in range(1, count)]
    last = min(info.video.end, info.duration) - min(MIN_LAST_SEGMENT, segment_seconds / 2)
    return (0.0, *(cut for cut in cuts if cut <= last), info.duration)


def _keyframe_cuts(keyframes: tuple[float, ...], segment_seconds: float,
                   slack: float) -> list[float]:
    cuts: list[float] = []
    previous = 0.0
    for keyframe in keyframes:
        if keyframe >= previous + segment_seconds - slack:
            cuts.append(keyframe)
            previous = keyframe
    return cuts


def segment_for_time(boundaries: tuple[float, ...], seconds: float) -> int:
    """The segment that plays at ``seconds``, clamped to the first and last."""
    index = bisect.bisect_right(boundaries, seconds) - 1
    return min(max(index, 0), len(boundaries) - 2)


def _extinfs(boundaries: tuple[float, ...]) -> list[float]:
    # Differences of rounded marks, so the durations add up to the rounded total exactly.
    marks = [round(b, 3) for b in boundaries]
    return [round(end - start, 3) for start, end in zip(marks, marks[1:])]


def media_playlist(boundaries: tuple[float, ...], segment_uri: Callable[[int], str]) -> str:
    """The VOD media playlist: every segment, from the start, then ``#EXT-X-ENDLIST``."""
    durations = _extinfs(boundaries)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-PLAYLIST-TYPE:VOD",
             f"#EXT-X-TARGETDURATION:{max(1, math.ceil(max(durations)))}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for number, duration in enumerate(durations):
        lines += [f"#EXTINF:{duration:.3f},", segment_uri(number)]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(info: MediaInfo, profiles: tuple[Profile, ...],
                    variant_uri: Callable[[Profile], str], segment_seconds: float) -> str:
    """The master playlist: one variant per profile, in order.

    BANDWIDTH is an honest peak: for ``copy``, the busiest segment's video bytes (from
    the keyframe index) plus the audio; for a transcode, the encoder's VBV bound over a
    segment (``maxrate * T + bufsize``) plus the audio; both as muxed in MPEG-TS.
    """
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for profile in profiles:
        peak, average = _bandwidth(info, profile, segment_seconds)
        width, height = _output_size(info, profile)
        lines += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
            f"RESOLUTION={width}x{height},CODECS=\"{_codecs(info, profile)}\","
            f"FRAME-RATE={info.video.fps:.3f}",
            variant_uri(profile)]
    return "\n".join(lines) + "\n"


def _bandwidth(info: MediaInfo, profile: Profile, segment_seconds: float) -> tuple[int, int]:
    """(peak, average) bits per second of a rendition's segments."""
    audio = _audio_bit_rate(info, profile)
    if profile.is_copy:
        video_peak, video_average = _copy_video_bit_rates(info, profile, segment_seconds)
    else:
        video_average = profile.video_kbps * 1000
        video_peak = video_average * (1 + VBV_SECONDS / segment_seconds)
    fps = info.video.fps
    return _in_mpegts(video_peak + audio, fps), _in_mpegts(video_average + audio, fps)


def _in_mpegts(payload_bits: float, fps: float) -> int:
    """Bits per second once muxed: 184 payload bytes per 188-byte packet, plus about
    ``TS_BYTES_PER_FRAME`` per video frame (PES headers, stuffing, PCR, PAT/PMT)."""
    return math.ceil(payload_bits * 188 / 184 + fps * 8 * TS_BYTES_PER_FRAME)


def _audio_bit_rate(info: MediaInfo, profile: Profile) -> float:
    audio = info.audio
    if audio is None:
        return 0.0
    adts_headers = ADTS_HEADER_BYTES * 8 * audio.sample_rate / AAC_FRAME_SAMPLES
    if copies_audio(info, profile) and audio.bit_rate:
        return audio.bit_rate + adts_headers
    return profile.audio_kbps * 1000 * AAC_OVERSHOOT + adts_headers


def _copy_video_bit_rates(info: MediaInfo, profile: Profile,
                          segment_seconds: float) -> tuple[float, float]:
    if info.keyframes is None or info.keyframe_bytes is None:
        raise ValueError("copy needs the keyframes: probe with keyframes=True")
    keyframes, counted = info.keyframes, info.keyframe_bytes
    boundaries = segment_boundaries(info, profile, segment_seconds)

    def bytes_before(seconds: float) -> int:
        return counted[bisect.bisect_left(keyframes, seconds)]

    rates = [8 * (bytes_before(end) - bytes_before(start)) / (end - start)
             for start, end in zip(boundaries, boundaries[1:])]
    return max(rates), 8 * counted[-1] / info.duration


def _codecs(info: MediaInfo, profile: Profile) -> str:
    """The RFC 6381 CODECS value: ``avc1.PPCCLL`` and, with audio, AAC-LC."""
    if profile.is_copy:
        level = info.video.level or _h264_level(info, profile)
        video = f"avc1.{COPY_VIDEO_PROFILES[str(info.video.profile)]}{level:02x}"
    else:
        video = f"avc1.6400{_h264_level(info, profile):02x}"
    return f"{video},mp4a.40.2" if info.audio else video


def _h264_level(info: MediaInfo, profile: Profile) -> int:
    """The lowest level (3.0 at least) that holds the rendition's size, rate and bit rate."""
    width, height = _output_size(info, profile)
    frame_blocks = math.ceil(width / 16) * math.ceil(height / 16)
    for level, blocks_per_second, max_blocks, max_kbps in H264_LEVELS:
        if (frame_blocks <= max_blocks and frame_blocks * info.video.fps <= blocks_per_second
                and profile.video_kbps <= max_kbps):
            return level
    return H264_LEVELS[-1][0]


@dataclass(frozen=True)
class ListedSegment:
    """One line of the segment list: segment ``number`` is complete in ``name``."""

    number: int
    name: str
    end: float


def parse_segment_list_line(line: str) -> ListedSegment:
    """Parse ``n.ts,start,end`` from the list pipe; ``end`` back on the media timeline.

    (The ``start`` of a run's first segment reads 0, whatever it is, so it is not used.)
    """
    name, _start, end = line.strip().split(",")
    return ListedSegment(int(name.removesuffix(".ts")), name, float(end) - TIMELINE_OFFSET)


def reaches_its_boundary(segment: ListedSegment, boundaries: tuple[float, ...],
                         fps: float) -> bool:
    """Whether a listed segment that is not the file's last one is whole.

    FFmpeg that stops early (a signal, an error) still lists the segment it was writing,
    cut short. A whole one ends where the next starts (the muxer reports the cut's
    keyframe time). The last segment of the file has no next boundary: it is whole when
    FFmpeg exits with status 0.
    """
    following = segment.number + 1
    return following < len(boundaries) - 1 and segment.end >= boundaries[following] - 0.5 / fps


def _seconds(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def ffmpeg_args(info: MediaInfo, profile: Profile, boundaries: tuple[float, ...],
                start_segment: int, out_dir: Path, progress_fd: int, list_fd: int, *,
                threads: int = 0) -> list[str]:
    """FFmpeg's arguments after argv[0] for a run from ``start_segment`` to the end.

    Writes ``out_dir/{n}.ts``, lists each finished segment on ``list_fd`` (see
    ``parse_segment_list_line``) and reports progress on ``progress_fd``.
    """
    if not 0 <= start_segment < len(boundaries) - 1:
        raise ValueError(f"no segment {start_segment} in {len(boundaries) - 1}")
    start = boundaries[start_segment]
    seek = ["-ss", _seconds(start)] if start_segment > 0 else []
    audio_map = ["-map", f"0:{info.audio.index}"] if info.audio else []
    return [
        "-nostdin", "-hide_banner", "-nostats", "-loglevel", "warning",
        "-progress", f"pipe:{progress_fd}",
        "-protocol_whitelist", "file", "-format_whitelist", DEMUXERS,
        *seek, "-i", f"file:{info.path}",
        "-map", f"0:{info.video.index}", *audio_map, "-map_metadata", "-1", "-map_chapters", "-1",
        *_video_args(info, profile, boundaries, start_segment),
        *_audio_args(info, profile, start_segment),
        "-threads", str(threads),
        *_segment_args(info, boundaries, start_segment, out_dir, list_fd),
    ]


def _video_args(info: MediaInfo, profile: Profile, boundaries: tuple[float, ...],
                start_segment: int) -> list[str]:
    if profile.is_copy:
        # Packets before the seek point belong to the previous segment of another run.
        return ["-c:v", "copy", *(["-copypriorss", "0"] if start_segment > 0 else [])]
    width, height = _output_size(info, profile)
    start = boundaries[start_segment]
    keyframes = ",".join(_seconds(b - start) for b in boundaries[start_segment:-1])
    kbps = profile.video_kbps
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
        "-level:v", f"{_h264_level(info, profile) / 10:.1f}",
        "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{round(kbps * VBV_SECONDS)}k",
        "-force_key_frames", keyframes, "-sc_threshold", "0",
        "-vf", f"scale={width}:{height},setsar=1,format=yuv420p",
    ]


def _audio_args(info: MediaInfo, profile: Profile, start_segment: int) -> list[str]:
    audio = info.audio
    if audio is None:
        return []
    if copies_audio(info, profile):
        return ["-c:a", "copy"]
    args = ["-c:a", "aac", "-b:a", f"{profile.audio_kbps}k"]
    if audio.channels > 2:
        args += ["-ac", "2"]
    if start_segment > 0:
        # The encoder's priming would start this run's audio before the previous run's ends.
        args += ["-af", f"atrim=start={_seconds(AAC_FRAME_SAMPLES / audio.sample_rate)}"]
    return args


def _segment_args(info: MediaInfo, boundaries: tuple[float, ...], start_segment: int,
                  out_dir: Path, list_fd: int) -> list[str]:
    start = boundaries[start_segment]
    cuts = ",".join(_seconds(b + TIMELINE_OFFSET) for b in boundaries[start_segment + 1:])
    template = str(out_dir).replace("%", "%%") + "/%d.ts"
    return [
        "-protocol_whitelist", "file,pipe",
        "-output_ts_offset", _seconds(start + TIMELINE_OFFSET),
        "-f", "segment", "-segment_format", "mpegts",
        "-segment_list", f"pipe:{list_fd}", "-segment_list_type", "csv",
        "-segment_start_number", str(start_segment),
        "-segment_times", cuts, "-segment_time_delta", _seconds(0.5 / info.video.fps),
        f"file:{template}",
    ]
