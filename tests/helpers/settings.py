"""The tests' settings: ``config/test.ini``'s ``[app:main]`` with a test's own roots, a
fresh instance id and its overrides, for actors and servers alike.

- ``app_settings(media_root, work_dir, **overrides)``: the raw mapping (``pyramid.*`` and
  ``hls.*`` keys, strings), what ``web.main`` and a generated ini take.
- ``settings_for(media_root, work_dir, **overrides)``: the same, parsed into the
  ``Settings`` an ``HlsSystem`` or a ``Runtime`` takes.

An override is a setting's name without ``hls.`` (``segment_seconds=1``).
"""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from pyramid.paster import get_appsettings

from actors.settings import Settings, parse_settings

REPO = Path(__file__).resolve().parent.parent.parent
TEST_INI = REPO / "config" / "test.ini"


def app_settings(media_root: Path, work_dir: Path, **overrides: Any) -> dict[str, str]:
    """``config/test.ini``'s ``[app:main]`` with these roots, a fresh instance id and
    ``overrides``."""
    settings = dict(get_appsettings(str(TEST_INI)))
    settings.update({
        "hls.media_root": str(media_root),
        "hls.work_dir": str(work_dir),
        "hls.instance": f"test-{secrets.token_hex(4)}",
        **{f"hls.{key}": str(value) for key, value in overrides.items()},
    })
    return settings


def settings_for(media_root: Path, work_dir: Path, **overrides: Any) -> Settings:
    """``app_settings(...)`` parsed, as ``web.main`` parses it."""
    return parse_settings(app_settings(media_root, work_dir, **overrides))
