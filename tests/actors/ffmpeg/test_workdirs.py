"""Work dirs: one live owner per instance dir, and no path component that escapes.

The ``ledger`` check ends every test: none of the processes it started is alive, no work
dir is left, no handle is open and the thread count is back to where it was. It looks
only at this test's own pids, work dir and children: other tests run FFmpeg on this
machine at the same time.
"""
from __future__ import annotations

import json

import psutil
import pytest

from actors import ffmpeg
from tests.helpers.procs import SLEEP

pytestmark = pytest.mark.timeout(60)


def test_claim_refuses_an_instance_dir_owned_by_another_live_process(ledger):
    holder = ledger.spawn(lambda p, s: ["60"], SLEEP, cwd=ledger.work_dir.parent)
    path = ffmpeg.instance_dir(ledger.work_dir, ledger.instance)
    path.mkdir(parents=True)
    start = psutil.Process(holder.pid).create_time()
    (path / ffmpeg.OWNER_FILE).write_text(json.dumps({"pid": holder.pid, "start": start}))

    with pytest.raises(FileExistsError):
        ffmpeg.claim_instance_dir(ledger.work_dir, ledger.instance)
    ffmpeg.stop_process_group(holder, 1.0)
    assert ffmpeg.claim_instance_dir(ledger.work_dir, ledger.instance) == path
    ffmpeg.release_instance_dir(ledger.work_dir, ledger.instance)
    ledger.work_dir.rmdir()


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\0b"])
def test_work_dir_paths_refuse_components_that_could_escape(name, ledger):
    with pytest.raises(ValueError):
        ffmpeg.run_dir(ledger.work_dir, ledger.instance, name, "run")
