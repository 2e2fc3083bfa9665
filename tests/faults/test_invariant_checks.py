"""The checks bite: each kind of leftover that ``assert_invariants`` exists to catch,
planted on purpose in an idle hlsd, makes it fail (and names the leftover)."""
from __future__ import annotations

import os
import threading

import pytest

from actors import ffmpeg
from tests.faults.invariants import assert_invariants, take_baseline
from tests.helpers.procs import SLEEP

pytestmark = pytest.mark.timeout(60)
# The reaper would sweep a planted leftover while a check waits for things to settle
# (config/test.ini sweeps every 5 s), and the check would then rightly pass.
NO_SWEEP = {"reap_interval": 600}


def test_a_clean_idle_hlsd_passes(start_hlsd):
    system = start_hlsd()
    assert_invariants(system, system.settings.work_dir, take_baseline(system))


def test_a_run_dir_that_no_transcoder_owns_fails(start_hlsd):
    system = start_hlsd(**NO_SWEEP)
    baseline = take_baseline(system)
    settings = system.settings
    stray = ffmpeg.run_dir(settings.work_dir, settings.instance, "ghost", "ghost-1")
    stray.mkdir(parents=True)
    with pytest.raises(AssertionError, match="ghost-1: no live transcoder"):
        assert_invariants(system, settings.work_dir, baseline, sessions_ended=False)
    with pytest.raises(AssertionError, match="ghost-1"):
        assert_invariants(system, settings.work_dir, baseline)
    ffmpeg.remove_run_dir(settings.work_dir, settings.instance, "ghost", "ghost-1")


def test_an_ffmpeg_that_no_transcoder_owns_fails(start_hlsd):
    system = start_hlsd(**NO_SWEEP)
    baseline = take_baseline(system)
    settings = system.settings
    run_dir = ffmpeg.run_dir(settings.work_dir, settings.instance, "ghost", "ghost-1")
    run_dir.mkdir(parents=True)
    tag = ffmpeg.Tag.for_this_process(settings.work_dir, settings.instance, "ghost", "ghost-1")
    ghost = ffmpeg.spawn(lambda progress_fd, list_fd: ["600"], tag, run_dir, SLEEP)
    try:
        with pytest.raises(AssertionError, match=f"FFmpeg {ghost.pid} of run ghost-1: no live transcoder"):
            assert_invariants(system, settings.work_dir, baseline, sessions_ended=False)
    finally:
        ffmpeg.stop_process_group(ghost, 0)
        ffmpeg.remove_run_dir(settings.work_dir, settings.instance, "ghost", "ghost-1")


def test_a_thread_or_an_open_file_left_behind_fails(start_hlsd, tmp_path):
    system = start_hlsd()
    baseline = take_baseline(system)
    release = threading.Event()
    leaked = threading.Thread(target=release.wait, args=(30,), name="leaked-thread")
    leaked.start()
    try:
        with pytest.raises(AssertionError, match="leaked-thread"):
            assert_invariants(system, system.settings.work_dir, baseline, settle_for=0.5)
    finally:
        release.set()
        leaked.join(5)
    fd = os.open(tmp_path / "leaked-file", os.O_CREAT | os.O_WRONLY)
    try:
        with pytest.raises(AssertionError, match="leaked-file"):
            assert_invariants(system, system.settings.work_dir, baseline, settle_for=0.5)
    finally:
        os.close(fd)
