"""Playlists: the master (one variant per rendition) and the VOD media playlists.

``plan_master_playlist(plan, ...)`` adds what the plan offers beside the video: one
``#EXT-X-MEDIA:TYPE=AUDIO`` per alternate audio track (group ``audio``) and one
``TYPE=SUBTITLES`` per WebVTT track (group ``subs``, ``FORCED=YES`` where forced); every
variant names the groups, its BANDWIDTH counts the largest audio rendition and its
CODECS the audio codec. Audio and subtitle renditions use ``media_playlist`` on the
plan's one grid, so their EXTINFs are the video's.
"""
from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Callable

from actors.media.plan import (
    AAC_FRAME_SAMPLES,
    COPY_VIDEO_PROFILES,
    VBV_SECONDS,
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
                       segment_name: Callable[[int], str]) -> bytes:
        """``segment_name(n)``: segment n's URI relative to the playlist, the same for
        every session (the key must tell apart playlists that name segments otherwise)."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
        rendered = media_playlist(boundaries, segment_name).encode()
        with self._lock:
            self._kept[key] = rendered
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return rendered


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
                    variant_uri: Callable[[Profile], str], segment_seconds: float, *,
                    media: tuple[str, ...] = (), groups: str = "",
                    separate_audio_bits: float | None = None) -> str:
    """The master playlist: one variant per profile, in order.

    BANDWIDTH is an honest peak: for ``copy``, the busiest segment's video bytes (from
    the keyframe index) plus the audio; for a transcode, the encoder's VBV bound over a
    segment (``maxrate * T + bufsize``) plus the audio; both as muxed in MPEG-TS.
    ``media`` are ``#EXT-X-MEDIA`` lines, ``groups`` the variants' ``AUDIO=``/``SUBTITLES=``
    attributes; ``separate_audio_bits`` the largest alternate audio rendition's rate
    (the variants' segments then carry no audio).
    """
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS", *media]
    for profile in profiles:
        peak, average = _bandwidth(info, profile, segment_seconds, separate_audio_bits)
        width, height = output_size(info, profile)
        audio = info.audio is not None or separate_audio_bits is not None
        lines += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
            f"RESOLUTION={width}x{height},CODECS=\"{_codecs(info, profile, audio)}\","
            f"FRAME-RATE={info.video.fps:.3f}{groups}",
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
                           media=tuple(media), groups=groups, separate_audio_bits=bits)


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
    audio = (_audio_bit_rate(info, profile) if separate_audio_bits is None
             else separate_audio_bits)
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
    adts_headers = ((ADTS_HEADER_BYTES + TS_BYTES_PER_AUDIO_FRAME) * 8 * audio.sample_rate
                    / AAC_FRAME_SAMPLES)
    if copies_audio(info, profile) and audio.bit_rate:
        return audio.bit_rate + adts_headers
    return profile.audio_kbps * 1000 * AAC_OVERSHOOT + adts_headers


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


def _codecs(info: MediaInfo, profile: Profile, audio: bool = True) -> str:
    """The RFC 6381 CODECS value: ``avc1.PPCCLL`` and, with audio, AAC-LC."""
    if profile.is_copy:
        level = info.video.level or h264_level(info, profile)
        video = f"avc1.{COPY_VIDEO_PROFILES[str(info.video.profile)]}{level:02x}"
    else:
        video = f"avc1.6400{h264_level(info, profile):02x}"
    return f"{video},mp4a.40.2" if audio else video
