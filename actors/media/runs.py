"""The media side of one FFmpeg run: what it makes (``RenditionKey``) and how
(``recipe_for``). The plan decides renditions and tracks; this asks it, whole.

A run makes one rendition: the video of one rendition (``copy``, ``720p``, ...), one
audio track, or one subtitle track. Video and audio runs write segments on the plan's
grid and list each one as it is finished; a subtitle run writes one WebVTT file, which
the session cuts into segments.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import partial
from pathlib import Path

from actors.errors import NotFound
from actors.media.fmp4 import strip_to_fragments
from actors.media.plan import AAC_FRAME_SAMPLES, Container, Plan, audio_channels
from actors.media.recipe import ffmpeg_args
from actors.media.track_recipes import (
    audio_rendition_args,
    audio_sample_rate,
    webvtt_conversion_args,
)

# The file a subtitle run writes in its run dir.
SUBTITLE_FILE = "track.vtt"

ArgvBuilder = Callable[[Path, int, int], list[str]]  # (run dir, progress fd, list fd) -> argv


class RunKind(str, Enum):
    """What a run makes: segments of a video rendition, segments of an audio track, or
    the WebVTT of a subtitle track."""

    VIDEO = "video"
    AUDIO = "audio"
    SUBTITLES = "subtitles"


@dataclass(frozen=True, order=True)
class RenditionKey:
    """One rendition of a plan: ``name`` is the rendition's name for video, the track's
    stream index (as text) for audio and subtitles."""

    kind: RunKind
    name: str

    @classmethod
    def video(cls, name: str) -> RenditionKey:
        return cls(RunKind.VIDEO, name)

    @classmethod
    def audio(cls, index: int | str) -> RenditionKey:
        return cls(RunKind.AUDIO, str(index))

    @classmethod
    def subtitles(cls, index: int | str) -> RenditionKey:
        return cls(RunKind.SUBTITLES, str(index))

    @property
    def track(self) -> int:
        """The stream index of an audio or subtitle rendition."""
        return int(self.name)

    def describe(self) -> str:
        """How a person names it: ``video 720p``, ``audio track 2``."""
        return f"video {self.name}" if self.kind is RunKind.VIDEO else \
            f"{'audio' if self.kind is RunKind.AUDIO else 'subtitle'} track {self.name}"


@dataclass(frozen=True)
class Recipe:
    """One run's FFmpeg arguments, and how to read what it makes.

    ``argv(run dir, progress fd, list fd)``. ``frame_rate``: the frames per second whose
    half frame a listed segment may end short of its cut and still be whole (for audio,
    half an AAC frame at the rate the recipe encodes). ``output``: the one file a whole-file
    run (subtitles) writes in its run dir; None for runs that list segments. ``finish``:
    what a listed segment file needs before it is served (fMP4: its head stripped), on
    the transcoder's thread; False when the file was not what the recipe expects."""

    argv: ArgvBuilder
    frame_rate: float
    output: str | None = None
    finish: Callable[[Path], bool] | None = None


def check_rendition(plan: Plan, key: RenditionKey, number: int | None = None,
                    container: Container | None = None) -> None:
    """Raise NotFound unless ``plan`` has the rendition (and segment ``number`` of it),
    packed in ``container`` when one is given: a ``3.ts`` of an fMP4 rendition is none."""
    if key.kind is RunKind.VIDEO:
        plan.rendition(key.name)
        if container is not None and plan.container(key.name) != container:
            raise NotFound(f"{key.describe()} has no {container} segments")
    elif container not in (None, "ts"):
        raise NotFound(f"{key.describe()} has no {container} segments")
    elif key.kind is RunKind.AUDIO:
        plan.audio_track(_index(plan, key))
    else:
        plan.subtitle_track(_index(plan, key))
    if number is not None and not 0 <= number < len(plan.grid) - 1:
        raise NotFound(f"no segment {number} of {key.describe()}")


def _index(plan: Plan, key: RenditionKey) -> int:
    try:
        return key.track
    except ValueError:
        raise NotFound(f"no {key.describe()}") from None


def recipe_for(plan: Plan, key: RenditionKey, start: int) -> Recipe:
    """FFmpeg's recipe for a run of ``key`` from segment ``start``; refuses (NotFound,
    ValueError) before any file exists."""
    if key.kind is RunKind.AUDIO:
        return _audio(plan, key, start)
    if key.kind is RunKind.SUBTITLES:
        track = plan.subtitle_track(_index(plan, key))
        return Recipe(lambda out, progress, listing: [
            "-progress", f"pipe:{progress}",
            *webvtt_conversion_args(plan.info.path, track, out / SUBTITLE_FILE)],
            frame_rate=0.0, output=SUBTITLE_FILE)
    rendition = plan.rendition(key.name)  # as the plan sized it, not as configured
    boundaries = plan.boundaries[key.name]
    container = plan.container(key.name)
    finish = partial(strip_to_fragments, init=plan.init(key.name)) if container == "fmp4" else None
    return Recipe(lambda out, progress, listing: ffmpeg_args(
        plan.info, rendition, boundaries, start, out, progress, listing,
        muxed_audio=not plan.audio, burn=plan.burn, container=container),
        frame_rate=plan.info.video.fps, finish=finish)


def _audio(plan: Plan, key: RenditionKey, start: int) -> Recipe:
    track = plan.audio_track(_index(plan, key))
    channels, kbps = audio_channels(track), plan.audio_kbps(track)
    rate = audio_sample_rate(track.sample_rate)
    return Recipe(lambda out, progress, listing: audio_rendition_args(
        plan.info.path, track, plan.grid, start, out, f"pipe:{listing}", channels=channels,
        bitrate_kbps=kbps, progress=f"pipe:{progress}"),
        # A segment ends up to one AAC frame before its cut (the frame crossing it starts
        # the next one): a "frame rate" of half the AAC frame rate gives that slack.
        frame_rate=rate / (2 * AAC_FRAME_SAMPLES))

