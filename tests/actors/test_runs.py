"""The one life of every run (``actors.runs.Runs``), driven message by message as the
session drives it: a recording host stands for the session (its timers and its
supervisor), recording actors for the transcoders. The plan is a real one, of a real
film probed by ffprobe; the runs' FFmpeg is not started (the session and transcoder tests
run it)."""
from __future__ import annotations

import queue
from pathlib import Path
from typing import Any, Hashable, Iterator

import pykka
import pytest

from actors import media
from actors.errors import NotFound, Unavailable, Unplayable
from actors.kernel import ChildSpec, Restart
from actors.media import RenditionKey
from actors.messages import Begin, Resume, SegmentWait, StopRun, Suspend, Timer
from actors.run import SessionState
from actors.runs import Runs
from actors.runtime import Runtime
from tests.helpers.settings import settings_for
from tests.helpers.track_clips import film_plan

V240, COPY = RenditionKey.video("240p"), RenditionKey.video("copy")
AUDIO1, AUDIO2, SUBS = RenditionKey.audio(1), RenditionKey.audio(2), RenditionKey.subtitles(4)


class Host:
    """The session's face: what was armed and which children were asked for."""

    def __init__(self) -> None:
        self.armed: dict[Hashable, float] = {}
        self.specs: list[ChildSpec] = []

    def arm(self, name: Hashable, delay: float) -> None:
        self.armed[name] = delay

    def disarm(self, name: Hashable) -> None:
        self.armed.pop(name, None)

    def start_child(self, spec: ChildSpec) -> None:
        self.specs.append(spec)


class Recorder(pykka.ThreadingActor):
    def __init__(self, inbox: queue.Queue[Any]) -> None:
        super().__init__()
        self.inbox = inbox

    def on_receive(self, message: Any) -> None:
        self.inbox.put(message)


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> media.Plan:
    return film_plan(tmp_path_factory.mktemp("runs"), "\n240p 240 400k 96k\ncopy copy")


@pytest.fixture
def runs(plan: media.Plan, tmp_path: Path) -> Iterator[tuple[Runs, Host, list[pykka.ActorRef[Any]]]]:
    runtime = Runtime.build(settings_for(tmp_path, tmp_path / "work", pause_ahead=4))
    host, refs = Host(), []
    owner = Recorder.start(queue.Queue())
    refs.append(owner)
    try:
        yield Runs(host, runtime, plan, "s1", owner, prefix="s1-x"), host, refs
    finally:
        for ref in refs:
            ref.stop()
        runtime.index.close()


def transcoder(refs: list[pykka.ActorRef[Any]]) -> tuple[pykka.ActorRef[Any], queue.Queue[Any]]:
    inbox: queue.Queue[Any] = queue.Queue()
    ref = Recorder.start(inbox)
    refs.append(ref)
    return ref, inbox


def ask(runs: Runs, key: RenditionKey, number: int) -> pykka.ThreadingFuture[Any]:
    reply: pykka.ThreadingFuture[Any] = pykka.ThreadingFuture()
    runs.request(key, number, reply)
    return reply


def pending(reply: pykka.ThreadingFuture[Any]) -> bool:
    try:
        reply.get(timeout=0)
    except pykka.Timeout:
        return True
    return False


def begun(runs: Runs, refs, key: RenditionKey) -> tuple[Any, queue.Queue[Any], Begin]:
    """The transcoder of ``key``'s run is ready: it is told where to begin."""
    ref, inbox = transcoder(refs)
    runs.transcoder_ready(runs.runs[key].child_id, ref)
    return ref, inbox, inbox.get(timeout=2)


def test_a_request_starts_a_run_whose_segment_answers_it(runs, tmp_path):
    runs, host, refs = runs
    reply = ask(runs, V240, 0)
    assert [spec.restart for spec in host.specs] == [Restart.TRANSIENT]
    assert runs.machine.state is SessionState.STARTING and SegmentWait(V240, 0) in host.armed
    _, _, begin = begun(runs, refs, V240)
    assert begin == Begin(runs.runs[V240].id, V240, 0) and begin.run == "s1-x-1"
    assert runs.machine.state is SessionState.PLAYING
    (tmp_path / "0.ts").write_bytes(b"segment zero")
    runs.segment_ready(begin.run, 0, str(tmp_path / "0.ts"))
    with reply.get(timeout=1) as opened:
        assert opened.read() == b"segment zero"
    assert SegmentWait(V240, 0) not in host.armed
    assert runs.board.path(V240, 0) == str(tmp_path / "0.ts")
    assert len(host.specs) == 1  # a near segment waits for the run, a made one is answered
    ask(runs, V240, 2)
    assert len(host.specs) == 1


def test_a_far_request_is_a_seek_and_the_old_run_stops(runs):
    runs, host, refs = runs
    near = ask(runs, V240, 0)
    _, inbox, _ = begun(runs, refs, V240)
    far = ask(runs, V240, 10)
    assert len(host.specs) == 2 and runs.runs[V240].start == 10
    assert inbox.get(timeout=2) == StopRun()
    with pytest.raises(Unavailable, match="moved elsewhere"):
        near.get(timeout=1)
    assert pending(far)
    assert runs.counts[media.RunKind.VIDEO] == 2 and runs.runs[V240].id == "s1-x-2"


def test_one_audio_track_at_a_time_beside_the_video(runs):
    runs, host, refs = runs
    ask(runs, V240, 0)
    ask(runs, AUDIO1, 0)
    _, inbox, begin = begun(runs, refs, AUDIO1)
    assert begin.key == AUDIO1 and begin.run == "s1-x-a1"
    ask(runs, AUDIO2, 0)  # a language switch ends the other track's run, not the video's
    assert inbox.get(timeout=2) == StopRun()
    assert set(runs.runs) == {V240, AUDIO2}
    assert set(runs.json()["track_runs"]) == {"audio:2"}


def test_a_subtitle_track_is_made_once_and_cut_per_segment(runs, plan, tmp_path):
    runs, host, refs = runs
    first, later = ask(runs, SUBS, 0), ask(runs, SUBS, 3)
    assert len(host.specs) == 1 and host.specs[0].restart is Restart.TEMPORARY
    _, inbox, begin = begun(runs, refs, SUBS)
    assert begin.start_segment == 0
    vtt = tmp_path / "track.vtt"
    vtt.write_text("WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHello\n\n"
                   "00:00:06.500 --> 00:00:07.000\nLater\n", encoding="utf-8")
    runs.segment_ready(begin.run, 0, str(vtt))
    assert "Hello" in first.get(timeout=1) and "Later" in later.get(timeout=1)
    assert inbox.get(timeout=2) == StopRun() and SUBS not in runs.runs  # its work is done
    assert "Later" in ask(runs, SUBS, 3).get(timeout=1)  # from memory, no new run
    assert len(host.specs) == 1


def test_a_run_that_fails_for_good_answers_now_and_later_without_a_new_run(runs, caplog):
    runs, host, refs = runs
    waiting = ask(runs, SUBS, 1)
    _, _, begin = begun(runs, refs, SUBS)
    runs.finished(begin.run, "ffmpeg exited with status 1: /private/path/film.mkv: damaged")
    with pytest.raises(Unplayable) as failed:
        waiting.get(timeout=1)
    assert failed.value.detail == "subtitle track 4 could not be prepared"
    assert failed.value.code == "rendition_failed" and failed.value.ref
    assert "/private" not in failed.value.detail
    assert any(failed.value.ref in r.getMessage() and "/private/path" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(Unplayable):
        ask(runs, SUBS, 2).get(timeout=1)
    assert len(host.specs) == 1 and SegmentWait(SUBS, 1) not in host.armed


def test_refused_before_any_run(runs):
    runs, host, _ = runs
    for key, number in ((RenditionKey.video("1080p"), 0), (V240, 10_000), (RenditionKey.audio(9), 0)):
        with pytest.raises(NotFound):
            ask(runs, key, number).get(timeout=1)
    assert host.specs == []


def test_pacing_suspends_a_run_far_ahead_and_resumes_it_as_the_player_nears(runs, tmp_path):
    runs, _, refs = runs
    ask(runs, V240, 0)
    _, inbox, begin = begun(runs, refs, V240)
    for n in range(7):  # pause_ahead 4: the run is 7 ahead of a player at 0
        (tmp_path / f"{n}.ts").write_bytes(b"x")
        runs.segment_ready(begin.run, n, str(tmp_path / f"{n}.ts"))
    assert inbox.get(timeout=2) == Suspend()
    runs.served(5)
    assert inbox.get(timeout=2) == Resume()


def test_a_restarted_transcoder_begins_where_the_player_waits(runs, tmp_path):
    runs, _, refs = runs
    ask(runs, V240, 0)
    _, _, begin = begun(runs, refs, V240)
    (tmp_path / "0.ts").write_bytes(b"x")
    runs.segment_ready(begin.run, 0, str(tmp_path / "0.ts"))
    ask(runs, V240, 2)
    _, _, again = begun(runs, refs, V240)  # the same child, ready again: its supervisor restarted it
    assert (again.run, again.start_segment, runs.restarts) == ("s1-x-1r1", 2, 1)
    assert runs.board.path(V240, 0) is None  # the crashed run's segments are not served


def test_after_the_supervisor_restarts_the_same_runs_start_again(runs):
    runs, host, refs = runs
    ask(runs, V240, 3)
    ask(runs, AUDIO1, 3)
    runs.restart_all()
    assert [spec.id.split("-")[0] for spec in host.specs] == ["video", "audio", "video", "audio"]
    assert {k: r.start for k, r in runs.runs.items()} == {V240: 3, AUDIO1: 3}
    assert runs.restarts == 1


def test_a_quality_switch_waits_out_the_hold_then_the_last_asked_wins(runs):
    runs, host, refs = runs
    ask(runs, V240, 0)
    begun(runs, refs, V240)
    held = ask(runs, COPY, 1)  # just after the 240p run started: held
    assert len(host.specs) == 1 and Timer.SWITCH in host.armed and pending(held)
    runs.switch_due()
    assert len(host.specs) == 2 and COPY in runs.runs and V240 not in runs.runs
    assert pending(held)  # it waits for the copy run now
