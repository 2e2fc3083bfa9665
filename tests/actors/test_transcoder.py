"""The transcoder owns exactly one FFmpeg run: real FFmpeg, and fakes that misbehave."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors import ffmpeg
from actors.kernel import Link
from actors.kernel import Crash, StartChild
from actors.messages import (Begin, FfmpegStarted, RunFinished, SegmentReady, StopRun, Suspend,
                             Resume, TranscoderReady, SignalFfmpeg)
from actors.kernel import ChildSpec, Restart, Strategy, Supervisor, SupervisorFlags
from actors.media import Plan
from actors.transcoder import Transcoder
from actors import media
from actors.media import RenditionKey
from tests.helpers.kernel import Collector, Journal, eventually, wait_dead
from tests.helpers.media import make_clip
from tests.helpers.runtime import FAKES, leftover_runs, running_runtime, tagged_pids

pytestmark = pytest.mark.timeout(60)


class Owner(pykka.ThreadingActor):
    """Plays the session's side of the protocol: answers TranscoderReady with Begin."""

    def __init__(self, journal: Journal, profile: str, start: int) -> None:
        super().__init__()
        self.journal, self.profile, self.start = journal, profile, start
        self.runs = 0

    def on_receive(self, message: Any) -> Any:
        match message:
            case TranscoderReady(child_id=child_id, ref=ref):
                self.runs += 1
                ref.tell(Begin(f"run{self.runs}", RenditionKey.video(self.profile), self.start))
                self.journal.add("ready", child_id)
            case FfmpegStarted(run=run, pid=pid):
                self.journal.add("pid", run, pid)
            case SegmentReady(run=run, number=number, path=path):
                self.journal.add("segment", number, run, Path(path).stat().st_size)
            case RunFinished(run=run):
                self.journal.add("finished", run)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    make_clip(root / "clip.mp4", 12, width=640, height=360, fps=25)
    return root


def plan_for(runtime, root: Path, profile: str = "360p") -> Plan:
    path = root / "clip.mp4"
    info = runtime.prober.probe(path, keyframes=True)
    return media.make_plan("clip.mp4", info, runtime.settings.profiles,
                           runtime.settings.segment_seconds, profile)


PROFILES = "\n copy copy\n 360p 360 600k 64k"


@pytest.fixture
def world(clip, tmp_path):
    """A runtime, an owner and a transcoder supervisor (transient, 2 restarts in 10 s)."""
    work = tmp_path / "work"
    journal = Journal()
    made = []

    def build(profile: str = "360p", start: int = 0, **overrides: Any):
        overrides.setdefault("profiles", PROFILES)
        runtime_cm = running_runtime(clip, work, **overrides)
        runtime = runtime_cm.__enter__()
        plan = plan_for(runtime, clip, profile)
        owner = Owner.start(journal, profile, start)
        parent = Collector.start(journal)
        sup = Supervisor.start(Link(parent, "transcoders"),
                               SupervisorFlags(Strategy.DYNAMIC, intensity=2, period=10),
                               timers=runtime.timers)
        spec = ChildSpec("transcoder", lambda link: Transcoder.start(link, runtime, "s1", owner, plan),
                         restart=Restart.TRANSIENT, shutdown=runtime.settings.kill_grace + 2)
        transcoder = sup.ask(StartChild(spec))
        made.append((runtime_cm, sup, owner, parent))
        return runtime, sup, transcoder

    yield build, journal, work
    for runtime_cm, sup, owner, parent in made:
        sup.stop()
        owner.stop()
        parent.stop()
        runtime_cm.__exit__(None, None, None)
    assert tagged_pids(work) == [], "an FFmpeg outlived its transcoder"
    assert leftover_runs(work) == [], "a run dir outlived its transcoder"


def pids(journal):
    return [e[2] for e in journal.events if e[0] == "pid"]


def test_real_ffmpeg_announces_whole_segments_in_order_and_stops_cleanly(world):
    build, journal, work = world
    runtime, sup, transcoder = build("360p")
    journal.wait_for(lambda events: len([e for e in events if e[0] == "segment"]) >= 2, timeout=30)
    pid = pids(journal)[0]
    assert ffmpeg.ENV_INSTANCE in __import__("psutil").Process(pid).environ()
    transcoder.tell(StopRun())
    wait_dead(transcoder)
    eventually(lambda: tagged_pids(work) == [])
    segments = [e[1] for e in journal.events if e[0] == "segment"]
    assert segments == list(range(len(segments)))
    assert all(e[3] > 0 for e in journal.events if e[0] == "segment")
    eventually(lambda: leftover_runs(work) == [])


def ignores_sigterm(pid: int) -> bool:
    """Whether the process has set SIGTERM to ignored yet (SigIgn in /proc/PID/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
    return bool(mask & (1 << (15 - 1)))


def test_natural_end_announces_every_segment_and_keeps_the_dir_until_stopped(world):
    build, journal, work = world
    runtime, sup, transcoder = build("copy")
    journal.wait_for(lambda events: any(e[0] == "finished" for e in events), timeout=30)
    total = len(runtime and plan_for(runtime, runtime.settings.media_root, "copy").boundaries["copy"]) - 1
    assert [e[1] for e in journal.events if e[0] == "segment"] == list(range(total))
    assert len(leftover_runs(work)) == 1, "a finished run keeps its segments while its actor lives"
    assert tagged_pids(work) == []
    transcoder.tell(StopRun())
    wait_dead(transcoder)
    eventually(lambda: leftover_runs(work) == [])


def test_ffmpeg_killed_with_sigkill_is_restarted_by_the_supervisor(world):
    build, journal, work = world
    runtime, sup, transcoder = build("360p")
    journal.wait_for(lambda events: any(e[0] == "pid" for e in events), timeout=10)
    first = pids(journal)[0]
    transcoder.ask(SignalFfmpeg(9))
    journal.wait_for(lambda events: len([e for e in events if e[0] == "pid"]) == 2, timeout=10)
    assert pids(journal)[1] != first
    assert journal.count("ready") == 2
    eventually(lambda: first not in tagged_pids(work))


def test_crash_loop_exceeds_intensity_and_the_supervisor_gives_up_cleanly(world):
    build, journal, work = world
    runtime, sup, transcoder = build("360p", ffmpeg=str(FAKES / "ffmpeg-failing-at-start"))
    wait_dead(sup, timeout=15)
    journal.wait_for(lambda events: any(e[:3] == ("exited", "transcoders", "gave_up") for e in events))
    assert journal.count("ready") == 3, "started once and restarted twice (intensity 2)"
    eventually(lambda: tagged_pids(work) == [] and leftover_runs(work) == [])


def test_fake_ffmpeg_ignoring_sigterm_is_killed_right_after_kill_grace(world):
    build, journal, work = world
    runtime, sup, transcoder = build("360p", ffmpeg=str(FAKES / "ffmpeg-ignoring-sigterm"),
                                     kill_grace=0.5)
    journal.wait_for(lambda events: any(e[0] == "pid" for e in events), timeout=10)
    eventually(lambda: ignores_sigterm(pids(journal)[0]))
    began = time.monotonic()
    transcoder.stop(block=True, timeout=5)
    elapsed = time.monotonic() - began
    assert tagged_pids(work) == []
    assert 0.5 <= elapsed < 0.6 + 0.5, f"stopped after {elapsed:.3f} s"


def test_fake_ffmpeg_hanging_at_start_is_a_stall_and_is_restarted(world):
    build, journal, work = world
    runtime, sup, transcoder = build("360p", ffmpeg=str(FAKES / "ffmpeg-hanging"),
                                     stall_timeout=0.5)
    journal.wait_for(lambda events: len([e for e in events if e[0] == "pid"]) >= 2, timeout=10)
    assert pids(journal)[0] not in tagged_pids(work)


def test_a_suspended_ffmpeg_is_not_a_stall(world):
    build, journal, work = world
    # FFmpeg reports progress every 0.5 s: 2 s without one is a stall, even under load
    runtime, sup, transcoder = build("360p", stall_timeout=2.0)
    journal.wait_for(lambda events: any(e[0] == "segment" for e in events), timeout=20)
    transcoder.tell(Suspend())
    threading.Event().wait(3.0)
    assert journal.count("ready") == 1, "a deliberate pause was taken for a stall"
    transcoder.tell(Resume())
    journal.wait_for(lambda events: any(e[0] == "finished" for e in events), timeout=30)


def test_a_crash_inside_the_transcoder_takes_ffmpeg_and_the_dir_with_it(world):
    build, journal, work = world
    runtime, sup, transcoder = build("360p", ffmpeg=str(FAKES / "ffmpeg-hanging"))
    journal.wait_for(lambda events: any(e[0] == "pid" for e in events), timeout=10)
    first = pids(journal)[0]
    transcoder.tell(Crash())
    wait_dead(transcoder)
    eventually(lambda: first not in tagged_pids(work))
    journal.wait_for(lambda events: journal.count("ready") == 2)
