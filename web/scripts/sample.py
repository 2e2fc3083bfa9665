"""``python -m web.scripts.sample INI``: give an empty media library a sample clip, so the
player works out of the box (``make run`` runs this before serving).

Writes ``sample.mp4`` (a moving test pattern and a tone, H.264/AAC, 720p) under the
ini's ``hls.media_root``. Does nothing when the library has media already.
"""
from __future__ import annotations

import sys

from pyramid.paster import get_appsettings

from actors.ffmpeg import sample
from actors.media.library import list_media
from actors.settings import SettingsError, parse_settings

NAME = "sample.mp4"
SECONDS = 60


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m web.scripts.sample CONFIG.ini", file=sys.stderr)
        return 2
    try:
        settings = parse_settings(get_appsettings(args[0]))
    except (SettingsError, OSError) as error:
        print(f"hlsd: {error}", file=sys.stderr)
        return 2
    if settings.media_root.is_dir() and list_media(settings.media_root):
        return 0
    path = settings.media_root / NAME
    print(f"hlsd: the library is empty; writing a {SECONDS} s sample clip to {path}")
    sample.write_sample(settings.ffmpeg, path, SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
