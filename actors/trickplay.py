"""One trick play pass of the library scan: the FFmpeg run that makes a file version's
thumbnail sheets and I-frame stream (``actors.media.trickplay``), start to finish.

``TrickplayJob`` is owned by the scanner actor (composition) and every method runs on the
scanner's thread: ``start`` spawns FFmpeg there (so the kernel kills it if that thread
ends, or hlsd dies), tagged as run ``run_id`` of session ``scan`` and registered in
``runtime.live`` for as long as it runs (so the reaper leaves it alone, and reaps it once
its owner is gone), at nice 10 and idle I/O priority. Its events come from the process
watcher to the scanner's mailbox. ``finish`` commits what it wrote; ``stop`` (the
scanner's cleanup, a deadline, a failure) stops the process group, reaps it and removes
the partial folder, so a stopped pass leaves nothing behind.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psutil

from actors import ffmpeg
from actors.media import trickplay
from actors.media.index import Stamp
from actors.media.trickplay_files import TrickplayStore
from actors.runtime import Runtime

log = logging.getLogger(__name__)

SESSION = "scan"  # the tag's session: no HLS session owns this run
NICE = 10
BASE_TIMEOUT = 60.0
TIMEOUT_PER_FILM_SECOND = 0.25  # a pass slower than 4x real time is given up


@dataclass(frozen=True)
class TrickplayTarget:
    """A file version to make trick play files for, and how."""

    media_id: str
    stamp: Stamp
    source: Path
    shape: trickplay.Geometry
    keyframes_only: bool

    @property
    def timeout(self) -> float:
        return BASE_TIMEOUT + self.shape.duration * TIMEOUT_PER_FILM_SECOND


class TrickplayJob:
    """One FFmpeg pass for ``target``; see the module docstring (scanner thread only)."""

    def __init__(self, runtime: Runtime, store: TrickplayStore, target: TrickplayTarget,
                 run_id: str) -> None:
        self.runtime, self.store, self.target, self.run_id = runtime, store, target, run_id
        self.handle: ffmpeg.ProcessHandle | None = None
        self.partial: Path | None = None
        self.seconds_done = 0.0

    @property
    def pid(self) -> int | None:
        return self.handle.pid if self.handle is not None else None

    def start(self, on_event: Callable[[ffmpeg.ProcessEvent], None]) -> None:
        settings, target = self.runtime.settings, self.target
        self.partial = self.store.partial(target.media_id, target.stamp)
        tag = ffmpeg.Tag.for_this_process(settings.work_dir, settings.instance, SESSION,
                                         self.run_id)
        partial = self.partial
        self.runtime.live.add_run(self.run_id)
        self.handle = ffmpeg.spawn(
            lambda progress, _: trickplay.scan_args(target.source, partial, target.shape,
                                                    target.keyframes_only, progress,
                                                    ffmpeg.DEMUXERS),
            tag, partial, settings.ffmpeg)
        self.runtime.live.add_pid(self.handle.pid)
        _lower_priority(self.handle.pid)
        self.runtime.watcher.watch(self.handle, on_event)
        log.info("trick play for %s: ffmpeg %d started (%s)", target.media_id, self.handle.pid,
                 "keyframes only" if target.keyframes_only else "every frame")

    def progress(self, fields: dict[str, str]) -> float:
        """Film seconds done, from one ``-progress`` block."""
        try:
            done = int(fields.get("out_time_us", "0")) / 1e6
        except ValueError:
            return self.seconds_done
        self.seconds_done = min(max(self.seconds_done, done), self.target.shape.duration)
        return self.seconds_done

    def finish(self, returncode: int, stderr_tail: tuple[str, ...]) -> trickplay.Manifest:
        """FFmpeg exited: commit its files, or raise why there are none (then ``stop``)."""
        self._release()
        if returncode != 0:
            raise RuntimeError(f"ffmpeg exited with status {returncode}: "
                               f"{' | '.join(stderr_tail[-3:]) or 'no output'}")
        assert self.partial is not None
        manifest = self.store.commit(self.partial, self.target.shape)
        self.partial = None
        return manifest

    def stop(self) -> None:
        """Stop FFmpeg if it runs, reap it, and remove what it wrote; harmless to repeat."""
        if self.handle is not None and not self.handle.closed:
            report = ffmpeg.stop_process_group(self.handle, self.runtime.settings.kill_grace)
            log.info("trick play for %s: ffmpeg %d stopped (%s)", self.target.media_id,
                     self.handle.pid, report.signal)
        self._release()
        if self.partial is not None:
            self.store.discard(self.partial)
            self.partial = None

    def _release(self) -> None:
        if self.handle is not None:
            self.runtime.live.discard_pid(self.handle.pid)
            if self.handle.returncode is not None:
                self.handle.close()
        self.runtime.live.discard_run(self.run_id)


def _lower_priority(pid: int) -> None:
    """Nice 10 and idle I/O for every thread FFmpeg has (threads made later inherit it):
    playback gets the CPU and the disk first."""
    try:
        process = psutil.Process(pid)
        process.ionice(psutil.IOPRIO_CLASS_IDLE)
        for thread in process.threads():
            os.setpriority(os.PRIO_PROCESS, thread.id, NICE)
    except (psutil.Error, OSError) as error:
        log.debug("trick play ffmpeg %d keeps its priority: %s", pid, error)


def made_for(store: TrickplayStore, source: Path,
             media_id: str) -> tuple[Path, trickplay.Manifest] | None:
    """The folder and manifest of the trick play files of ``source``'s current version
    (``media_id`` in the library), or None while they are not made."""
    try:
        stamp = Stamp.of(os.stat(source))
    except OSError:
        return None
    manifest = store.manifest(media_id, stamp)
    return None if manifest is None else (store.path(media_id, stamp), manifest)
