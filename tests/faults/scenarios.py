"""The shape every in-process scenario shares: start hlsd, take its baseline, open a session
whose FFmpeg runs, play it (or not), and at the end prove recovery and the invariants."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from actors import tokens
from actors.system import HlsSystem
from tests.faults.invariants import Baseline, assert_invariants, take_baseline
from tests.faults.players import InProcessClient, Player, ffmpeg_running, plays_normally

CLIP, PROFILE = "clip.mp4", "180p"
SEGMENTS = range(14)  # 14 of the clip's 30 segments: the fault, the recovery, then more
CONDITIONS = ["playing", "idle"]


class Scenario:
    """hlsd, its baseline, a client, a session whose FFmpeg runs, and a player of it that is
    reading already (``condition`` "playing") or will start when the test says ("idle")."""

    def __init__(self, start_hlsd: Callable[..., HlsSystem], condition: str, **overrides: Any) -> None:
        self.system = start_hlsd(**overrides)
        self.settings = self.system.settings
        self.baseline: Baseline = take_baseline(self.system)
        self.client = InProcessClient(self.system)
        self.session = self.client.open(CLIP, PROFILE).json()["id"]
        self.pid = ffmpeg_running(self.client, self.session)
        self.player = Player(self.client, self.session, PROFILE, SEGMENTS, ready_after=4)
        if condition == "playing":
            self.player.start()
            assert self.player.reading.wait(30), "the player did not get going"

    def session_dir(self) -> Path:
        return self.settings.work_dir / self.settings.instance / tokens.short_id(self.session)

    def play(self, timeout: float = 60) -> Player:
        """Start the player if it waited (idle), and wait for it to end."""
        if self.player.ident is None:
            self.player.start()
        return self.player.finish(timeout)

    def finish_cleanly(self, work: Path) -> None:
        """After recovery: a new session plays, every session stops, the invariants hold."""
        plays_normally(self.client, CLIP, PROFILE, work)
        for session in self.system.runtime.directory.ids():
            self.client.stop(session)
        assert_invariants(self.system, self.settings.work_dir, self.baseline)
