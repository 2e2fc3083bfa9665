"""The values of a run (``actors.run``): reach, restart, pacing, the policies of each kind,
the switch hold and the board the web threads read."""
from __future__ import annotations

import pytest

from actors.kernel import Restart
from actors.media import RenditionKey, RunKind
from actors.run import POLICIES, REACH_AHEAD, SWITCH_HOLD, ReadyBoard, Run, SwitchHold

COPY, P360 = RenditionKey.video("copy"), RenditionKey.video("360p")
AUDIO = RenditionKey.audio(1)
SUBS = RenditionKey.subtitles(4)


def test_every_kind_has_a_policy_and_only_subtitles_are_whole_and_not_restarted():
    assert set(POLICIES) == set(RunKind)
    assert [k for k, p in POLICIES.items() if p.whole] == [RunKind.SUBTITLES]
    assert POLICIES[RunKind.SUBTITLES].restart is Restart.TEMPORARY
    assert {POLICIES[k].restart for k in (RunKind.VIDEO, RunKind.AUDIO)} == {Restart.TRANSIENT}
    assert [k for k, p in POLICIES.items() if p.held] == [RunKind.VIDEO]


def test_a_run_reaches_a_few_segments_past_the_one_being_written():
    run = Run("r-1", "video-copy-1", COPY, start=10)
    assert run.next == 10
    assert not run.reaches_soon(9)  # behind its start: a seek
    assert run.reaches_soon(10) and run.reaches_soon(10 + REACH_AHEAD)
    assert not run.reaches_soon(11 + REACH_AHEAD)
    run.next = 20
    assert run.reaches_soon(20 + REACH_AHEAD)
    run.finished = True
    assert not run.reaches_soon(20)


def test_a_restarted_run_keeps_its_first_id_and_forgets_its_segments():
    run = Run("s-1", "video-copy-1", COPY, start=0)
    run.ready, run.next, run.suspended, run.pid = {0: "/w/0.ts"}, 5, True, 42
    run.restart(f"{run.first_id}r1", 3)
    assert (run.id, run.first_id, run.start, run.next) == ("s-1r1", "s-1", 3, 3)
    assert (run.ready, run.suspended, run.pid, run.finished) == ({}, False, None, False)


@pytest.mark.parametrize("suspended, ahead, waiting, expected", [
    (False, 9, False, True),    # far ahead, nobody waits: suspend
    (False, 8, False, None),    # at the bound: leave it
    (False, 20, True, None),    # someone waits for it: never suspend
    (True, 20, True, False),    # suspended and waited for: resume
    (True, 4, False, False),    # the player came within half the bound: resume
    (True, 5, False, None),     # not yet
])
def test_pacing(suspended, ahead, waiting, expected):
    run = Run("r", "c", COPY, start=0, next=10 + ahead, suspended=suspended)
    assert run.should_suspend(10, waiting, 8) is expected


def test_subtitle_runs_are_never_paced_and_finished_runs_are_left_alone():
    assert Run("r", "c", SUBS, start=0, next=100).should_suspend(0, False, 8) is None
    done = Run("r", "c", AUDIO, start=0, next=100, finished=True)
    assert done.should_suspend(0, False, 8) is None


def test_the_hold_bounds_a_switch_to_another_rendition(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("actors.run.time.monotonic", lambda: now[0])
    hold = SwitchHold(since=now[0])
    assert hold.left("copy", None) == 0.0  # nothing runs: no hold
    assert hold.left("copy", "copy") == 0.0  # the same rendition: no hold
    now[0] += 0.5
    assert hold.left("360p", "copy") == pytest.approx(SWITCH_HOLD - 0.5)
    assert hold.wanted == "360p"
    now[0] += SWITCH_HOLD
    assert hold.left("360p", "copy") == 0.0
    hold.started()
    assert hold.left("copy", "360p") == pytest.approx(SWITCH_HOLD)


def test_the_board_shows_a_copy_of_what_the_session_last_showed():
    board, run = ReadyBoard(), Run("r-1", "video-copy-1", COPY, 0)
    audio = Run("r-a1", "audio-1-2", AUDIO, 0)
    run.ready[0], audio.ready[0] = "/work/r-1/0.ts", "/work/r-a1/0.ts"
    assert board.path(COPY, 0) is None
    board.show({COPY: run, AUDIO: audio})
    assert board.path(COPY, 0) == "/work/r-1/0.ts"
    assert board.path(AUDIO, 0) == "/work/r-a1/0.ts"  # every run's segments, each by its key
    assert board.path(P360, 0) is None and board.path(COPY, 1) is None
    run.ready[1] = "/work/r-1/1.ts"  # the session's own state: not on the board until shown
    assert board.path(COPY, 1) is None
    board.show({COPY: run})
    assert board.path(COPY, 1) == "/work/r-1/1.ts" and board.path(AUDIO, 0) is None
    run.restart("r-1r1", 1)  # a crashed transcoder's segments are gone
    board.show({COPY: run})
    assert board.path(COPY, 0) is None and board.path(COPY, 1) is None
    board.show({})
    assert board.path(COPY, 0) is None


def test_a_rendition_key_says_what_it_is_in_a_persons_words():
    assert COPY.describe() == "video copy"
    assert AUDIO.describe() == "audio track 1" and AUDIO.track == 1
    assert SUBS.describe() == "subtitle track 4"
    assert RenditionKey.audio("1") == AUDIO and hash(RenditionKey.audio(1)) == hash(AUDIO)
