"""A short run of the chaos soak (``python -m tests.chaos``) inside ``make test``."""
from __future__ import annotations

import os

import pytest

from tests import chaos

SECONDS = float(os.environ.get("HLSD_SOAK_SECONDS", "50"))
SEED = int(os.environ.get("HLSD_SOAK_SEED", "20261124"))


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 150)
def test_a_short_chaos_soak_keeps_every_invariant():
    report = chaos.run_soak(SECONDS, SEED, clients=4, checkpoint=0)
    print(report.table())
    assert not report.violations, f"replay with: python -m tests.chaos --seed {SEED}\n{report.table()}"
    assert report.tally.sessions > 0 and report.tally.segments > 0 and sum(report.tally.faults.values()) > 0
