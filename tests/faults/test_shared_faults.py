"""Faults in the run that another session's viewer leans on (the segment store): two
viewers of one clip at one rendition, the second reading behind the first from what the
first one's run makes; the fault hits the first session's FFmpeg or the session itself.
The second viewer must play on with no error (its session takes over where nothing else
serves it), its segments must splice, and the invariants hold at the end."""
from __future__ import annotations

import pytest

from tests.faults.invariants import assert_invariants, take_baseline
from tests.faults.players import InProcessClient, Player, decode_errors, ffmpeg_running, plays_normally
from tests.faults.scenarios import CLIP, PROFILE, SEGMENTS

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("fault", ["kill_ffmpeg", "stop_ffmpeg", "crash_session"])
def test_the_viewer_leaning_on_a_run_plays_on_when_it_fails(start_hlsd, tmp_path, fault):
    system = start_hlsd(stall_timeout=2)
    baseline = take_baseline(system)
    client = InProcessClient(system)
    first, second = (client.open(CLIP, PROFILE).json()["id"] for _ in range(2))
    ffmpeg_running(client, first)
    leader = Player(client, first, PROFILE, SEGMENTS, ready_after=3)
    leader.start()
    assert leader.reading.wait(30), "the first viewer did not get going"
    follower = Player(client, second, PROFILE, SEGMENTS, ready_after=2)
    follower.start()
    assert follower.reading.wait(30), "the second viewer did not get going"
    assert client.fault(fault, first).ok

    for player in (follower.finish(90), leader.finish(90)):
        assert player.error is None, f"playback broke: {player.error} ({player.statuses})"
        assert sorted(player.segments) == list(SEGMENTS)
    assert decode_errors(follower.stream(), tmp_path) == "", "the second viewer's segments do not splice"
    state = client.state(second).json()
    assert state["shared"]["from_store"] > 0, "the second viewer was never served by the first's run"
    plays_normally(client, CLIP, PROFILE, tmp_path)
    for session in system.runtime.directory.ids():
        client.stop(session)
    assert_invariants(system, system.settings.work_dir, baseline)
    assert system.runtime.shared.counts() == (0, 0)
