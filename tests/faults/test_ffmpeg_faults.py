"""FFmpeg that misbehaves on its own: ignores SIGTERM, fails at start, hangs at start, and
media that is corrupt, missing, or vanishes under a session.

The fakes run for media named ``fake-<fake>.mp4`` (see ``ffmpeg-faulty``); every other
file gets real FFmpeg, so the same hlsd then proves that a new session plays normally.
"""
from __future__ import annotations

import os
import shutil
import threading

import pytest

from tests.faults.invariants import (
    assert_invariants,
    pinned,
    tagged_processes,
    take_baseline,
)
from tests.faults.players import (
    first_request,
    InProcessClient,
    Player,
    answer_bound,
    ffmpeg_running,
    gone,
    plays_normally,
    restarted,
    session_state,
    wait_for,
)
from tests.faults.scenarios import CLIP, CONDITIONS, PROFILE
from tests.helpers.procs import pidfd_exited

pytestmark = pytest.mark.timeout(120)


def transcoder_pid(client, session: str) -> int:
    if (session_state(client, session) or {}).get("run") is None:
        first_request(client, session)  # lazy start: FFmpeg starts at the first segment request
    return wait_for(lambda: (session_state(client, session) or {}).get("transcoder_pid"), 10,
                    "a transcoder started its FFmpeg")


def start_player(client, session: str, profile: str, numbers, **options) -> Player:
    player = Player(client, session, profile, numbers, **options)
    player.start()
    return player


@pytest.mark.parametrize("condition", CONDITIONS)
def test_ffmpeg_ignoring_sigterm_is_killed_within_kill_grace(start_hlsd, tmp_path, condition):
    system = start_hlsd(stall_timeout=60)
    baseline = take_baseline(system)
    client = InProcessClient(system)
    session = client.open("fake-ffmpeg-ignoring-sigterm.mp4", "copy").json()["id"]
    pid = transcoder_pid(client, session)
    player = start_player(client, session, "copy", range(3)) if condition == "playing" else None
    # The player's request is now waiting for a segment that will never come.
    threading.Event().wait(0.3)
    grace = system.settings.kill_grace

    with pinned([pid]) as pidfds:
        stopped = client.stop(session)
        assert stopped.ok, stopped
        assert stopped.elapsed <= grace + 1, f"stop took {stopped.elapsed:.2f} s"
        assert pidfd_exited(pidfds[0], 0), "the answer came before FFmpeg was gone"
    if player is not None:
        player.finish(5)
        assert player.error is not None and player.error.status == 404, player.error
    plays_normally(client, CLIP, PROFILE, tmp_path)
    assert_invariants(system, system.settings.work_dir, baseline)


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize("fake", ["ffmpeg-failing-at-start", "ffmpeg-disk-full"])
def test_ffmpeg_failing_at_start_ends_the_session_with_an_error(start_hlsd, tmp_path, fake, condition):
    system = start_hlsd(restart_intensity="2/10")
    baseline = take_baseline(system)
    client = InProcessClient(system)
    session = client.open(f"fake-{fake}.mp4", "copy").json()["id"]
    player = start_player(client, session, "copy", range(3)) if condition == "playing" else None
    if player is None:
        first_request(client, session)  # lazy start: nothing fails before a segment is asked for

    gone(client, session, timeout=10)
    lives = 1
    if player is None:  # comes after the end: its token starts the session again, which fails again
        player, lives = start_player(client, session, "copy", range(3)), 2
    player.finish(system.settings.segment_wait + 5)
    assert player.error is not None and player.error.clear_error, player.error
    assert player.error.status in (404, 502)
    assert system.runtime.metrics.restarts._value.get() == 2 * lives
    plays_normally(client, CLIP, PROFILE, tmp_path)
    assert_invariants(system, system.settings.work_dir, baseline)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_ffmpeg_hanging_at_start_is_restarted_then_the_session_ends(start_hlsd, tmp_path, condition):
    system = start_hlsd(stall_timeout=1, restart_intensity="1/30")
    baseline = take_baseline(system)
    client = InProcessClient(system)
    session = client.open("fake-ffmpeg-hanging.mp4", "copy").json()["id"]
    player = start_player(client, session, "copy", range(3)) if condition == "playing" else None
    pid = transcoder_pid(client, session)
    restarted(client, session, pid, timeout=5)

    gone(client, session, timeout=10)
    if player is None:
        player = start_player(client, session, "copy", range(3))
    player.finish(system.settings.segment_wait + 5)
    assert player.error is not None and player.error.clear_error, player.error
    assert player.error.status in (404, 502)
    plays_normally(client, CLIP, PROFILE, tmp_path)
    assert_invariants(system, system.settings.work_dir, baseline)


def test_corrupt_or_missing_media_is_refused_before_anything_is_spawned(start_hlsd, tmp_path):
    system = start_hlsd()
    baseline = take_baseline(system)
    client = InProcessClient(system)
    corrupt, missing = client.open("corrupt.mp4", "copy"), client.open("missing.mp4", "copy")
    assert corrupt.clear_error and corrupt.status in (415, 422), corrupt
    assert missing.clear_error and missing.status == 404, missing
    assert tagged_processes(system.settings.work_dir, os.getpid()) == []
    plays_normally(client, CLIP, PROFILE, tmp_path)
    assert_invariants(system, system.settings.work_dir, baseline)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_media_vanishing_under_a_session_makes_ffmpeg_fail_and_the_client_get_an_error(
        start_hlsd, fault_media, tmp_path, condition):
    media = tmp_path / "media"
    media.mkdir()
    for name in (CLIP, "doomed.mp4"):
        shutil.copy(fault_media / CLIP, media / name)
    system = start_hlsd(media_root=media, restart_intensity="2/30")
    baseline = take_baseline(system)
    client = InProcessClient(system)
    session = client.open("doomed.mp4", PROFILE).json()["id"]
    ffmpeg_running(client, session)
    player = start_player(client, session, PROFILE, range(30)) if condition == "playing" else None
    if player is not None:
        assert player.reading.wait(30)

    (media / "doomed.mp4").unlink()  # real FFmpeg, restarted, cannot open its input any more
    assert client.fault("kill_ffmpeg", session).ok
    gone(client, session, timeout=10)
    if player is None:
        player = start_player(client, session, PROFILE, range(3))
    player.finish(system.settings.segment_wait + 5)
    assert player.error is not None and player.error.clear_error, player.error
    assert player.error.status in (404, 502)
    assert player.longest <= answer_bound(system.settings.segment_wait)
    plays_normally(client, CLIP, PROFILE, tmp_path)
    assert_invariants(system, system.settings.work_dir, baseline)
