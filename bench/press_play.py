"""Row 15: pressing play. c) the first frame in Chromium, cold 720p, vs FFmpeg alone
(``bench.first_frame``); d) a crowd of 100 players within 1 s (``bench.crowd``)."""
from __future__ import annotations

from bench import crowd, first_frame
from bench.common import Bench, Line


def run(bench: Bench) -> list[Line]:
    return first_frame.run(bench) + crowd.run(bench)
