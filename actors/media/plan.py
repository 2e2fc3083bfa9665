"""The plan: which renditions a media file gets, and where their segments are cut.

The plan is the one owner of these facts; the transcoder, the playlists and the web
layer ask it. ``make_plan`` is pure: give it what the prober found.

- ``renditions(info, profiles)``: the profiles that fit the file (``copy`` only for H.264
  that browsers decode; never an upscale). ``copies_audio(info, profile)``: whether a run
  keeps the audio as is (AAC-LC under ``copy``) or encodes AAC.
- ``segment_boundaries(info, profile, segment_seconds)``, ``segment_for_time``: the VOD
  grid, the same for every FFmpeg run. ``copy`` needs ``info`` probed with keyframes.
- ``output_size``, ``h264_level``: what a rendition's segments are.
- ``container_of(info, profile)``: how a rendition's segments are packed, ``ts`` or
  ``fmp4``. H.264 renditions are MPEG-TS (the container every old TV and set-top box
  plays); ``copy`` of an HEVC, AV1 or VP9 source (the passthrough variant) is fMP4, with
  one init segment per file version (``Plan.init``, made outside this pure module and
  handed in with ``with_inits``).

Tracks: the plan also decides the renditions beside the video. A file with more than
one audio track gets every track as an alternate audio rendition (``audio``: its own
runs and playlists, no audio in the video segments); a file with one keeps it muxed.
Every text subtitle track (embedded or a file beside the media) is a WebVTT rendition
(``subtitles``). ``burn`` is an embedded image track burned into every video rendition
(no ``copy`` then). Every rendition of a plan, audio included, is cut on one grid:
``copy``'s keyframe cuts when ``copy`` is offered, else multiples of the segment length
(transcodes force keyframes there), so a player may switch at any segment.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Literal, Mapping

from actors.errors import Invalid, NotFound, Unplayable
from actors.media import filters
from actors.media.probe import MediaInfo
from actors.media.profiles import Profile
from actors.media.tracks import AudioTrack, SubtitleTrack, Tracks

Container = Literal["ts", "fmp4"]
MIN_LAST_SEGMENT = 1.0
AAC_FRAME_SAMPLES = 1024
COPY_VIDEO_PROFILES = {  # profile name -> profile_idc and constraint flags, for CODECS
    "Constrained Baseline": "42e0", "Baseline": "4200", "Main": "4d40", "High": "6400",
}
COPY_AUDIO_CODECS = frozenset({"aac"})
VBV_SECONDS = 1.0  # x264 -bufsize, in seconds of -maxrate
# H.264 levels (A.3.1): level_idc, macroblocks/s, macroblocks/frame, High-profile kbit/s.
H264_LEVELS = (
    (30, 40500, 1620, 12500), (31, 108000, 3600, 17500), (32, 216000, 5120, 25000),
    (40, 245760, 8192, 25000), (41, 245760, 8192, 62500), (42, 522240, 8704, 62500),
    (50, 589824, 22080, 168750), (51, 983040, 36864, 300000), (52, 2073600, 36864, 300000),
)


@dataclass(frozen=True)
class Plan:
    """Everything a session plays, worked out before it starts: the renditions (the
    profiles as they apply to this file, e.g. scaled down to a small source), each one's
    segment grid, and where the session starts."""

    media_id: str
    info: MediaInfo
    renditions: tuple[Profile, ...]
    boundaries: Mapping[str, tuple[float, ...]]
    profile: str
    start_segment: int
    audio: tuple[AudioTrack, ...] = ()  # alternate audio renditions; () when muxed
    subtitles: tuple[SubtitleTrack, ...] = ()  # WebVTT renditions
    burn: SubtitleTrack | None = None
    tracks: Tracks | None = None  # every track of the file, sidecars included
    inits: Mapping[str, bytes] = field(default_factory=dict)  # fMP4 rendition -> its init

    @property
    def grid(self) -> tuple[float, ...]:
        """The one segment grid of every rendition."""
        return self.boundaries[self.renditions[0].name]

    def audio_track(self, index: int) -> AudioTrack:
        """The alternate audio rendition of stream ``index``."""
        for track in self.audio:
            if track.index == index:
                return track
        raise NotFound(f"no audio rendition {index}; "
                       f"one of {', '.join(str(t.index) for t in self.audio) or 'none'}")

    def subtitle_track(self, index: int) -> SubtitleTrack:
        """The WebVTT rendition of track ``index``."""
        for track in self.subtitles:
            if track.index == index:
                return track
        raise NotFound(f"no subtitle rendition {index}; "
                       f"one of {', '.join(str(t.index) for t in self.subtitles) or 'none'}")

    def audio_kbps(self, track: AudioTrack) -> int:
        """An audio rendition's AAC bit rate: the profiles' stereo rate per channel pair."""
        stereo = max(r.audio_kbps for r in self.renditions)
        return stereo * audio_channels(track) // 2

    def rendition(self, name: str) -> Profile:
        """The rendition called ``name``: its size and rates as this plan decided them."""
        for rendition in self.renditions:
            if rendition.name == name:
                return rendition
        raise NotFound(f"no rendition {name!r}; one of {', '.join(self.names)}")

    def container(self, name: str) -> Container:
        """How rendition ``name``'s segments are packed."""
        return container_of(self.info, self.rendition(name))

    @property
    def fmp4_names(self) -> tuple[str, ...]:
        """The renditions packed as fMP4: each needs its init segment."""
        return tuple(name for name in self.names if self.container(name) == "fmp4")

    def init(self, name: str) -> bytes:
        """The init segment (``ftyp`` + ``moov``) of fMP4 rendition ``name``."""
        if self.container(name) != "fmp4" or name not in self.inits:
            raise NotFound(f"rendition {name!r} has no init segment")
        return self.inits[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rendition.name for rendition in self.renditions)

    def segment_count(self, name: str) -> int:
        return len(self.boundaries[name]) - 1


def make_plan(media_id: str, info: MediaInfo, profiles: tuple[Profile, ...],
              segment_seconds: float, profile: str | None = None, start: float = 0.0, *,
              burn: int | None = None, sidecars: tuple[SubtitleTrack, ...] = ()) -> Plan:
    """The plan of a playback; ``info`` must carry keyframes when ``copy`` fits.

    ``burn``: the index of an embedded image subtitle track to burn in; ``sidecars``:
    subtitle files beside the media (``actors.media.sidecars``)."""
    tracks = _all_tracks(info, sidecars)
    burned = burn_track(tracks, burn)
    chosen = renditions(info, profiles)
    if burned is not None:
        chosen = tuple(p for p in chosen if not p.is_copy)
        if not chosen:
            raise Invalid("burning subtitles in needs a transcoding profile")
    names = [p.name for p in chosen]
    if profile is not None and profile not in names:
        raise NotFound(f"profile {profile!r} does not fit this media; one of {', '.join(names)}")
    if not 0 <= start < info.duration:
        raise Invalid(f"start must be within 0..{info.duration:.3f} s")
    grid = segment_boundaries(info, _grid_profile(chosen), segment_seconds)
    boundaries = {p.name: grid for p in chosen}
    first = profile or names[0]
    audio = tracks.audio if tracks is not None and len(tracks.audio) > 1 else ()
    subtitles = tuple(t for t in tracks.subtitles if t.kind == "text") if tracks else ()
    return Plan(media_id, info, chosen, boundaries, first, segment_for_time(grid, start),
                audio=audio, subtitles=subtitles, burn=burned, tracks=tracks)


def with_inits(plan: Plan, make_init: Callable[[Plan, Profile], bytes]) -> Plan:
    """``plan`` with the init segment of each of its fMP4 renditions, from ``make_init``."""
    if not plan.fmp4_names:
        return plan
    inits = {name: make_init(plan, plan.rendition(name)) for name in plan.fmp4_names}
    return replace(plan, inits=inits)


def container_of(info: MediaInfo, profile: Profile) -> Container:
    """``fmp4`` for the passthrough copy of an HEVC, AV1 or VP9 source, else ``ts``."""
    return "fmp4" if profile.is_copy and info.video.codec in filters.PASSTHROUGH_CODECS else "ts"


def _all_tracks(info: MediaInfo, sidecars: tuple[SubtitleTrack, ...]) -> Tracks | None:
    if info.tracks is None:
        return None
    return replace(info.tracks, subtitles=(*info.tracks.subtitles, *sidecars))


def burn_track(tracks: Tracks | None, index: int | None) -> SubtitleTrack | None:
    """The embedded image subtitle track ``index``, refused unless it is one."""
    if index is None:
        return None
    found = [t for t in tracks.subtitles if t.index == index] if tracks else []
    if not found:
        raise NotFound(f"no subtitle track {index} to burn in")
    if found[0].kind != "image" or found[0].path is not None:
        raise Invalid(f"subtitle track {index} is text: it is offered as WebVTT, not burned in")
    return found[0]


def _grid_profile(chosen: tuple[Profile, ...]) -> Profile:
    """The rendition whose cuts every rendition shares: ``copy`` can only cut at the
    source's keyframes, while a transcode can put a keyframe anywhere."""
    return next((p for p in chosen if p.is_copy), chosen[0])


def audio_channels(track: AudioTrack) -> int:
    """6 (AAC 5.1) for a track of 6 channels or more, else a stereo downmix (or mono
    doubled)."""
    return 6 if track.channels >= 6 else 2


def needs_keyframes(info: MediaInfo, profiles: tuple[Profile, ...]) -> bool:
    """Whether the plan of ``info`` will remux (and so needs its keyframe index)."""
    return any(p.is_copy for p in renditions(info, profiles))


def _can_copy(info: MediaInfo) -> bool:
    """H.264 that browsers decode (8-bit 4:2:0, a common profile), or HEVC, AV1 or VP9
    a player may decode as is (``filters.copy_refusal``); never rotated."""
    if info.tracks is not None and info.tracks.video is not None:
        return filters.copy_allowed(info.tracks.video)  # interlacing and HDR too
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

    When no H.264 rendition fits (none, or only the fMP4 passthrough ``copy``, which not
    every client decodes), the smallest transcode profile is scaled down to the source
    height, its video bit rate in proportion to the pixels.
    """
    height = _source_height(info)
    fitting = tuple(p for p in profiles if _fits(info, p, height))
    if any(container_of(info, p) == "ts" for p in fitting):
        return fitting
    transcodes = [p for p in profiles if p.height is not None]
    if not transcodes:
        if fitting:
            return fitting
        raise Unplayable("no configured profile can play this file", "no_rendition")
    smallest = min(transcodes, key=lambda p: p.height or 0)
    return (*fitting, _scaled(smallest, height - height % 2))


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


def output_size(info: MediaInfo, profile: Profile) -> tuple[int, int]:
    """Width and height of a rendition: square pixels, even sizes, the source's shape."""
    if profile.is_copy:
        return info.video.width, info.video.height
    if info.tracks is not None and info.tracks.video is not None:
        return filters.output_size(info.tracks.video, profile.height or 0)
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


def h264_level(info: MediaInfo, profile: Profile) -> int:
    """The lowest level (3.0 at least) that holds the rendition's size, rate and bit rate."""
    width, height = output_size(info, profile)
    frame_blocks = math.ceil(width / 16) * math.ceil(height / 16)
    for level, blocks_per_second, max_blocks, max_kbps in H264_LEVELS:
        if (frame_blocks <= max_blocks and frame_blocks * info.video.fps <= blocks_per_second
                and profile.video_kbps <= max_kbps):
            return level
    return H264_LEVELS[-1][0]
