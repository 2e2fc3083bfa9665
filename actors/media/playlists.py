"""Playlists: the master (one variant per rendition) and the VOD media playlists.

``plan_master_playlist(plan, ...)`` adds what the plan offers beside the video: one
``#EXT-X-MEDIA:TYPE=AUDIO`` per alternate audio track (group ``audio``) and one
``TYPE=SUBTITLES`` per WebVTT track (group ``subs``, ``FORCED=YES`` where forced); every
variant names the groups, its BANDWIDTH counts the largest audio rendition and its
CODECS the audio codec. Audio and subtitle renditions use ``media_playlist`` on the
plan's one grid, so their EXTINFs are the video's.

fMP4 renditions (``Plan.container``): the media playlist is ``#EXT-X-VERSION:7`` with
``#EXT-X-MAP:URI="init.mp4"`` and ``{n}.m4s`` segments; the variant's CODECS is read from
the init segment (``codecs.video_codecs``). Every variant carries ``VIDEO-RANGE``: the
source's (SDR, PQ or HLG) for a copy, SDR for a transcode (tone-mapped where the source
is HDR).
"""
from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Callable, Mapping

from actors.media.codecs import video_codecs
from actors.media.plan import (
    AAC_FRAME_SAMPLES,
    COPY_VIDEO_PROFILES,
    VBV_SECONDS,
    container_of,
    copies_audio,
    h264_level,
    output_size,
    segment_boundaries,
)
from actors.media.plan import Plan, audio_channels
from actors.media.probe import MediaInfo
from actors.media.profiles import Profile
from actors.media.tracks import bcp47, unique_names

TS_BYTES_PER_FRAME = 320  # measured 255-275 at 30 fps, from 0.4 to 7 Mbit/s
ADTS_HEADER_BYTES = 7  # MPEG-TS carries each AAC frame with an ADTS header
# With -muxdelay 0 each AAC frame is a PES of its own: a 14-byte PES header, and its last
# TS packet stuffed (half a packet on average). Measured: 68 bytes more per frame.
TS_BYTES_PER_AUDIO_FRAME = 100
AAC_OVERSHOOT = 1.1  # FFmpeg's AAC encoder ran up to 8 % over low targets
COPY_PEAK_ESTIMATE = 2.0  # busiest segment / average, when no packet sizes are known
# fMP4: a trun entry per sample (size, flags, composition offset: 12 bytes for video, 4
# for audio) plus the moof, traf and tfdt boxes of each fragment, spread over its frames.
FMP4_BYTES_PER_FRAME = 16
FMP4_BYTES_PER_AUDIO_FRAME = 8
VIDEO_RANGES = {None: "SDR", "pq": "PQ", "hlg": "HLG"}


class PlaylistCache:
    """Media playlists rendered once per key (file version, rendition and how segments
    are named), then served from the same bytes to every session.

    Segment names are relative to the playlist's own URL (RFC 8216, 4.1: ``3.ts`` beside
    ``.../copy/index.m3u8``), so the bytes carry no session and one rendering serves
    every viewer of the file. At most ``size`` playlists are kept (least recently used
    go first).
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._kept: OrderedDict[Hashable, bytes] = OrderedDict()

    def media_playlist(self, key: Hashable, boundaries: tuple[float, ...],
                       segment_name: Callable[[int], str], init_uri: str | None = None) -> bytes:
        """``segment_name(n)``: segment n's URI relative to the playlist, the same for
        every session (the key must tell apart playlists that name segments otherwise);
        ``init_uri``: the ``EXT-X-MAP`` of fMP4 segments."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
        rendered = media_playlist(boundaries, segment_name, init_uri).encode()
        with self._lock:
            self._kept[key] = rendered
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return rendered


def _extinfs(boundaries: tuple[float, ...]) -> list[float]:
    # Differences of rounded marks, so the durations add up to the rounded total exactly.
    marks = [round(b, 3) for b in boundaries]
    return [round(end - start, 3) for start, end in zip(marks, marks[1:])]


def media_playlist(boundaries: tuple[float, ...], segment_uri: Callable[[int], str],
                   init_uri: str | None = None) -> str:
    """The VOD media playlist: every segment, from the start, then ``#EXT-X-ENDLIST``;
    with ``init_uri``, fMP4 segments after that init segment (version 7)."""
    durations = _extinfs(boundaries)
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{3 if init_uri is None else 7}",
             "#EXT-X-PLAYLIST-TYPE:VOD",
             f"#EXT-X-TARGETDURATION:{max(1, math.ceil(max(durations)))}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if init_uri is not None:
        lines.append(f'#EXT-X-MAP:URI="{init_uri}"')
    for number, duration in enumerate(durations):
        lines += [f"#EXTINF:{duration:.3f},", segment_uri(number)]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(info: MediaInfo, profiles: tuple[Profile, ...],
                    variant_uri: Callable[[Profile], str], segment_seconds: float, *,
                    media: tuple[str, ...] = (), groups: str = "",
                    separate_audio_bits: float | None = None,
                    inits: Mapping[str, bytes] | None = None) -> str:
    """The master playlist: one variant per profile, in order.

    BANDWIDTH is an honest peak: for ``copy``, the busiest segment's video bytes (from
    the keyframe index) plus the audio; for a transcode, the encoder's VBV bound over a
    segment (``maxrate * T + bufsize``) plus the audio; both as muxed (MPEG-TS or fMP4).
    ``media`` are ``#EXT-X-MEDIA`` lines, ``groups`` the variants' ``AUDIO=``/``SUBTITLES=``
    attributes; ``separate_audio_bits`` the largest alternate audio rendition's rate
    (the variants' segments then carry no audio); ``inits`` the init segment of each
    fMP4 rendition, by name (its CODECS).
    """
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS", *media]
    for profile in profiles:
        peak, average = _bandwidth(info, profile, segment_seconds, separate_audio_bits)
        width, height = output_size(info, profile)
        audio = info.audio is not None or separate_audio_bits is not None
        codecs = _codecs(info, profile, audio, (inits or {}).get(profile.name))
        lines += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
            f"RESOLUTION={width}x{height},CODECS=\"{codecs}\","
            f"FRAME-RATE={info.video.fps:.3f},VIDEO-RANGE={video_range(info, profile)}{groups}",
            variant_uri(profile)]
    return "\n".join(lines) + "\n"


def plan_master_playlist(plan: Plan, variant_uri: Callable[[Profile], str],
                         audio_uri: Callable[[int], str], subtitle_uri: Callable[[int], str],
                         segment_seconds: float) -> str:
    """The master playlist of a plan: video variants, alternate audio, subtitles."""
    media, groups = [], ""
    default = next((t for t in plan.audio if t.default), plan.audio[0] if plan.audio else None)
    for track, name in zip(plan.audio, unique_names(plan.audio)):
        media.append(_media_line("AUDIO", "audio", name, track.language, track is default,
                                 audio_uri(track.index),
                                 f',CHANNELS="{audio_channels(track)}"'))
    for track, name in zip(plan.subtitles, unique_names(plan.subtitles)):
        forced = ",FORCED=YES" if track.forced else ""
        media.append(_media_line("SUBTITLES", "subs", name, track.language, False,
                                 subtitle_uri(track.index), forced))
    groups += ',AUDIO="audio"' if plan.audio else ""
    groups += ',SUBTITLES="subs"' if plan.subtitles else ""
    bits = max((_aac_bits(plan.audio_kbps(t), t.sample_rate) for t in plan.audio), default=None)
    return master_playlist(plan.info, plan.renditions, variant_uri, segment_seconds,
                           media=tuple(media), groups=groups, separate_audio_bits=bits,
                           inits=plan.inits)


def video_range(info: MediaInfo, profile: Profile) -> str:
    """``VIDEO-RANGE``: a copy's is the source's; a transcode is SDR (tone-mapped)."""
    video = info.tracks.video if info.tracks is not None else None
    return VIDEO_RANGES[video.hdr] if profile.is_copy and video is not None else "SDR"


def _media_line(kind: str, group: str, name: str, language: str, default: bool, uri: str,
                extra: str) -> str:
    tag = bcp47(language)
    lang = f',LANGUAGE="{tag}"' if tag else ""
    autoselect = default or kind == "AUDIO"  # a player may pick an audio track by language
    flags = f",DEFAULT={_yes(default)},AUTOSELECT={_yes(autoselect)}"
    return (f'#EXT-X-MEDIA:TYPE={kind},GROUP-ID="{group}",NAME="{_quoted(name)}"{lang}'
            f'{flags}{extra},URI="{uri}"')


def _yes(flag: bool) -> str:
    return "YES" if flag else "NO"


def _quoted(text: str) -> str:
    # A quoted-string may not hold '"' or a line break (RFC 8216 4.2).
    return text.replace('"', "'").replace("\n", " ").replace("\r", " ")


def _aac_bits(kbps: int, sample_rate: int) -> float:
    return kbps * 1000 * AAC_OVERSHOOT + ADTS_HEADER_BYTES * 8 * sample_rate / AAC_FRAME_SAMPLES


def _bandwidth(info: MediaInfo, profile: Profile, segment_seconds: float,
               separate_audio_bits: float | None = None) -> tuple[int, int]:
    """(peak, average) bits per second of a rendition's segments."""
    fmp4 = container_of(info, profile) == "fmp4"
    audio = (_audio_bit_rate(info, profile, fmp4) if separate_audio_bits is None
             else separate_audio_bits)
    if profile.is_copy:
        video_peak, video_average = _copy_video_bit_rates(info, profile, segment_seconds)
    else:
        video_average = profile.video_kbps * 1000
        video_peak = video_average * (1 + VBV_SECONDS / segment_seconds)
    fps = info.video.fps
    muxed = _in_fmp4 if fmp4 else _in_mpegts
    return muxed(video_peak + audio, fps), muxed(video_average + audio, fps)


def _in_fmp4(payload_bits: float, fps: float) -> int:
    """Bits per second once muxed in fMP4: the payload plus each frame's ``trun`` entry."""
    return math.ceil(payload_bits + fps * 8 * FMP4_BYTES_PER_FRAME)


def _in_mpegts(payload_bits: float, fps: float) -> int:
    """Bits per second once muxed: 184 payload bytes per 188-byte packet, plus about
    ``TS_BYTES_PER_FRAME`` per video frame (PES headers, stuffing, PCR, PAT/PMT)."""
    return math.ceil(payload_bits * 188 / 184 + fps * 8 * TS_BYTES_PER_FRAME)


def _audio_bit_rate(info: MediaInfo, profile: Profile, fmp4: bool = False) -> float:
    audio = info.audio
    if audio is None:
        return 0.0
    per_frame = (FMP4_BYTES_PER_AUDIO_FRAME if fmp4
                 else ADTS_HEADER_BYTES + TS_BYTES_PER_AUDIO_FRAME)
    framing = per_frame * 8 * audio.sample_rate / AAC_FRAME_SAMPLES
    if copies_audio(info, profile) and audio.bit_rate:
        return audio.bit_rate + framing
    return profile.audio_kbps * 1000 * AAC_OVERSHOOT + framing


def _copy_video_bit_rates(info: MediaInfo, profile: Profile,
                          segment_seconds: float) -> tuple[float, float]:
    if info.keyframes is None:
        raise ValueError("copy needs the keyframes: probe with keyframes=True")
    if info.keyframe_bytes is None:
        return _estimated_video_bit_rates(info)
    keyframes, counted = info.keyframes, info.keyframe_bytes
    boundaries = segment_boundaries(info, profile, segment_seconds)

    def bytes_before(seconds: float) -> int:
        return counted[bisect.bisect_left(keyframes, seconds)]

    rates = [8 * (bytes_before(end) - bytes_before(start)) / (end - start)
             for start, end in zip(boundaries, boundaries[1:])]
    return max(rates), 8 * counted[-1] / info.duration


def _estimated_video_bit_rates(info: MediaInfo) -> tuple[float, float]:
    """Keyframes from a container index carry no byte counts: the average is the file's
    rate less the audio (container overhead makes it an overestimate), the peak
    ``COPY_PEAK_ESTIMATE`` times it."""
    audio = info.audio.bit_rate or 0 if info.audio else 0
    average = info.size * 8 / info.duration - audio
    average = max(average, info.video.bit_rate or 0.0)
    return average * COPY_PEAK_ESTIMATE, average


def _codecs(info: MediaInfo, profile: Profile, audio: bool = True,
            init: bytes | None = None) -> str:
    """The RFC 6381 CODECS value: ``avc1.PPCCLL`` (or what an fMP4 init segment holds)
    and, with audio, AAC-LC."""
    if init is not None:
        video = video_codecs(init)
    elif profile.is_copy:
        level = info.video.level or h264_level(info, profile)
        video = f"avc1.{COPY_VIDEO_PROFILES[str(info.video.profile)]}{level:02x}"
    else:
        video = f"avc1.6400{h264_level(info, profile):02x}"
    return f"{video},mp4a.40.2" if audio else video
