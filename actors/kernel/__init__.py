"""A small OTP on Pykka: links, supervisors, timers as messages, and the tree dump.

It knows nothing of hlsd. ``__all__`` is its face; its modules are ``specs`` (frozen
values), ``messages``, ``link`` (the one user of Pykka's internals), ``supervisor``,
``timers``, ``states`` and ``tree``.
"""
from actors.kernel.link import InjectedCrash, LinkedActor, Scheduler, tell_if_alive, wait_exit
from actors.kernel.messages import (
    NORMAL,
    SHUTDOWN,
    ChildExited,
    CountChildren,
    Crash,
    Describe,
    Exit,
    ExitKind,
    RetryRestart,
    StartChild,
    TerminateChild,
    Timeout,
    WhichChildren,
)
from actors.kernel.specs import BRUTAL_KILL, ChildSpec, Link, Restart, Strategy, SupervisorFlags
from actors.kernel.states import IllegalTransition, StateMachine
from actors.kernel.supervisor import Supervisor, kill, restarts_after, stop_child
from actors.kernel.timers import TimerHandle, Timers, TimerService
from actors.kernel.tree import Summary, human_duration, render_text, snapshot

__all__ = [
    "BRUTAL_KILL", "NORMAL", "SHUTDOWN",
    "ChildExited", "ChildSpec", "CountChildren", "Crash", "Describe", "Exit", "ExitKind",
    "IllegalTransition", "InjectedCrash", "Link", "LinkedActor", "Restart", "RetryRestart", "Scheduler",
    "StartChild", "StateMachine", "Strategy", "Summary", "Supervisor", "SupervisorFlags", "TerminateChild", "Timeout",
    "TimerHandle", "TimerService", "Timers", "WhichChildren",
    "human_duration", "kill", "render_text", "restarts_after", "snapshot", "stop_child",
    "tell_if_alive", "wait_exit",
]
