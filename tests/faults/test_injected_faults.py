"""The faults of SPEC.md's "Faults that can be injected", through ``HlsSystem.inject_fault``
as ``POST /api/v1/faults`` does: each while a client plays and while the session is idle.

FFmpeg is real (``ffmpeg-faulty`` paces it at 4x real time, so it is still at work when
the fault hits). Every scenario ends with a new session that plays and the invariants.
"""
from __future__ import annotations

import pykka
import pytest

from actors.errors import Unavailable
from actors.kernel import Crash
from actors.messages import RequestSegment, StopSession
from actors.media import RenditionKey
from tests.faults.invariants import session_nodes
from tests.faults.players import (
    answer_bound,
    decode_errors,
    ffmpeg_running,
    gone,
    restarted,
    session_state,
    wait_for,
)
from tests.faults.scenarios import CLIP, CONDITIONS, PROFILE, SEGMENTS, Scenario

pytestmark = pytest.mark.timeout(120)

STALL = 2.0


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize("fault", ["kill_ffmpeg", "term_ffmpeg", "stop_ffmpeg", "crash_transcoder"])
def test_the_transcoder_is_restarted_and_playback_goes_on(start_hlsd, tmp_path, fault, condition):
    scenario = Scenario(start_hlsd, condition, stall_timeout=STALL)
    client, session, settings = scenario.client, scenario.session, scenario.settings
    assert client.fault(fault, session).ok
    restarted(client, session, scenario.pid, timeout=STALL + settings.kill_grace + 5)
    player = scenario.play()

    assert player.error is None, f"playback broke: {player.error} ({player.statuses})"
    assert sorted(player.segments) == list(SEGMENTS)
    assert player.longest <= answer_bound(settings.segment_wait)
    assert decode_errors(player.stream(), tmp_path) == "", "the restarted run does not splice"
    scenario.finish_cleanly(tmp_path)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_a_crashed_session_is_restarted_and_playback_goes_on(start_hlsd, tmp_path, condition):
    scenario = Scenario(start_hlsd, condition)
    directory = scenario.system.runtime.directory
    crashed = directory.lookup(scenario.session)
    assert scenario.client.fault("crash_session", scenario.session).ok
    wait_for(lambda: directory.lookup(scenario.session) not in (None, crashed), 10, "the session restarted")
    player = scenario.play()

    assert player.error is None, f"playback broke: {player.error} ({player.statuses})"
    assert sorted(player.segments) == list(SEGMENTS)
    assert decode_errors(player.stream(), tmp_path) == ""
    scenario.finish_cleanly(tmp_path)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_a_crashed_sessions_supervisor_ends_every_session_with_a_clear_error(start_hlsd, tmp_path,
                                                                            condition):
    scenario = Scenario(start_hlsd, condition)
    client, system = scenario.client, scenario.system
    other = client.open("tiny.mp4", "copy").json()["id"]
    assert client.fault("crash_supervisor").ok

    gone(client, scenario.session, timeout=scenario.settings.kill_grace + 10)
    gone(client, other, timeout=1)
    # Every session ended; its player, told to retry (503), resumes it from its token
    # (SPEC "Sessions that survive restarts"): no error, every segment, and they splice.
    player = scenario.play(30)
    assert player.error is None, f"playback broke: {player.error} ({player.statuses})"
    assert sorted(player.segments) == list(SEGMENTS)
    assert decode_errors(player.stream(), tmp_path) == ""
    wait_for(lambda: system.operators.tree()["total_restarts"] == 1, 5, "the root restarted the sessions supervisor")
    scenario.finish_cleanly(tmp_path)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_a_crashed_transcoders_supervisor_is_restarted_by_its_session(start_hlsd, tmp_path, condition):
    scenario = Scenario(start_hlsd, condition)
    client, session = scenario.client, scenario.session
    other = client.open("tiny.mp4", "copy").json()["id"]
    assert client.fault("crash_supervisor", session).ok

    player = scenario.play()
    assert player.error is None, player.error
    assert sorted(player.segments) == list(SEGMENTS)
    assert session_state(client, session)["restarts"] == 1
    assert session_state(client, other) is not None, "another session was hurt"
    assert scenario.system.operators.tree()["total_restarts"] == 0
    scenario.finish_cleanly(tmp_path)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_beyond_the_restart_intensity_the_session_ends_and_its_client_gets_an_error(start_hlsd, tmp_path,
                                                                                  condition):
    scenario = Scenario(start_hlsd, condition, restart_intensity="2/30")
    client, session, settings = scenario.client, scenario.session, scenario.settings
    pid = scenario.pid
    for _ in range(2):
        assert client.fault("kill_ffmpeg", session).ok
        restarted(client, session, pid, timeout=10)
        pid = ffmpeg_running(client, session)
    assert client.fault("kill_ffmpeg", session).ok  # the third crash within 30 s: too many

    gone(client, session, timeout=settings.kill_grace + 5)
    player = scenario.play(settings.segment_wait + 5)
    if condition == "playing":  # it was waiting when the session gave up: a clear error
        assert player.error is not None and player.error.clear_error, player.error
        assert player.error.status in (404, 502)
        assert not session_nodes(scenario.system.operators.tree())
    else:  # it came after the session ended: its token starts a new life, which plays
        assert player.error is None, f"playback broke: {player.error} ({player.statuses})"
        assert sorted(player.segments) == list(SEGMENTS)
        assert len(session_nodes(scenario.system.operators.tree())) == 1  # one new life, from the token
    assert player.longest <= answer_bound(settings.segment_wait)
    scenario.finish_cleanly(tmp_path)


def test_requests_queued_behind_a_crash_are_answered_at_once(start_hlsd, tmp_path):
    """A request already in a crashing session's mailbox is answered (503: retry), rather
    than left to wait out ``segment_wait``; a stop queued there still gets its reply."""
    scenario = Scenario(start_hlsd, "idle")
    ref = scenario.system.runtime.directory.lookup(scenario.session)
    request, stop = pykka.ThreadingFuture(), pykka.ThreadingFuture()
    ref.tell(Crash("injected crash_session"))
    ref.tell(RequestSegment(RenditionKey.video(PROFILE), 20, request))
    ref.tell(StopSession("client", stop))

    with pytest.raises(Unavailable):
        request.get(timeout=2)
    assert stop.get(timeout=2) is None
    scenario.finish_cleanly(tmp_path)


def test_a_stop_under_a_restarting_sessions_supervisor_never_answers_503(start_hlsd, tmp_path):
    """`make chaos` once saw "stop answered 503": a DELETE that met crash_supervisor's
    restart. A beacon is never retried: a stop waits for the restart (bounded) or finds
    the session not running, and either way is done."""
    scenario = Scenario(start_hlsd, "idle")
    client = scenario.client
    sessions = [scenario.session, *(client.open(CLIP, PROFILE).json()["id"] for _ in range(3))]
    assert client.fault("crash_supervisor").ok
    answers = [client.stop(session) for session in sessions]
    assert [answer.status for answer in answers] == [200] * len(sessions), answers
    assert all(answer.elapsed <= scenario.settings.kill_grace + 5.5 for answer in answers), answers
    for session in sessions:
        gone(client, session, timeout=1)
    wait_for(lambda: scenario.system.operators.tree()["total_restarts"] == 1, 5, "the root restarted the sessions supervisor")
    scenario.finish_cleanly(tmp_path)
