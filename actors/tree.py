"""The live actor tree, as JSON-ready nested dicts and as an indented text tree.

``snapshot(root)`` asks every actor for ``Describe`` with a short timeout, so a stuck
actor never blocks the dump: it shows as ``unresponsive`` with its mailbox depth (read
without messaging it). Runs in the caller's thread (an HTTP thread, or the SIGUSR1 dump).
"""
from __future__ import annotations

from typing import Any

import pykka

from actors.messages import Describe

ASK_TIMEOUT = 0.5


def snapshot(ref: pykka.ActorRef[Any] | None, name: str = "root",
             timeout: float = ASK_TIMEOUT) -> dict[str, Any]:
    """One node per actor, children nested; the whole walk bounded by ``timeout`` per actor."""
    if ref is None:
        return {"name": name, "kind": "child", "state": "restarting", "children": []}
    try:
        node = dict(ref.ask(Describe(), timeout=timeout))
    except pykka.Timeout:
        return {"name": name, "kind": "actor", "state": "unresponsive",
                "mailbox": ref.actor_inbox.qsize(), "children": []}
    except pykka.ActorDeadError:
        return {"name": name, "kind": "actor", "state": "dead", "children": []}
    node["children"] = [snapshot(child, child_name, timeout) for child_name, child in node["children"]]
    return node


def render_text(node: dict[str, Any]) -> str:
    """The operator's text tree: one actor per line, children indented with box lines."""
    lines = [_line(node)]
    _render_children(node, "", lines)
    return "\n".join(lines)


def _render_children(node: dict[str, Any], indent: str, lines: list[str]) -> None:
    children = node.get("children", [])
    for index, child in enumerate(children):
        last = index == len(children) - 1
        lines.append(f"{indent}{'└─' if last else '├─'} {_line(child)}")
        _render_children(child, indent + ("   " if last else "│  "), lines)


def _line(node: dict[str, Any]) -> str:
    summary = _summary(node)
    if node.get("kind") == "session" and node.get("state") == "alive":
        return "  ".join(summary)  # "session 3f9c2a ..." names itself
    return "  ".join([node["name"], *summary])


def _summary(node: dict[str, Any]) -> list[str]:
    state = node.get("state", "?")
    if state != "alive":
        extra = [f"mailbox {node['mailbox']}"] if "mailbox" in node else []
        return [state, *extra]
    match node.get("kind"):
        case "supervisor":
            return _supervisor_summary(node)
        case "timers":
            return ["alive", f"pending {node['pending']}"]
        case "reaper":
            return _reaper_summary(node)
        case "session":
            return _session_summary(node)
        case "transcoder":
            return _transcoder_summary(node)
        case _:
            return ["alive", f"mailbox {node.get('mailbox', 0)}"]


def _supervisor_summary(node: dict[str, Any]) -> list[str]:
    if node["strategy"] == "dynamic":
        return ["supervisor dynamic", f"children {node['active']}"]
    return [f"supervisor {node['strategy']}",
            f"restarts {node['restarts']}/{node['intensity']} in {node['period']:g}s",
            f"up {human_duration(node['uptime'])}"]


def _reaper_summary(node: dict[str, Any]) -> list[str]:
    last = node.get("last_sweep_ago")
    swept = "never swept" if last is None else f"last sweep {human_duration(last)} ago"
    return ["alive", swept, f"reaped {node.get('reaped', 0)}"]


def _session_summary(node: dict[str, Any]) -> list[str]:
    return [f"session {node['session']}", node["media"], f"profile {node['profile']}",
            f"state {node['session_state']}",
            f"idle {node['idle']:.1f}s/{node['idle_timeout']:g}s", f"restarts {node['restarts']}"]


def _transcoder_summary(node: dict[str, Any]) -> list[str]:
    parts = [f"pid {node.get('pid') or '-'}", f"ffmpeg {node.get('ffmpeg', '?')}"]
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


def human_duration(seconds: float) -> str:
    """``4s``, ``12m05s``, ``2h03m``: compact, like an operator would write it."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
