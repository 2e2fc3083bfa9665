"""Subtitle files beside a media file: ``Film.srt``, ``Film.en.srt``, ``Film.fr.forced.vtt``.

``find_sidecars(media_path, first_index)`` returns the valid ones as ``SubtitleTrack``s
(``path`` set, kind ``"text"``, codec ``subrip`` or ``webvtt``), numbered from
``first_index`` in name order, so a file's track numbers do not change between calls.

What it guarantees:

- A sidecar shares the media file's stem (case-insensitive); between the stem and the
  ``.srt``/``.vtt`` extension only a language code and the flags ``forced``, ``sdh``/``cc``
  (hearing impaired) and ``default`` may appear, dot-separated, in any order.
  ``Film.en.srt`` belongs to ``Film.mkv``; ``Film 2.srt`` and ``Film.en.txt`` do not.
- Only regular files in the media's own directory: a symlink whose target leaves that
  directory is refused (a library must not show files from elsewhere on disk).
- A file that is not valid UTF-8 (a BOM is allowed), not SRT/WebVTT with at least one
  well-formed cue, or larger than ``MAX_BYTES``, is left out with a warning in the log.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from actors.media.tracks import SubtitleTrack, normalize_language, UNKNOWN

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024  # a 3-hour film's SRT is ~150 KB; anything huge is not one
EXTENSIONS = {".srt": "subrip", ".vtt": "webvtt"}
FORCED_FLAGS = frozenset({"forced"})
HEARING_IMPAIRED_FLAGS = frozenset({"sdh", "cc"})  # not "hi": Hindi's code
DEFAULT_FLAGS = frozenset({"default"})
_FLAGS = FORCED_FLAGS | HEARING_IMPAIRED_FLAGS | DEFAULT_FLAGS
_TIME = r"(?:\d{1,3}:)?[0-5]?\d:[0-5]\d[,.]\d{1,3}"
SRT_CUE = re.compile(rf"^\s*\d+\s*\n\s*{_TIME}\s*-->\s*{_TIME}[^\n]*\n", re.MULTILINE)
VTT_CUE = re.compile(rf"^(?:[^\n]*\n)?{_TIME}[ \t]+-->[ \t]+{_TIME}[^\n]*\n", re.MULTILINE)


def find_sidecars(media_path: Path, first_index: int) -> list[SubtitleTrack]:
    """Valid subtitle files beside ``media_path`` as tracks numbered from ``first_index``."""
    directory = media_path.parent
    try:
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
    except OSError as error:
        log.warning("cannot list %s for subtitle files: %s", directory, error)
        return []
    tracks: list[SubtitleTrack] = []
    for candidate in entries:
        flags = sidecar_flags(media_path.name, candidate.name)
        if flags is None or not _inside(candidate, directory) or not _valid(candidate):
            continue
        tracks.append(_track(first_index + len(tracks), candidate, flags))
    return tracks


def sidecar_flags(media_name: str, name: str) -> list[str] | None:
    """The dot-separated parts between the media's stem and the extension, or None when
    ``name`` is not a subtitle file of ``media_name``."""
    stem = media_name.rsplit(".", 1)[0].lower() if "." in media_name else media_name.lower()
    lowered = name.lower()
    suffix = lowered.rsplit(".", 1)[-1] if "." in lowered else ""
    if f".{suffix}" not in EXTENSIONS or lowered == media_name.lower():
        return None
    middle = lowered[:-len(suffix) - 1]
    if middle != stem and not middle.startswith(stem + "."):
        return None
    flags = [part for part in middle[len(stem):].split(".") if part]
    languages = [_language_part(f) for f in flags if f not in _FLAGS]
    if len(languages) > 1 or any(normalize_language(f) == UNKNOWN for f in languages):
        return None
    return flags


def _language_part(flag: str) -> str:
    """``pt-br`` -> ``pt``: the region does not change the track's ISO 639 code."""
    return flag.split("-", 1)[0]


def _track(index: int, path: Path, flags: list[str]) -> SubtitleTrack:
    languages = [_language_part(f) for f in flags if f not in _FLAGS]
    return SubtitleTrack(
        index=index, language=normalize_language(languages[0] if languages else None),
        codec=EXTENSIONS[path.suffix.lower()], kind="text",
        forced=bool(FORCED_FLAGS.intersection(flags)),
        default=bool(DEFAULT_FLAGS.intersection(flags)), path=path,
        hearing_impaired=bool(HEARING_IMPAIRED_FLAGS.intersection(flags)))


def _inside(candidate: Path, directory: Path) -> bool:
    try:
        target = candidate.resolve(strict=True)
        inside = target.parent == directory.resolve(strict=True) and target.is_file()
    except (OSError, RuntimeError):  # a dangling link, or a link loop
        inside = False
    if not inside:
        log.warning("subtitle file %s left out: not a regular file in %s", candidate,
                    directory)
    return inside


def _valid(path: Path) -> bool:
    reason = subtitle_problem(path)
    if reason is not None:
        log.warning("subtitle file %s left out: %s", path, reason)
    return reason is None


def subtitle_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable SRT or WebVTT file, or None when it is."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return f"larger than {MAX_BYTES} bytes"
        data = path.read_bytes()
    except OSError as error:
        return f"unreadable ({error.strerror})"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return f"not valid UTF-8 (byte {error.start})"
    return text_problem(text.replace("\r\n", "\n").replace("\r", "\n"),
                        path.suffix.lower())


def text_problem(text: str, suffix: str) -> str | None:
    """Why decoded ``text`` is not SRT (``.srt``) or WebVTT (``.vtt``) with a cue."""
    if suffix == ".vtt":
        if not re.match(r"WEBVTT(?:[ \t][^\n]*)?(?:\n|$)", text):
            return "no WEBVTT header"
        return None if VTT_CUE.search(text + "\n") else "no well-formed cue"
    return None if SRT_CUE.search(text + "\n") else "no well-formed SRT cue"
