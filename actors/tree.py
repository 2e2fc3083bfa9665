"""The shape of hlsd's actor tree, and how its actors read in the operator's text dump.

```
root (one_for_one, 5 restarts in 60 s)
├─ timers     the TimerService's thread
├─ reaper     start-up and periodic sweeps of orphaned FFmpeg and work dirs
├─ scanner    the library scan into the media index, one file at a time
└─ sessions   dynamic; one transient Session per playback
   └─ session ─ transcoders (the session's own supervisor) ─ transcoder
```
"""
from __future__ import annotations

from typing import Any

from actors.kernel import (
    ChildSpec,
    Strategy,
    Summary,
    Supervisor,
    SupervisorFlags,
    Timers,
    human_duration,
    render_text,
)
from actors.reaper import Reaper
from actors.runtime import Runtime
from actors.scanner import Scanner

ROOT_FLAGS = SupervisorFlags(Strategy.ONE_FOR_ONE, intensity=5, period=60.0)
# Sessions restart (transient) after a crash; many crashes at once restart the lot.
SESSIONS_FLAGS = SupervisorFlags(Strategy.DYNAMIC, intensity=20, period=10.0)
SESSIONS = "sessions"


def root_specs(runtime: Runtime) -> tuple[ChildSpec, ...]:
    grace = runtime.settings.kill_grace
    return (
        ChildSpec("timers", lambda link: Timers.start(link, runtime.timers)),
        ChildSpec("reaper", lambda link: Reaper.start(link, runtime),
                  shutdown=grace + 2),  # a sweep may be under way
        ChildSpec("scanner", lambda link: Scanner.start(link, runtime),
                  shutdown=35.0),  # one ffprobe or poster under way, bounded at 30 s
        ChildSpec(SESSIONS, lambda link: Supervisor.start(link, SESSIONS_FLAGS, timers=runtime.timers),
                  shutdown=grace + 10, kind="supervisor"),
    )


def tree_text(node: dict[str, Any]) -> str:
    return render_text(node, SUMMARIES)


def _reaper_summary(node: dict[str, Any]) -> list[str]:
    last = node.get("last_sweep_ago")
    swept = "never swept" if last is None else f"last sweep {human_duration(last)} ago"
    return [node["name"], "alive", swept, f"reaped {node.get('reaped', 0)}"]


def _session_summary(node: dict[str, Any]) -> list[str]:
    return [f"session {node['session']}", node["media"], f"profile {node['profile']}",
            f"state {node['session_state']}",
            f"idle {node['idle']:.1f}s/{node['idle_timeout']:g}s", f"restarts {node['restarts']}"]


def _transcoder_summary(node: dict[str, Any]) -> list[str]:
    parts = [node["name"], f"pid {node.get('pid') or '-'}", f"ffmpeg {node.get('ffmpeg', '?')}"]
    if node.get("cpu") is not None:
        parts.append(f"cpu {node['cpu']:.0f}%")
    if node.get("rss") is not None:
        parts.append(f"rss {node['rss'] / 2**20:.0f}MB")
    first, last, total = node.get("first_segment"), node.get("last_segment"), node.get("segments")
    if total is not None:
        ready = "none" if last is None else f"{first}..{last}"
        parts.append(f"segments {ready}/{total}")
    if node.get("speed"):
        parts.append(f"speed {node['speed']}")
    return parts


def _scanner_summary(node: dict[str, Any]) -> list[str]:
    return [node["name"], "alive", f"passes {node.get('passes', 0)}",
            f"files {node.get('done', 0)}/{node.get('total', 0)}"]


SUMMARIES: dict[str, Summary] = {"reaper": _reaper_summary, "scanner": _scanner_summary,
                                 "session": _session_summary,
                                 "transcoder": _transcoder_summary}
