"""Fixtures of the kernel's tests."""
from __future__ import annotations

from typing import Iterator

import pytest

from actors.kernel import TimerService


@pytest.fixture
def service() -> Iterator[TimerService]:
    """A running timer service, stopped (its thread joined) after the test."""
    timers = TimerService()
    timers.start()
    yield timers
    timers.stop()
