"""Makes ``actors/media/`` importable while ``actors/media.py`` still stands beside it.

The modules under ``actors/media/`` belong to the package that ``actors/media.py`` is
becoming; until that move lands, the old module is given the folder as its package path.
Once ``actors/media/__init__.py`` exists this does nothing.
"""
from __future__ import annotations

from pathlib import Path

import actors.media as _media

if not hasattr(_media, "__path__"):
    _media.__path__ = [str(Path(_media.__file__).with_suffix(""))]  # type: ignore[attr-defined]
