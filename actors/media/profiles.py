"""Renditions as an operator names them: ``Profile`` and the ``hls.profiles`` lines.

Media knowledge (what ``720p 720 2800k 128k`` means) lives here, below the settings that
read the ini value: ``actors.settings`` converts ``hls.profiles`` by calling
``parse_profiles``, and the plan, the recipes and the playlists take ``Profile`` values
without importing anything above ``actors.media``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """One rendition: ``copy`` remuxes, the others transcode to H.264/AAC."""

    name: str
    height: int | None = None
    video_kbps: int = 0
    audio_kbps: int = 128

    @property
    def is_copy(self) -> bool:
        return self.height is None


DEFAULT_PROFILES = (
    Profile("copy"),
    Profile("720p", 720, 2800, 128),
    Profile("480p", 480, 1400, 96),
)


def parse_profiles(value: str) -> tuple[Profile, ...]:
    """One profile per non-empty line: ``NAME copy`` or ``NAME HEIGHT VIDEO_KBPS
    AUDIO_KBPS``; raises ``ValueError`` with a sentence for the operator."""
    lines = [line.strip() for line in str(value).splitlines() if line.strip()]
    profiles = tuple(_profile(line) for line in lines)
    if not profiles:
        raise ValueError("must name at least one profile")
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise ValueError("profile names must be unique")
    for name in names:
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"profile name {name!r} must be letters, digits, - or _")
    return profiles


def _profile(line: str) -> Profile:
    words = line.split()
    if len(words) == 2 and words[1] == "copy":
        return Profile(words[0])
    if len(words) == 4:
        name, height, video, audio = words
        return Profile(name, _positive(height.removesuffix("p")), _positive(video.lower().removesuffix("k")),
                       _positive(audio.lower().removesuffix("k")))
    raise ValueError(f"profile line {line!r} must be 'NAME copy' or 'NAME HEIGHT VIDEO_KBPS AUDIO_KBPS'")


def _positive(text: str) -> int:
    number = int(text)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number
