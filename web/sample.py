"""``python -m web.sample INI``: give an empty media library a sample clip, so the
player works out of the box (``make run`` runs this before serving).

Writes ``sample.mp4`` (a moving test pattern and a tone, H.264/AAC, 720p) under the
ini's ``hls.media_root``, through a temporary name so a half-written file is never
listed. Does nothing when the library has media already.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pyramid.paster import get_appsettings

from actors import media
from actors.settings import Settings, SettingsError, parse_settings

SECONDS = 60
NAME = "sample.mp4"
TIMEOUT = 300


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m web.sample CONFIG.ini", file=sys.stderr)
        return 2
    try:
        settings = parse_settings(get_appsettings(args[0]))
    except (SettingsError, OSError) as error:
        print(f"hlsd: {error}", file=sys.stderr)
        return 2
    if settings.media_root.is_dir() and media.list_media(settings.media_root):
        return 0
    print(f"hlsd: the library is empty; writing a {SECONDS} s sample clip to {settings.media_root / NAME}")
    write_sample(settings, settings.media_root / NAME)
    return 0


def write_sample(settings: Settings, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial.mp4")  # hidden: never listed
    subprocess.run([
        settings.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:beep_factor=4",
        "-t", str(SECONDS), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-g", "60", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-movflags", "+faststart",
        str(partial),
    ], check=True, timeout=TIMEOUT)
    partial.replace(path)


if __name__ == "__main__":
    sys.exit(main())
