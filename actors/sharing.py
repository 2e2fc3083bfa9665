"""What one session takes from the node's other sessions, and offers them.

``Sharing`` is owned by a session's ``Runs`` (composition, on the session's thread). It
finds a segment in the node's segment store, or another session's run that will make
it soon (``actors.store.SharedRuns``: the reach is ``REACH_AHEAD``, as for the
session's own run), and watches that run's shelf so the session hears when the segment
is stored or the run goes away. It offers the session's own runs to the others while
they run (not once finished, failed, ended or suspended: a suspended run makes nothing,
so its watchers take over rather than starve). Every FFmpeg stays its own session's:
only what a run's output serves is shared.
"""
from __future__ import annotations

import logging
from typing import Any, BinaryIO

import pykka

from actors import media
from actors.media import RenditionKey
from actors.run import Run
from actors.runtime import Runtime
from actors.store import Offer

log = logging.getLogger(__name__)


class Sharing:
    """See the module docstring. Every method runs on the owning session's thread."""

    def __init__(self, runtime: Runtime, plan: media.Plan, owner: pykka.ActorRef[Any]) -> None:
        self.runtime, self.plan, self.owner = runtime, plan, owner
        self.store, self.shared = runtime.store, runtime.shared
        self._shelves: dict[RenditionKey, str | None] = {}
        self.watched: dict[str, RenditionKey] = {}
        self.from_store = 0  # segments this session was answered from the store
        self.leaned = 0  # requests that waited on another session's run

    def shelf(self, key: RenditionKey) -> str | None:
        if key not in self._shelves:
            self._shelves[key] = self.runtime.shelf(self.plan, key)
        return self._shelves[key]

    def open(self, key: RenditionKey, number: int) -> BinaryIO | None:
        """Segment ``number`` of ``key`` from the store, opened; None if not kept."""
        shelf = self.shelf(key)
        opened = self.store.open(shelf, number) if shelf is not None else None
        if opened is not None:
            self.from_store += 1
            self.runtime.metrics.segments.labels("stored").inc()
        return opened

    def documents(self, key: RenditionKey) -> dict[RenditionKey, list[str]]:
        """The WebVTT a whole-file run of ``key`` made, cut per segment, if the store
        keeps it: ``{key: documents}``, else ``{}``."""
        opened = self.open(key, 0)
        if opened is None:
            return {}
        with opened:
            text = opened.read().decode("utf-8", errors="replace")
        return {key: media.webvtt_segments(media.parse_webvtt(text), self.plan.grid)}

    def answer(self, key: RenditionKey, number: int, replies: list[pykka.ThreadingFuture[Any]]) -> bool:
        """Answer every one of ``replies`` with its own open file of the stored segment;
        False (and none answered) if the store does not keep it."""
        opened = [self.open(key, number) for _ in replies]
        if not replies or any(each is None for each in opened):
            for each in opened:
                if each is not None:
                    each.close()
            return False
        for reply, each in zip(replies, opened):
            reply.set(each)
        return True

    def serving(self, key: RenditionKey, number: int) -> bool:
        """Another session's run will make segment ``number`` of ``key`` soon."""
        shelf = self.shelf(key)
        return shelf is not None and self.shared.serving(shelf, number, self.owner) is not None

    def lean(self, key: RenditionKey, number: int) -> bool:
        """Wait on another session's run for the segment, if one will make it soon
        (and hear of it: the shelf is watched from now on)."""
        if not self.serving(key, number):
            return False
        shelf = self.shelf(key)
        assert shelf is not None
        if shelf not in self.watched:
            self.watched[shelf] = key
            self.shared.watch(shelf, self.owner)
        self.leaned += 1
        return True

    def key_of(self, shelf: str) -> RenditionKey | None:
        return self.watched.get(shelf)

    def offer(self, run: Run, current: bool) -> None:
        """Offer ``run`` to the others while it makes segments; withdraw it otherwise."""
        shelf = self.shelf(run.key)
        if shelf is None or run.policy.whole:
            return
        if current and not run.finished and not run.suspended:
            self.shared.offer(shelf, Offer(run.first_id, self.owner, run.start, run.next))
        else:
            self.shared.withdraw(shelf, run.first_id)

    def leave(self, runs: list[Run]) -> None:
        """The session ends: its offers are withdrawn, it watches nothing."""
        for run in runs:
            self.offer(run, current=False)
        for shelf in self.watched:
            self.shared.unwatch(shelf, self.owner)
        self.watched.clear()

    def json(self) -> dict[str, Any]:
        return {"from_store": self.from_store, "leaned": self.leaned}
