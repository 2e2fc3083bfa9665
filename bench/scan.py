"""Row 11: the library scan of 200 new files: files/s, MB/s, CPU share, serving latency.

See ``bench.library`` (which builds both generated libraries) for how it is measured.
"""
from __future__ import annotations

from bench.common import Bench, Line
from bench.library import scan_rows


def run(bench: Bench) -> list[Line]:
    return scan_rows(bench)
