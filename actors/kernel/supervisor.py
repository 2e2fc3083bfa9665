"""Supervisors with OTP's semantics, on Pykka actors.

A ``Supervisor`` starts its children in order from frozen, validated ``ChildSpec``s and
restarts them by ``Strategy`` when their ``ChildExited`` message says so:

* restart types: ``permanent`` always, ``transient`` only after a crash, ``temporary``
  never (its spec is dropped when it ends);
* strategies: ``one_for_one``, ``one_for_all``, ``rest_for_one``, and ``dynamic`` (children
  added at run time with ``StartChild``, no order between them, stopped in parallel);
* intensity: at most ``intensity`` restarts within ``period`` seconds (monotonic clock).
  One more and the supervisor stops its children and then itself with a crash, which
  its own supervisor sees as a child failure (escalation);
* shutdown per child: ask it to stop, wait ``shutdown`` seconds, then kill it
  (``BRUTAL_KILL`` skips the wait). Children stop in reverse start order.

A failed restart is retried by a ``RetryRestart`` message to itself, so the mailbox
stays responsive. The supervisor never ``ask``s its children anything but to stop, and
children only ``tell`` it, so neither can deadlock the other.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import pykka

from actors.kernel.link import LinkedActor, Scheduler, wait_exit
from actors.kernel.messages import (
    ChildExited,
    CountChildren,
    Exit,
    RetryRestart,
    StartChild,
    TerminateChild,
    WhichChildren,
)
from actors.kernel.specs import BRUTAL_KILL, ChildSpec, Link, Restart, Strategy, SupervisorFlags

log = logging.getLogger(__name__)


@dataclass
class _Child:
    spec: ChildSpec
    ref: pykka.ActorRef[Any] | None = None


def restarts_after(restart: Restart, exit: Exit) -> bool:
    return restart is Restart.PERMANENT or (restart is Restart.TRANSIENT and exit.abnormal)


def kill(ref: pykka.ActorRef[Any]) -> None:
    """The closest Pykka has to ``exit(Pid, kill)``: a thread cannot be killed, so the
    actor is cut off (unregistered, marked dead, asked to stop) and nobody waits for it.
    Its cleanup still runs in its own thread when whatever blocks it returns."""
    request_stop(ref)
    ref.actor_stopped.set()
    pykka.ActorRegistry.unregister(ref)


def stop_child(ref: pykka.ActorRef[Any], shutdown: float, child_id: str) -> None:
    """Ask ``ref`` to stop and wait up to ``shutdown`` seconds for its cleanup; then kill it."""
    if shutdown == BRUTAL_KILL:
        kill(ref)
        return
    request_stop(ref)
    wait_stopped(ref, time.monotonic() + shutdown, child_id)


def request_stop(ref: pykka.ActorRef[Any]) -> None:
    try:
        ref.stop(block=False)
    except pykka.ActorDeadError:
        pass  # already ending; wait_stopped waits for its cleanup all the same


def wait_stopped(ref: pykka.ActorRef[Any], deadline: float, child_id: str) -> None:
    if not wait_exit(ref, deadline - time.monotonic()):
        log.error("child %s did not stop in time; killed", child_id)
        kill(ref)


class Supervisor(LinkedActor):
    """Owns its children: starts them, restarts them by strategy and intensity, and stops
    them all (reverse order, or in parallel when dynamic) whenever it ends, for any reason.

    Messages: ``ChildExited`` (from children), ``StartChild`` / ``TerminateChild`` /
    ``WhichChildren`` / ``CountChildren`` (asks), ``RetryRestart`` (to itself).
    When it dies its children are gone; its parent sees a crash if intensity was exceeded.
    """

    kind = "supervisor"

    def __init__(self, link: Link, flags: SupervisorFlags = SupervisorFlags(),
                 specs: tuple[ChildSpec, ...] = (), timers: Scheduler | None = None) -> None:
        super().__init__(link, timers)
        self.flags = flags
        self._specs = specs
        self._children: list[_Child] = []
        self._restarts: deque[float] = deque()
        self.total_restarts = 0

    def started(self) -> None:
        for spec in self._specs:
            self._add(spec)

    def handle(self, message: Any) -> Any:
        match message:
            case ChildExited(child_id=child_id, urn=urn, exit=exit):
                self._child_exited(child_id, urn, exit)
            case StartChild(spec=spec):
                return self._add(spec)
            case TerminateChild(child_id=child_id):
                return self._terminate_child(child_id)
            case WhichChildren():
                return [(c.spec.id, c.ref, c.spec.kind, c.spec.restart.value) for c in self._children]
            case CountChildren():
                return self._count()
            case RetryRestart(child_id=child_id):
                self._retry(child_id)
            case _:
                return super().handle(message)
        return None

    def cleanup(self, exit: Exit) -> None:
        self._stop_all(self._children)

    def children(self) -> list[tuple[str, pykka.ActorRef[Any] | None]]:
        return [(c.spec.id, c.ref) for c in self._children]

    def facts(self) -> dict[str, Any]:
        self._expire_restarts(time.monotonic())
        return {
            "strategy": self.flags.strategy.value,
            "restarts": len(self._restarts),
            "total_restarts": self.total_restarts,
            "intensity": self.flags.intensity,
            "period": self.flags.period,
            **self._count(),
        }

    # --- children coming and going -------------------------------------------------------

    def _add(self, spec: ChildSpec) -> pykka.ActorRef[Any]:
        if self._find(spec.id) is not None:
            raise ValueError(f"child {spec.id!r} already exists")
        child = _Child(spec)
        ref = self._start(child)
        self._children.append(child)
        return ref

    def _start(self, child: _Child) -> pykka.ActorRef[Any]:
        child.ref = child.spec.start(Link(self.actor_ref, child.spec.id))
        return child.ref

    def _find(self, child_id: str) -> _Child | None:
        return next((c for c in self._children if c.spec.id == child_id), None)

    def _terminate_child(self, child_id: str) -> bool:
        child = self._find(child_id)
        if child is None:
            return False
        was_running = child.ref is not None
        self._stop_all([child])
        self._children.remove(child)
        return was_running

    def _count(self) -> dict[str, int]:
        return {
            "specs": len(self._children),
            "active": sum(c.ref is not None for c in self._children),
            "supervisors": sum(c.spec.kind == "supervisor" for c in self._children),
            "workers": sum(c.spec.kind == "worker" for c in self._children),
        }

    def _child_exited(self, child_id: str, urn: str, exit: Exit) -> None:
        child = self._find(child_id)
        if child is None or child.ref is None or child.ref.actor_urn != urn:
            return  # a child we stopped ourselves, or an older incarnation
        child.ref = None
        log.log(logging.WARNING if exit.abnormal else logging.DEBUG,
                "%s: child %s exited (%s %s)", self.name, child_id, exit.kind, exit.detail)
        if not restarts_after(child.spec.restart, exit):
            if child.spec.restart is Restart.TEMPORARY or self.flags.strategy is Strategy.DYNAMIC:
                self._children.remove(child)
            return
        if not self._record_restart():
            self._give_up(f"child {child_id}: {exit.detail}", child_id)
            return
        self._restart_by_strategy(child)

    # --- restarts ------------------------------------------------------------------------

    def _restart_by_strategy(self, failed: _Child) -> None:
        match self.flags.strategy:
            case Strategy.ONE_FOR_ONE | Strategy.DYNAMIC:
                affected = [failed]
            case Strategy.ONE_FOR_ALL:
                affected = list(self._children)
            case Strategy.REST_FOR_ONE:
                affected = self._children[self._children.index(failed):]
        self._stop_all(affected)
        for child in affected:
            if child is not failed and child.spec.restart is Restart.TEMPORARY:
                self._children.remove(child)
            else:
                self._start_or_retry(child)

    def _start_or_retry(self, child: _Child) -> None:
        try:
            self._start(child)
        except Exception as error:
            log.error("%s: restart of %s failed: %s; retrying", self.name, child.spec.id, error)
            self.actor_ref.tell(RetryRestart(child.spec.id))

    def _retry(self, child_id: str) -> None:
        child = self._find(child_id)
        if child is None or child.ref is not None:
            return
        if not self._record_restart():
            self._give_up(f"child {child_id}: restart kept failing", child_id)
            return
        self._start_or_retry(child)

    def _record_restart(self) -> bool:
        """OTP's add_restart: True while the restarts within the period stay within intensity."""
        now = time.monotonic()
        self._restarts.append(now)
        self.total_restarts += 1
        self._expire_restarts(now)
        return len(self._restarts) <= self.flags.intensity

    def _expire_restarts(self, now: float) -> None:
        while self._restarts and now - self._restarts[0] > self.flags.period:
            self._restarts.popleft()

    def _give_up(self, detail: str, child_id: str) -> None:
        reason = (f"reached max restart intensity {self.flags.intensity}/"
                  f"{self.flags.period:g}s ({detail})")
        log.error("%s: %s; shutting down", self.name, reason)
        self.exit(Exit.gave_up(reason, child_id))

    # --- stopping children ---------------------------------------------------------------

    def _stop_all(self, children: list[_Child]) -> None:
        """Stop the running ones: in parallel when dynamic, else one by one in reverse."""
        running = [(c, c.ref) for c in children if c.ref is not None]
        for child, _ in running:
            child.ref = None
        if self.flags.strategy is Strategy.DYNAMIC:
            self._stop_parallel(running)
            return
        for child, ref in reversed(running):
            stop_child(ref, child.spec.shutdown, child.spec.id)

    @staticmethod
    def _stop_parallel(running: list[tuple[_Child, pykka.ActorRef[Any]]]) -> None:
        now = time.monotonic()
        pending = []
        for child, ref in running:
            if child.spec.shutdown == BRUTAL_KILL:
                kill(ref)
            else:
                request_stop(ref)
                pending.append((child, ref, now + child.spec.shutdown))
        for child, ref, deadline in pending:
            wait_stopped(ref, deadline, child.spec.id)
