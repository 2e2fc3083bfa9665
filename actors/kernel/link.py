"""The link between an actor and its supervisor, which Pykka does not have.

``LinkedActor`` is the base of every supervised actor. It guarantees three things:

* **One cleanup path.** ``cleanup(exit)`` runs exactly once, in the actor's own thread,
  whether the actor was stopped, crashed in a ``tell`` handler, or failed in ``on_start``
  (Pykka calls ``on_stop``, ``on_failure`` or neither in those three cases).
* **Exit notification.** When the actor's thread is about to end, for any reason, its
  supervisor gets ``ChildExited(child_id, urn, exit)`` as a message: an Erlang link.
* **Timeouts as messages.** ``arm(name, delay)`` asks the shared timer service to
  send ``Timeout(name, generation)`` later; re-arming or ``disarm`` bumps the generation,
  so a timeout already in the mailbox is dropped as stale before ``timeout()`` sees it.
  Timer names are values (strings, enum members, frozen dataclasses), never parsed.

Subclasses implement ``started()``, ``handle(message)``, ``timeout(name, payload)``,
``cleanup(exit)`` and ``facts()``; they never override Pykka's hooks.

This is the one module that touches Pykka's internals; each use says why:
``_actor_loop`` (the only hook that sees every way a thread ends) and ``actor_inbox``
(``drain_inbox``: replies that travel inside messages, which Pykka cannot answer).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, ClassVar, Hashable, Protocol

import pykka

from actors.kernel.messages import SHUTDOWN, ChildExited, Crash, Describe, Exit, Timeout
from actors.kernel.specs import Link

log = logging.getLogger(__name__)


_exits: dict[str, threading.Event] = {}
_exits_lock = threading.Lock()


def wait_exit(ref: pykka.ActorRef[Any], timeout: float) -> bool:
    """Wait until a linked actor's thread has finished its cleanup (an Erlang monitor).

    Pykka marks a crashing actor stopped *before* its cleanup runs, so a stop request
    answered "already dead" says nothing about its FFmpeg or files; this does. True when
    it has exited (or was never a linked actor), False when ``timeout`` ran out first.
    """
    with _exits_lock:
        exited = _exits.get(ref.actor_urn)
    return exited is None or exited.wait(max(0.0, timeout))


def tell_if_alive(ref: pykka.ActorRef[Any], message: Any) -> bool:
    """Tell ``ref``; an actor that has already ended is no error (True if delivered)."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        log.debug("%s is gone; %r dropped", ref, message)
        return False
    return True


class InjectedCrash(RuntimeError):
    """Raised on purpose by the ``Crash`` message (fault injection)."""


class Scheduler(Protocol):
    """What an actor needs of a timer service (``actors.kernel.timers.TimerService``)."""

    def send_after(self, ref: pykka.ActorRef[Any], message: Any, delay: float) -> Any: ...

    def cancel(self, handle: Any) -> bool: ...


class LinkedActor(pykka.ThreadingActor):
    """Base of every supervised actor; see the module docstring for its guarantees."""

    kind: ClassVar[str] = "worker"

    def __init__(self, link: Link, timers: Scheduler | None = None) -> None:
        super().__init__()
        self.link = link
        self.timers = timers
        self.started_at = time.monotonic()
        self._exit: Exit | None = None
        self._requested_exit: Exit = SHUTDOWN
        self._timer_generations: dict[Hashable, int] = {}
        self._timer_handles: dict[Hashable, Any] = {}
        with _exits_lock:
            _exits[self.actor_urn] = threading.Event()

    # --- hooks for subclasses (all run in the actor's thread) ----------------------------

    def started(self) -> None:
        """Set up after the thread starts, before any message. Raising fails the start."""

    def handle(self, message: Any) -> Any:
        """Handle one message; the default logs it as unknown."""
        log.warning("%s got an unknown message %r", self.name, message)
        return None

    def timeout(self, name: Hashable, payload: Any) -> None:
        """A current (not stale) timer armed with ``arm(name, ...)`` went off."""
        log.warning("%s has no handler for timeout %r", self.name, name)

    def cleanup(self, exit: Exit) -> None:
        """Release everything the actor owns. Runs exactly once, whatever ended it."""

    def facts(self) -> dict[str, Any]:
        """Kind-specific facts for the tree dump; ``summary`` is the text form's line."""
        return {}

    def children(self) -> list[tuple[str, pykka.ActorRef[Any] | None]]:
        """Supervisors list their children here, for the tree walk."""
        return []

    # --- what subclasses call -------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.link.child_id

    def exit(self, exit: Exit) -> None:
        """End this actor after the current message, with ``exit`` as the reason."""
        self._requested_exit = exit
        self.stop()

    def arm(self, name: Hashable, delay: float, payload: Any = None) -> None:
        """(Re-)arm timer ``name``: ``timeout(name, payload)`` runs in ``delay`` s unless re-armed."""
        assert self.timers is not None, f"{self.name} was started without timers"
        generation = self._bump(name)
        self._timer_handles[name] = self.timers.send_after(
            self.actor_ref, Timeout(name, generation, payload), delay
        )

    def disarm(self, name: Hashable) -> None:
        """Cancel timer ``name``; a Timeout for it already in the mailbox becomes stale."""
        self._bump(name)
        handle = self._timer_handles.pop(name, None)
        if handle is not None and self.timers is not None:
            self.timers.cancel(handle)

    def armed(self) -> list[str]:
        return sorted(str(name) for name in self._timer_handles)

    def drain_inbox(self, take: Callable[[Any], bool]) -> None:
        """Take the messages still queued for which ``take(message)`` is true; put the
        others back. For cleanup: a reply that travels inside a message (a deferred
        reply) is not known to Pykka, so only the actor can answer it."""
        others = []
        while not self.actor_inbox.empty():
            envelope = self.actor_inbox.get_nowait()
            if not take(envelope.message):
                others.append(envelope)
        for envelope in others:  # Pykka answers the asks among them when the thread ends
            self.actor_inbox.put(envelope)

    def _bump(self, name: Hashable) -> int:
        generation = self._timer_generations.get(name, 0) + 1
        self._timer_generations[name] = generation
        return generation

    # --- Pykka's hooks, wired to the single cleanup path ----------------------------------

    def on_start(self) -> None:
        try:
            self.started()
        except Exception as error:
            self._terminate(Exit.crash(error))
            raise

    def on_stop(self) -> None:
        self._terminate(self._requested_exit)

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        self._terminate(Exit.crash(exc_value if exc_value is not None else "failure"))

    def on_receive(self, message: Any) -> Any:
        match message:
            case Timeout(name=name, generation=generation, payload=payload):
                self._fire(name, generation, payload)
                return None
            case Describe():
                return self.describe()
            case Crash(reason=reason):
                raise InjectedCrash(reason)
            case _:
                return self.handle(message)

    def _fire(self, name: Hashable, generation: int, payload: Any) -> None:
        if self._timer_generations.get(name) != generation:
            log.debug("%s dropped stale timeout %s#%d", self.name, name, generation)
            return
        self._timer_handles.pop(name, None)
        self.timeout(name, payload)

    def _actor_loop(self) -> None:
        # The thread's own entry point: the one place that sees every way a thread ends.
        try:
            super()._actor_loop()
        finally:
            self._terminate(Exit.crash("actor thread ended unexpectedly"))
            with _exits_lock:
                _exits.pop(self.actor_urn).set()
            self._notify_parent()

    def _terminate(self, exit: Exit) -> None:
        if self._exit is not None:
            return
        self._exit = exit
        for name in list(self._timer_handles):
            self.disarm(name)
        try:
            self.cleanup(exit)
        except Exception:
            log.exception("%s: cleanup failed", self.name)

    def _notify_parent(self) -> None:
        parent = self.link.parent
        if parent is not None and self._exit is not None:
            tell_if_alive(parent, ChildExited(self.link.child_id, self.actor_urn, self._exit))

    # --- the tree dump ---------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """This actor's node of the tree: common facts plus ``facts()``; children as refs."""
        return {
            "name": self.name,
            "kind": self.kind,
            "state": "alive",
            "mailbox": self.actor_inbox.qsize(),
            "thread": threading.current_thread().name,
            "uptime": round(time.monotonic() - self.started_at, 3),
            "timers": self.armed(),
            **self.facts(),
            "children": self.children(),
        }
