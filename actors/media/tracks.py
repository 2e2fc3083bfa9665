"""Every stream of a media file, as values: the video source, audio and subtitle tracks.

``parse_streams(probed, media_path)`` reads ffprobe's JSON (``-show_format -show_streams``)
into ``Tracks``. Pure: no process, no file is opened. What it guarantees:

- ``video`` is the first video stream that is not an attached picture (cover art is a
  "video" stream too), the one ``-map 0:V:0`` picks; None for audio-only files.
- Every audio stream is an ``AudioTrack``; every subtitle stream a ``SubtitleTrack`` of
  kind ``"text"`` (browsers can show it once it is WebVTT) or ``"image"`` (bitmaps: only
  burn-in shows them). Subtitle codecs that are neither are left out.
- ``index`` is the absolute stream index, what ``-map 0:<index>`` names.
- Languages are ISO 639-2/B codes (``eng``, ``fre``), ``und`` when unknown, whichever of
  639-1, 639-2/B or 639-2/T the file used; ``bcp47`` gives the tag HLS ``LANGUAGE`` wants.
- ``VideoSource`` says what a browser could not show as is: interlacing (``field_order``),
  HDR (``color_transfer``), rotation (the display matrix), bit depth and chroma
  subsampling (``pix_fmt``).

``display_name`` and ``unique_names`` give the names people read in players' menus
(``English (5.1)``, ``French (forced)``); ``audio_json``/``subtitle_json`` the track lists
of ``GET /media`` and the session JSON.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

# ISO 639-2/B code: (ISO 639-2/T code, ISO 639-1 code, English name), the common ones.
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "eng": ("eng", "en", "English"), "fre": ("fra", "fr", "French"),
    "ger": ("deu", "de", "German"), "spa": ("spa", "es", "Spanish"),
    "ita": ("ita", "it", "Italian"), "por": ("por", "pt", "Portuguese"),
    "dut": ("nld", "nl", "Dutch"), "rus": ("rus", "ru", "Russian"),
    "jpn": ("jpn", "ja", "Japanese"), "chi": ("zho", "zh", "Chinese"),
    "kor": ("kor", "ko", "Korean"), "ara": ("ara", "ar", "Arabic"),
    "hin": ("hin", "hi", "Hindi"), "swe": ("swe", "sv", "Swedish"),
    "nor": ("nor", "no", "Norwegian"), "nob": ("nob", "nb", "Norwegian Bokmål"),
    "dan": ("dan", "da", "Danish"), "fin": ("fin", "fi", "Finnish"),
    "pol": ("pol", "pl", "Polish"), "cze": ("ces", "cs", "Czech"),
    "slo": ("slk", "sk", "Slovak"), "hun": ("hun", "hu", "Hungarian"),
    "gre": ("ell", "el", "Greek"), "tur": ("tur", "tr", "Turkish"),
    "heb": ("heb", "he", "Hebrew"), "tha": ("tha", "th", "Thai"),
    "vie": ("vie", "vi", "Vietnamese"), "ind": ("ind", "id", "Indonesian"),
    "may": ("msa", "ms", "Malay"), "ukr": ("ukr", "uk", "Ukrainian"),
    "rum": ("ron", "ro", "Romanian"), "bul": ("bul", "bg", "Bulgarian"),
    "hrv": ("hrv", "hr", "Croatian"), "srp": ("srp", "sr", "Serbian"),
    "slv": ("slv", "sl", "Slovenian"), "est": ("est", "et", "Estonian"),
    "lav": ("lav", "lv", "Latvian"), "lit": ("lit", "lt", "Lithuanian"),
    "ice": ("isl", "is", "Icelandic"), "cat": ("cat", "ca", "Catalan"),
    "baq": ("eus", "eu", "Basque"), "glg": ("glg", "gl", "Galician"),
    "per": ("fas", "fa", "Persian"), "tam": ("tam", "ta", "Tamil"),
    "tel": ("tel", "te", "Telugu"), "ben": ("ben", "bn", "Bengali"),
    "tgl": ("tgl", "tl", "Tagalog"), "fil": ("fil", "", "Filipino"),
    "wel": ("cym", "cy", "Welsh"), "gle": ("gle", "ga", "Irish"),
    "lat": ("lat", "la", "Latin"), "mul": ("mul", "", "Multiple languages"),
    "zxx": ("zxx", "", "No language"),
}
UNKNOWN = "und"
_BY_ALIAS = {alias: code for code, (t, one, _) in LANGUAGES.items()
             for alias in (code, t, one) if alias}
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")

TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})
IMAGE_SUBTITLES = frozenset({"hdmv_pgs_subtitle", "dvb_subtitle", "dvd_subtitle", "xsub"})
INTERLACED_FIELD_ORDERS = frozenset({"tt", "bb", "tb", "bt"})
HDR_TRANSFERS = {"smpte2084": "pq", "arib-std-b67": "hlg"}
CHANNEL_LABELS = {1: "mono", 2: "stereo", 6: "5.1", 7: "6.1", 8: "7.1"}


@dataclass(frozen=True)
class AudioTrack:
    index: int
    language: str
    codec: str
    channels: int
    default: bool
    title: str | None = None
    sample_rate: int = 48000
    channel_layout: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class SubtitleTrack:
    """An embedded subtitle stream (``path`` None, ``index`` its stream index) or a
    subtitle file beside the media (``path`` set; ``index`` numbers it after the
    embedded streams, so every track of a file has its own index)."""

    index: int
    language: str
    codec: str
    kind: Literal["text", "image"]
    forced: bool
    default: bool
    path: Path | None = None
    title: str | None = None
    hearing_impaired: bool = False


@dataclass(frozen=True)
class VideoSource:
    """The main video stream; ``width``/``height`` as coded, before any rotation.

    ``rotation`` is the angle (0, 90, 180, 270) the decoded picture must be turned
    counter-clockwise to be upright: ffprobe's display-matrix ``rotation``.
    """

    index: int
    codec: str
    width: int
    height: int
    fps: Fraction
    pix_fmt: str
    bit_depth: int
    chroma: int
    interlaced: bool
    hdr: Literal["pq", "hlg"] | None
    rotation: int
    profile: str | None = None
    sample_aspect: Fraction = Fraction(1)
    field_order: str = "progressive"


@dataclass(frozen=True)
class Tracks:
    video: VideoSource | None
    audio: tuple[AudioTrack, ...]
    subtitles: tuple[SubtitleTrack, ...]
    start_time: float = 0.0
    duration: float | None = None


def normalize_language(code: str | None) -> str:
    """The ISO 639-2/B code for a 639-1, 639-2/B or /T code; ``und`` when unknown.

    A well-formed code missing from the table is kept as is (lower case)."""
    text = (code or "").strip().lower()
    if text in _BY_ALIAS:
        return _BY_ALIAS[text]
    return text if _LANGUAGE_CODE.fullmatch(text) else UNKNOWN


def bcp47(language: str) -> str | None:
    """The tag for HLS ``LANGUAGE`` (RFC 5646: 639-1 where one exists); None for ``und``."""
    if language == UNKNOWN:
        return None
    known = LANGUAGES.get(language)
    if known is None:
        return language
    return known[1] or known[0]


def language_name(language: str) -> str:
    known = LANGUAGES.get(language)
    if known is not None:
        return known[2]
    return "Unknown" if language == UNKNOWN else language


def channel_label(channels: int) -> str:
    return CHANNEL_LABELS.get(channels, f"{channels} channels")


def display_name(track: AudioTrack | SubtitleTrack) -> str:
    """``English (5.1)``, ``Unknown (stereo)``, ``French (forced)``, ``Japanese``."""
    notes: list[str] = []
    if isinstance(track, AudioTrack):
        notes.append(channel_label(track.channels))
    else:
        notes += ["forced"] * track.forced + ["SDH"] * track.hearing_impaired
    if track.title and track.title.lower() != language_name(track.language).lower():
        notes.append(track.title)
    name = language_name(track.language)
    return f"{name} ({', '.join(notes)})" if notes else name


def unique_names(tracks: tuple[AudioTrack, ...] | tuple[SubtitleTrack, ...]) -> list[str]:
    """Display names made unique (HLS wants one ``NAME`` per rendition in a group)."""
    names: list[str] = []
    for track in tracks:
        name, count = display_name(track), 1
        while (name if count == 1 else f"{name} {count}") in names:
            count += 1
        names.append(name if count == 1 else f"{name} {count}")
    return names


def audio_json(tracks: Tracks) -> list[dict[str, Any]]:
    return [{"index": t.index, "language": t.language, "codec": t.codec,
             "channels": t.channels, "default": t.default} for t in tracks.audio]


def subtitle_json(tracks: Tracks) -> list[dict[str, Any]]:
    return [{"index": t.index, "language": t.language, "codec": t.codec, "kind": t.kind,
             "forced": t.forced} for t in tracks.subtitles]


def parse_streams(probed: dict[str, Any], media_path: Path) -> Tracks:
    """``Tracks`` of ffprobe's JSON for ``media_path`` (embedded streams only; see
    ``actors.media.sidecars`` for subtitle files beside it)."""
    streams = probed.get("streams", [])
    videos = [s for s in streams if s.get("codec_type") == "video"
              and not _disposition(s, "attached_pic")]
    audio = tuple(_audio(s) for s in streams if s.get("codec_type") == "audio")
    subtitles = tuple(t for s in streams if s.get("codec_type") == "subtitle"
                      for t in _subtitle(s))
    fmt = probed.get("format", {})
    return Tracks(video=_video(videos[0]) if videos else None, audio=audio,
                  subtitles=subtitles, start_time=_float(fmt.get("start_time")) or 0.0,
                  duration=_float(fmt.get("duration")))


def _disposition(stream: dict[str, Any], flag: str) -> bool:
    return bool(stream.get("disposition", {}).get(flag))


def _tag(stream: dict[str, Any], name: str) -> str | None:
    tags = {key.lower(): value for key, value in stream.get("tags", {}).items()}
    value = tags.get(name)
    return str(value).strip() or None if value is not None else None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _fraction(value: Any) -> Fraction | None:
    try:
        ratio = Fraction(str(value).replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return None
    return ratio if ratio > 0 else None


def _audio(stream: dict[str, Any]) -> AudioTrack:
    return AudioTrack(
        index=int(stream["index"]), language=normalize_language(_tag(stream, "language")),
        codec=stream.get("codec_name", ""), channels=int(stream.get("channels") or 2),
        default=_disposition(stream, "default"), title=_tag(stream, "title"),
        sample_rate=int(_float(stream.get("sample_rate")) or 48000),
        channel_layout=stream.get("channel_layout"), profile=stream.get("profile"))


def _subtitle(stream: dict[str, Any]) -> list[SubtitleTrack]:
    codec = stream.get("codec_name", "")
    if codec not in TEXT_SUBTITLES and codec not in IMAGE_SUBTITLES:
        return []  # e.g. teletext or closed captions: neither WebVTT nor a bitmap
    return [SubtitleTrack(
        index=int(stream["index"]), language=normalize_language(_tag(stream, "language")),
        codec=codec, kind="text" if codec in TEXT_SUBTITLES else "image",
        forced=_disposition(stream, "forced"), default=_disposition(stream, "default"),
        title=_tag(stream, "title"),
        hearing_impaired=_disposition(stream, "hearing_impaired"))]


def _video(stream: dict[str, Any]) -> VideoSource:
    pix_fmt = stream.get("pix_fmt", "")
    field_order = stream.get("field_order") or "progressive"
    fps = (_fraction(stream.get("avg_frame_rate")) or _fraction(stream.get("r_frame_rate"))
           or Fraction(25))
    return VideoSource(
        index=int(stream["index"]), codec=stream.get("codec_name", ""),
        width=int(stream.get("width") or 0), height=int(stream.get("height") or 0),
        fps=fps, pix_fmt=pix_fmt, bit_depth=_bit_depth(stream, pix_fmt),
        chroma=_chroma(pix_fmt), interlaced=field_order in INTERLACED_FIELD_ORDERS,
        hdr=HDR_TRANSFERS.get(stream.get("color_transfer", "")),  # type: ignore[arg-type]
        rotation=_rotation(stream), profile=stream.get("profile"),
        sample_aspect=_fraction(stream.get("sample_aspect_ratio")) or Fraction(1),
        field_order=field_order)


def _bit_depth(stream: dict[str, Any], pix_fmt: str) -> int:
    depth = re.search(r"(?:p|le|be)?(9|10|12|14|16)(?:le|be)$", pix_fmt)
    if depth or pix_fmt in ("p010le", "p010be"):
        return int(depth.group(1)) if depth else 10
    raw = _float(stream.get("bits_per_raw_sample"))
    return int(raw) if raw else 8


def _chroma(pix_fmt: str) -> int:
    if pix_fmt.startswith(("yuv444", "yuvj444", "gbr", "rgb", "bgr")):
        return 444
    if pix_fmt.startswith(("yuv422", "yuvj422", "nv16", "p210", "y210")):
        return 422
    return 420


def _rotation(stream: dict[str, Any]) -> int:
    """Counter-clockwise degrees to turn upright. The display matrix says it; an old
    ``rotate`` tag (clockwise degrees) is the fallback."""
    matrices = [d for d in stream.get("side_data_list", []) if "rotation" in d]
    if matrices:
        degrees = _float(matrices[0]["rotation"]) or 0.0
    else:
        degrees = -(_float(_tag(stream, "rotate")) or 0.0)
    return (round(degrees / 90) * 90) % 360
