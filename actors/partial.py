"""Reading the segment a live run is writing, while FFmpeg writes it (issue #19).

A cold transcode lists its first segment only once the whole segment is made; a player
that may read it as it grows sees its first frame sooner. The segment muxer writes an
MPEG-TS segment sequentially and never rewrites it, so the bytes already in the file are
the segment's first bytes. ``wait_or_follow`` waits for the session's answer as the web
thread does today, and meanwhile looks for the file: once it exists, the caller gets a
``GrowingSegment``, an iterator of the file's bytes as they come, which ends only when the
session answers with the complete segment; it then checks that every byte it sent is the
complete segment's (a hash of the prefix) and sends the rest from the complete file. If
the session answers with an error, or the prefix differs (another run made it), or the
wait outlives its deadline, it raises ``SegmentAbandoned``: the web layer sends no last
chunk, the connection closes, and the player sees a failed load, never a short segment
that looks whole.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pykka

POLL = 0.02  # s between looks at a growing file: FFmpeg writes in 32 KiB blocks
BLOCK = 256 * 1024
CONFIRM_TIMEOUT = 1.0  # s: the session confirms which rendition a run dir's run makes
_VIDEO_RUN = re.compile(r".+-\d+(r\d+)?")  # run ids of video runs (``Runs.start``)


class SegmentAbandoned(Exception):
    """The segment being followed will not be completed as sent: abort the response."""


def writing(session_dir: Path, live_runs: set[str], number: int, made_in: str | None) -> Path | None:
    """The file of segment ``number`` that exactly one live video run of the session is
    writing (None: none, or several, as while a seek or a switch replaces a run). With
    ``made_in`` (the dir of the segment before, made by the rendition asked for), only
    that dir's file."""
    try:
        runs = [entry.name for entry in os.scandir(session_dir)
                if entry.name in live_runs and _VIDEO_RUN.fullmatch(entry.name)]
    except OSError:
        return None
    found = [session_dir / run / f"{number}.ts" for run in runs
             if (session_dir / run / f"{number}.ts").exists()]
    if len(found) != 1 or (made_in is not None and str(found[0].parent) != made_in):
        return None
    return found[0]


def wait_or_follow(reply: pykka.ThreadingFuture[Any], deadline: float,
                   find: Callable[[], Path | None]) -> Any:
    """The session's answer, as ``reply.get`` gives it, or a ``GrowingSegment`` once
    ``find`` shows the file being written and holding its first bytes (so the body starts
with them: an answer that fails before any byte is the session's error, not a cut 200);
``pykka.Timeout`` at ``deadline``."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise pykka.Timeout("segment wait")
        try:
            return reply.get(timeout=min(POLL, left))
        except pykka.Timeout:
            pass
        path = find()
        if path is not None:
            try:
                opened = open(path, "rb")  # noqa: SIM115 (GrowingSegment.close closes it)
            except OSError:
                continue  # its run ended and removed it: wait on
            if os.fstat(opened.fileno()).st_size == 0:
                # Nothing to send yet: the response would start (200) before a first byte,
                # and an error now could only cut it. Wait on: the session may still say
                # what is wrong in its own words.
                opened.close()
                continue
            return GrowingSegment(opened, reply, deadline)


class GrowingSegment:
    """The bytes of a segment file as FFmpeg appends them, then the rest of the complete
    segment the session answers with (see the module's docstring). An iterator for a
    WSGI body; ``close`` (which the server calls, also when the client went away) closes
    every file it holds, and ``on_close`` callbacks (the caller's wait slot)."""

    def __init__(self, growing: BinaryIO, reply: pykka.ThreadingFuture[Any], deadline: float) -> None:
        self._growing, self._reply, self._deadline = growing, reply, deadline
        self._sent = hashlib.blake2b()
        self._offset = 0
        self._complete: BinaryIO | None = None
        self._closed = False
        self.on_close: list[Callable[[], object]] = []

    def __iter__(self) -> Iterator[bytes]:
        while self._complete is None:
            chunk = self._growing.read(BLOCK)
            if chunk:
                yield self._sent_now(chunk)
            else:
                self._await_complete()
        while chunk := self._complete.read(BLOCK):
            yield chunk

    def _sent_now(self, chunk: bytes) -> bytes:
        self._sent.update(chunk)
        self._offset += len(chunk)
        return chunk

    def _await_complete(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise SegmentAbandoned("the segment was not completed in time")
        try:
            answer = self._reply.get(timeout=min(POLL, left))
        except pykka.Timeout:
            return
        except Exception as error:  # the session's error: the run failed or ended
            raise SegmentAbandoned("the run ended before the segment was whole") from error
        if not hasattr(answer, "read"):
            raise SegmentAbandoned("the answer is not a segment file")
        self._complete = answer
        prefix = hashlib.blake2b(answer.read(self._offset))
        if prefix.digest() != self._sent.digest():
            raise SegmentAbandoned("the complete segment differs from the bytes sent")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._growing.close()
        if self._complete is not None:
            self._complete.close()
        for callback in self.on_close:
            callback()
