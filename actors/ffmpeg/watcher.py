"""The watcher: one thread, ``procs-watcher``, for every running FFmpeg.

It reads every process's ``-progress`` pipe, segment-list pipe and stderr, and its pidfd,
and calls the owner's ``on_event`` with ``ProgressReported``, ``SegmentListed`` and, once,
after the pipes drained, ``ProcessExited``. FFmpeg never blocks on a full pipe.
"""
from __future__ import annotations

import functools
import logging
import os
import queue
import selectors
import threading
from dataclasses import dataclass
from typing import Callable

from actors.ffmpeg.spawn import ProcessHandle, close_all

log = logging.getLogger(__name__)

_READ_SIZE = 65536
_MAX_LINE = 65536
# Bounds the drain after exit, which a grandchild still writing could otherwise prolong.
_DRAIN_READS = 64


@dataclass(frozen=True)
class ProgressReported:
    """One ``-progress`` block, up to and including its ``progress=continue|end`` line."""

    pid: int
    fields: dict[str, str]


@dataclass(frozen=True)
class SegmentListed:
    """One line of the segment list: a segment is complete."""

    pid: int
    line: str


@dataclass(frozen=True)
class ProcessExited:
    """The process has exited and been reaped; sent once, after all its output."""

    pid: int
    returncode: int
    stderr_tail: tuple[str, ...]


ProcessEvent = ProgressReported | SegmentListed | ProcessExited


class _LineStream:
    """The watcher's end of one pipe: reads what is there, hands on complete lines."""

    def __init__(self, fd: int, on_line: Callable[[str], None]) -> None:
        self.fd = fd
        self.on_line = on_line
        self._partial = b""

    def read(self) -> bool:
        """Read once without blocking; False at end of file."""
        chunk = self._read_chunk()
        if chunk is not None:
            self._feed(chunk)
        return chunk != b""

    def drain(self) -> None:
        """Read everything already in the pipe, then hand on an unterminated last line."""
        for _ in range(_DRAIN_READS):
            chunk = self._read_chunk()
            if not chunk:
                break
            self._feed(chunk)
        self._emit(self._partial)
        self._partial = b""

    def _read_chunk(self) -> bytes | None:
        """Bytes, b"" at end of file, or None when the pipe is empty for now."""
        try:
            return os.read(self.fd, _READ_SIZE)
        except BlockingIOError:
            return None

    def _feed(self, chunk: bytes) -> None:
        # FFmpeg ends its stderr status lines with \r.
        *lines, self._partial = (self._partial + chunk).replace(b"\r", b"\n").split(b"\n")
        if len(self._partial) > _MAX_LINE:
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            self._emit(line)

    def _emit(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip()
        if text:
            self.on_line(text)


class _Watched:
    """The watcher thread's state for one process. It owns the process's pipes (taken
    from the handle) and a dup of its pidfd (the owner keeps its own to wait on)."""

    def __init__(self, handle: ProcessHandle, on_event: Callable[[ProcessEvent], None]) -> None:
        if handle.closed:
            raise ValueError(f"process {handle.pid} is already closed")
        self.handle = handle
        self.on_event = on_event
        progress, listing, stderr = handle.take_pipes()
        self.pidfd = os.dup(handle.pidfd)
        self.streams = [
            _LineStream(progress, self._progress_line),
            _LineStream(listing, self._segment_line),
            _LineStream(stderr, handle._add_stderr),
        ]
        self._progress: dict[str, str] = {}

    def deliver(self, event: ProcessEvent) -> None:
        try:
            self.on_event(event)
        except Exception:  # e.g. a tell to an actor that has died: the watcher serves all
            log.warning("could not deliver %r", event, exc_info=True)

    def _progress_line(self, line: str) -> None:
        key, _, value = line.partition("=")
        self._progress[key] = value
        if key == "progress":
            self.deliver(ProgressReported(self.handle.pid, self._progress))
            self._progress = {}

    def _segment_line(self, line: str) -> None:
        self.deliver(SegmentListed(self.handle.pid, line))


class ProcessWatcher:
    """One thread, ``procs-watcher``, that drains every process's pipes and sees it exit.

    ``watch`` may be called from any thread; ``on_event`` is called on the watcher
    thread, so it should only hand the event on (``actor_ref.tell``). After ``stop``,
    no more events are delivered; processes still running are not touched.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._selector.register(self._wake_fd, selectors.EVENT_READ, self._take_new)
        self._new: queue.SimpleQueue[_Watched] = queue.SimpleQueue()
        self._watched: set[_Watched] = set()
        self._lock = threading.Lock()  # guards _open and the wake fd's life
        self._open = True
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="procs-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def watch(self, handle: ProcessHandle, on_event: Callable[[ProcessEvent], None]) -> None:
        """Deliver ``handle``'s events to ``on_event`` until its ``ProcessExited``."""
        watched = _Watched(handle, on_event)
        with self._lock:
            if not self._open:
                _close_watched(watched)
                raise RuntimeError("the process watcher has stopped")
            self._new.put(watched)
            os.eventfd_write(self._wake_fd, 1)

    def stop(self, timeout: float) -> bool:
        """End the thread and close its fds; False if it did not end within ``timeout``."""
        with self._lock:
            if self._open:
                self._stopping = True
                os.eventfd_write(self._wake_fd, 1)
        if self._thread.ident is None:
            self._close_everything()
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stopping:
                for key, _ in self._selector.select():
                    key.data()
        except Exception:
            log.exception("process watcher failed; its processes are no longer watched")
        finally:
            self._close_everything()

    def _take_new(self) -> None:
        os.eventfd_read(self._wake_fd)
        while not self._new.empty():
            watched = self._new.get()
            self._watched.add(watched)
            self._selector.register(watched.pidfd, selectors.EVENT_READ,
                                    functools.partial(self._finish, watched))
            for stream in watched.streams:
                self._selector.register(stream.fd, selectors.EVENT_READ,
                                        functools.partial(self._read, watched, stream))

    # One select() can report an fd that an earlier callback of the same batch closed
    # (and another thread's dup may already reuse its number): check it is still ours.
    def _read(self, watched: _Watched, stream: _LineStream) -> None:
        if stream in watched.streams and not stream.read():
            self._forget_stream(watched, stream)

    def _finish(self, watched: _Watched) -> None:
        if watched not in self._watched:
            return
        for stream in list(watched.streams):
            stream.drain()
            self._forget_stream(watched, stream)
        self._selector.unregister(watched.pidfd)
        os.close(watched.pidfd)
        self._watched.discard(watched)
        returncode = watched.handle.kill_and_reap()
        watched.deliver(ProcessExited(watched.handle.pid, returncode,
                                      tuple(watched.handle.stderr_tail())))

    def _forget_stream(self, watched: _Watched, stream: _LineStream) -> None:
        self._selector.unregister(stream.fd)
        os.close(stream.fd)
        watched.streams.remove(stream)

    def _close_everything(self) -> None:
        with self._lock:
            if not self._open:
                return
            self._open = False
            os.close(self._wake_fd)
        while not self._new.empty():
            self._watched.add(self._new.get())
        for watched in self._watched:
            _close_watched(watched)
        self._watched.clear()
        self._selector.close()


def _close_watched(watched: _Watched) -> None:
    close_all([watched.pidfd, *(stream.fd for stream in watched.streams)])


