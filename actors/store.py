"""What the sessions of one node share: the segment store, and the runs others may wait on.

``SegmentStore``: made segments (video, audio, a subtitle track's WebVTT), one file each
under ``<work_dir>/store/``, named by shelf (``actors.media.shelves``) and number,
bounded by ``hls.segment_store_bytes`` (0: no store), least recently read evicted. A
segment enters whole or not at all: a hard link (a copy across file systems) to a
temporary name in the store, then a rename. The store outlives hlsd: at start-up its
LRU is rebuilt from the directory (a read touches the file's mtime, so the order
survives a restart). An open file stays readable after its eviction (Linux unlinks
only the name).

``SharedRuns``: every run of the node that others may wait on, by shelf (its *offer*:
from which segment, how far it is), and the sessions watching each shelf. A run's
transcoder tells the watchers ``SegmentStored`` as it stores each segment; its session
withdraws the offer when the run ends, fails, moves or is suspended, and the watchers
hear ``SharedRunsChanged`` (they then wait on another run, or start their own).

Both are thread-safe (one lock each) and tell actors only with ``tell_if_alive``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pykka

from actors.kernel import tell_if_alive
from actors.messages import SegmentStored, SharedRunsChanged
from actors.run import REACH_AHEAD

log = logging.getLogger(__name__)

_TEMPORARY = ".put-"


class SegmentStore:
    """See the module docstring. ``bound`` in bytes; 0 keeps nothing."""

    def __init__(self, root: Path, bound: int) -> None:
        self.root, self.bound = root, bound
        self._sizes: OrderedDict[str, int] = OrderedDict()  # least recently read first
        self._total = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.bound > 0

    def rebuild(self) -> None:
        """Read the directory: what a put cut short is removed, the rest ordered by mtime."""
        if not self.enabled:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        found = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)  # never the store's
                    continue
                if entry.name.startswith(_TEMPORARY) or not entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)  # a put cut short, or not a segment
                    continue
                stat = entry.stat(follow_symlinks=False)
                found.append((stat.st_mtime_ns, entry.name, stat.st_size))
        with self._lock:
            self._sizes = OrderedDict((name, size) for _, name, size in sorted(found))
            self._total = sum(self._sizes.values())
            self._evict()
        log.info("segment store %s: %d segments, %d bytes of %d", self.root, len(self._sizes),
                 self._total, self.bound)

    def put(self, shelf: str, number: int, source: Path) -> bool:
        """Keep ``source`` (a complete segment) as ``number`` of ``shelf``; False if it was
        not put (no store, too big, already kept, or it could not be linked)."""
        name = _name(shelf, number)
        if not self.enabled:
            return False
        with self._lock:
            if name in self._sizes:
                return False
        temporary = self.root / f"{_TEMPORARY}{secrets.token_hex(6)}"
        try:
            size = source.stat().st_size
            if size > self.bound:
                return False
            try:
                os.link(source, temporary)
            except OSError:  # another file system, or links not allowed: a copy
                shutil.copyfile(source, temporary)
            os.replace(temporary, self.root / name)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            log.warning("segment store: could not keep %s: %s", name, error)
            return False
        with self._lock:
            self._total += size - self._sizes.pop(name, 0)
            self._sizes[name] = size
            self._evict()
        return True

    def open(self, shelf: str, number: int) -> BinaryIO | None:
        """The kept segment, opened (the caller closes it), now the most recently read."""
        name = _name(shelf, number)
        with self._lock:
            if name not in self._sizes:
                return None
            self._sizes.move_to_end(name)
        path = self.root / name
        try:
            opened = open(path, "rb")  # noqa: SIM115 (the caller closes it)
        except OSError:
            self._forget(name)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # the LRU order, for the next start
        return opened

    def discard(self, shelf: str, numbers: list[int]) -> None:
        """Segments of ``shelf`` that must not be served (their run failed): gone."""
        for number in numbers:
            name = _name(shelf, number)
            with self._lock:
                self._total -= self._sizes.pop(name, 0)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.root / name)

    def has(self, shelf: str, number: int) -> bool:
        with self._lock:
            return _name(shelf, number) in self._sizes

    def usage(self) -> tuple[int, int]:
        """(segments kept, bytes kept)."""
        with self._lock:
            return len(self._sizes), self._total

    def _forget(self, name: str) -> None:
        """A kept segment could not be opened: gone (evicted meanwhile, or removed)."""
        with self._lock:
            if not (self.root / name).exists():  # not a segment kept again meanwhile
                self._total -= self._sizes.pop(name, 0)

    def _evict(self) -> None:
        """Under the lock: the least recently read go until the total fits the bound."""
        while self._total > self.bound and self._sizes:
            name, size = self._sizes.popitem(last=False)
            self._total -= size
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.root / name)


def _name(shelf: str, number: int) -> str:
    if not shelf.isalnum():
        raise ValueError(f"{shelf!r} is not a shelf")
    return f"{shelf}.{number}"


@dataclass(frozen=True)
class Offer:
    """A run that makes ``shelf`` from ``start``, ``next`` being the next segment it writes."""

    run: str
    owner: pykka.ActorRef[Any]
    start: int
    next: int

    def reaches_soon(self, number: int) -> bool:
        return self.start <= number <= self.next + REACH_AHEAD


class SharedRuns:
    """See the module docstring."""

    def __init__(self) -> None:
        self._offers: dict[str, dict[str, Offer]] = {}
        self._watchers: dict[str, set[pykka.ActorRef[Any]]] = {}
        self._lock = threading.Lock()

    def offer(self, shelf: str, offer: Offer) -> None:
        """A run's offer, new or updated; watchers hear of one that moved back or forth."""
        with self._lock:
            offers = self._offers.setdefault(shelf, {})
            previous = offers.get(offer.run)
            offers[offer.run] = offer
        if previous is not None and previous.start != offer.start:
            self._tell(shelf, SharedRunsChanged(shelf), offer.owner)

    def withdraw(self, shelf: str, run: str) -> None:
        with self._lock:
            offers = self._offers.get(shelf, {})
            gone = offers.pop(run, None)
            if not offers:
                self._offers.pop(shelf, None)
        if gone is not None:
            self._tell(shelf, SharedRunsChanged(shelf), gone.owner)

    def serving(self, shelf: str, number: int, asking: pykka.ActorRef[Any]) -> Offer | None:
        """Another session's run that will make segment ``number`` of ``shelf`` soon."""
        with self._lock:
            offers = list(self._offers.get(shelf, {}).values())
        return next((o for o in offers if o.owner is not asking and o.reaches_soon(number)), None)

    def watch(self, shelf: str, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            self._watchers.setdefault(shelf, set()).add(ref)

    def unwatch(self, shelf: str, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            watchers = self._watchers.get(shelf, set())
            watchers.discard(ref)
            if not watchers:
                self._watchers.pop(shelf, None)

    def stored(self, shelf: str, number: int, maker: pykka.ActorRef[Any]) -> None:
        """Segment ``number`` of ``shelf`` is in the store: its watchers hear it."""
        self._tell(shelf, SegmentStored(shelf, number), maker)

    def counts(self) -> tuple[int, int]:
        """(offers, watchers), for the invariants: (0, 0) once every session ended."""
        with self._lock:
            return (sum(len(o) for o in self._offers.values()),
                    sum(len(w) for w in self._watchers.values()))

    def _tell(self, shelf: str, message: Any, maker: pykka.ActorRef[Any]) -> None:
        with self._lock:
            watchers = [ref for ref in self._watchers.get(shelf, ()) if ref is not maker]
        for ref in watchers:
            tell_if_alive(ref, message)
