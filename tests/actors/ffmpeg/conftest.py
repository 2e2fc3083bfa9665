"""The process watcher every test of actors.ffmpeg that reads a process's pipes uses."""
from __future__ import annotations

from typing import Iterator

import pytest

from actors import ffmpeg
from tests.helpers.procs import ProcessLedger


@pytest.fixture
def watcher(ledger: ProcessLedger) -> Iterator[ffmpeg.ProcessWatcher]:
    watcher = ffmpeg.ProcessWatcher()
    watcher.start()
    yield watcher
    assert watcher.stop(5.0), "watcher thread did not end"
