"""The live actor tree, as JSON-ready nested dicts and as an indented text tree.

``snapshot(root)`` asks every actor for ``Describe`` with a short timeout, so a stuck
actor never blocks the dump: it shows as ``unresponsive`` with its mailbox depth (read
without messaging it). Runs in the caller's thread (an HTTP thread, or the SIGUSR1 dump).

``render_text(node, summaries)`` knows the kernel's kinds (supervisors, timers); an
application passes a ``summaries`` map for its own kinds: ``kind -> node -> words`` of
the actor's line (the name first, where the words do not name the actor themselves).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import pykka

from actors.kernel.messages import Describe

Summary = Callable[[dict[str, Any]], list[str]]

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


def render_text(node: dict[str, Any], summaries: Mapping[str, Summary] | None = None) -> str:
    """The operator's text tree: one actor per line, children indented with box lines."""
    kinds = {**KERNEL_SUMMARIES, **(summaries or {})}
    lines = [_line(node, kinds)]
    _render_children(node, "", lines, kinds)
    return "\n".join(lines)


def _render_children(node: dict[str, Any], indent: str, lines: list[str],
                     kinds: Mapping[str, Summary]) -> None:
    children = node.get("children", [])
    for index, child in enumerate(children):
        last = index == len(children) - 1
        lines.append(f"{indent}{'└─' if last else '├─'} {_line(child, kinds)}")
        _render_children(child, indent + ("   " if last else "│  "), lines, kinds)


def _line(node: dict[str, Any], kinds: Mapping[str, Summary]) -> str:
    state = node.get("state", "?")
    if state != "alive":
        extra = [f"mailbox {node['mailbox']}"] if "mailbox" in node else []
        return "  ".join([node["name"], state, *extra])
    return "  ".join(kinds.get(node.get("kind", ""), _other_summary)(node))


def _other_summary(node: dict[str, Any]) -> list[str]:
    return [node["name"], "alive", f"mailbox {node.get('mailbox', 0)}"]


def _supervisor_summary(node: dict[str, Any]) -> list[str]:
    if node["strategy"] == "dynamic":
        return [node["name"], "supervisor dynamic", f"children {node['active']}"]
    return [node["name"], f"supervisor {node['strategy']}",
            f"restarts {node['restarts']}/{node['intensity']} in {node['period']:g}s",
            f"up {human_duration(node['uptime'])}"]


def _timers_summary(node: dict[str, Any]) -> list[str]:
    return [node["name"], "alive", f"pending {node['pending']}"]


KERNEL_SUMMARIES: dict[str, Summary] = {"supervisor": _supervisor_summary,
                                        "timers": _timers_summary}


def human_duration(seconds: float) -> str:
    """``4s``, ``12m05s``, ``2h03m``: compact, like an operator would write it."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
