"""Process-wide hooks of a served hlsd: stop the actor tree when the server stops.

Under ``pserve``, Ctrl-C raises KeyboardInterrupt in the main thread: waitress stops
accepting, lets its threads finish (5 s at most) and returns. SIGTERM would kill the
process outright, so it is turned into the same KeyboardInterrupt. Then the interpreter
exits; Pykka's actor threads are not daemons, so it would wait for them forever before
any ``atexit`` handler ran: the tree is stopped from threading's own exit hook, which runs
before those threads are joined.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType

from actors.system import HlsSystem


def install(system: HlsSystem) -> None:
    """Stop ``system`` at interpreter exit; in the main thread, also handle SIGTERM and
    SIGUSR1 (the tree dump)."""
    threading._register_atexit(lambda: stop(system))  # type: ignore[attr-defined]
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
        system.operators.install_signal_handlers()


def stop(system: HlsSystem) -> None:
    """Stop the tree in order unless it is stopped already."""
    if system.root is not None:
        system.stop()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")
