"""What a session tells operators: the tree dump's facts and children, the session JSON,
and fault injection (``hls.faults_enabled``).

``SessionReport`` is a part of ``Session`` (a mixin: it reads the session's state in the
session's own thread and changes nothing but what an injected fault does).
"""
from __future__ import annotations

import time
from typing import Any

import pykka

from actors import media
from actors.faults import FFMPEG_SIGNALS
from actors.kernel import Crash, tell_if_alive
from actors.messages import SignalFfmpeg


class SessionReport:
    """See the module docstring. Needs the session's ``run``, ``plan``, ``machine``,
    ``transcoders``, ``settings`` and the track runs' ``_side_children``/``_side_json``."""


    def _inject(self, fault: str) -> dict[str, Any]:
        run = self.run
        if fault == "crash_session":
            self.actor_ref.tell(Crash("injected crash_session"))
            return {"target": f"session {self.short}", "did": "raised an exception inside the session"}
        if fault == "crash_supervisor" and self.transcoders is not None:
            self.transcoders.tell(Crash("injected crash_supervisor"))
            return {"target": f"session {self.short} transcoders supervisor", "did": "raised an exception inside it"}
        if run is None or run.ref is None:
            return {"target": f"session {self.short}", "did": "nothing: no transcoder running"}
        if fault == "crash_transcoder":
            tell_if_alive(run.ref, Crash("injected crash_transcoder"))
            return {"target": run.child_id, "did": "raised an exception inside the transcoder"}
        return run.ref.ask(SignalFfmpeg(FFMPEG_SIGNALS[fault]), timeout=2)

    def children(self) -> list[tuple[str, pykka.ActorRef[Any] | None]]:
        video = [("transcoder", self.run.ref)] if self.run is not None else []
        return video + self._side_children()

    def facts(self) -> dict[str, Any]:
        return {"session": self.short, "media": self.plan.media_id, "profile": self.plan.profile
                if self.run is None else self.run.profile, "session_state": self.machine.state.value,
                "idle": round(time.monotonic() - self.last_activity, 1),
                "idle_timeout": self.settings.idle_timeout, "restarts": self.restarts}

    def state_json(self) -> dict[str, Any]:
        run = self.run
        profile = run.profile if run else self.plan.profile
        return {
            "id": self.id,
            "media": self.plan.media_id,
            "profile": profile,
            "profiles": list(self.plan.names),
            "state": self.machine.state.value,
            "created": self.created,
            "last_activity": time.time() - (time.monotonic() - self.last_activity),
            "idle": round(time.monotonic() - self.last_activity, 3),
            "transcoder_pid": run.pid if run else None,
            "run": run.id if run else None,
            "video_runs": self.runs_started,
            "segments_ready": sorted(run.ready) if run else [],
            "segments": {name: len(b) - 1 for name, b in self.plan.boundaries.items()},
            "position": self.position,
            "paused": self.paused,
            "restarts": self.restarts,
            "audio": media.audio_json(self.plan.tracks) if self.plan.tracks else [],
            "subtitles": media.subtitle_json(self.plan.tracks) if self.plan.tracks else [],
            "burn": self.plan.burn.index if self.plan.burn else None,
            "track_runs": self._side_json(),
        }
