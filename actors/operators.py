"""What operators reach in a running hlsd: the actor tree (JSON, text, and the text in
the log on SIGUSR1) and the faults they may inject (SPEC "Faults that can be injected",
guarded by the web layer).

``Operators`` is owned by ``HlsSystem`` (``system.operators``) and given what it reads:
the root supervisor (a callable: it changes at start and stop), the root's children, and
the session gateway to ask a session.
"""
from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable

import pykka

from actors.errors import Invalid, NotFound, Unavailable
from actors.faults import FAULTS
from actors.gateway import RootChild, SessionGateway
from actors.kernel import Crash, snapshot
from actors.messages import InjectFault
from actors.tree import SESSIONS, tree_text

log = logging.getLogger(__name__)


class Operators:
    """See the module docstring."""

    def __init__(self, root: Callable[[], pykka.ActorRef[Any] | None], root_child: RootChild,
                 gateway: SessionGateway) -> None:
        self._root, self._root_child, self._gateway = root, root_child, gateway

    def install_signal_handlers(self) -> None:
        """SIGUSR1 writes the text tree to the log (from a short-lived thread: the handler
        itself must not block the server's main loop)."""
        def dump(signum: int, frame: Any) -> None:
            threading.Thread(target=self.log_tree, name="hlsd-tree-dump").start()

        signal.signal(signal.SIGUSR1, dump)

    def log_tree(self) -> None:
        log.warning("actor tree:\n%s", self.tree_text())

    def tree(self) -> dict[str, Any]:
        return snapshot(self._root())

    def tree_text(self) -> str:
        return tree_text(self.tree())

    def inject_fault(self, fault: str, session_id: str | None) -> dict[str, Any]:
        if fault not in FAULTS:
            raise Invalid(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if fault == "crash_supervisor" and not session_id:
            return self._crash_supervisor()
        target = session_id or self._any_session()
        return {"fault": fault, **self._gateway.ask(target, InjectFault(fault))}

    def _any_session(self) -> str:
        ids = self._gateway.runtime.directory.ids()
        if not ids:
            raise NotFound("no session to inject the fault into")
        return ids[0]

    def _crash_supervisor(self) -> dict[str, Any]:
        try:
            self._root_child(SESSIONS, "the sessions supervisor").tell(Crash("injected crash_supervisor"))
        except pykka.ActorDeadError:
            raise Unavailable("the sessions supervisor is restarting", retry_in=1) from None
        return {"fault": "crash_supervisor", "target": "sessions",
                "did": "raised an exception inside the sessions supervisor"}
