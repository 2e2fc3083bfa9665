"""The reaper: layer 3 of "no orphaned FFmpeg" (DESIGN.md), run on a schedule.

``sweep_once(runtime)`` is one sweep of this instance's work dir (``ffmpeg.sweep``): it
kills tagged FFmpeg processes that no live run owns (this instance's runs that are not
live, other instances' processes whose hlsd is gone) and removes the work dirs they
leave. ``HlsSystem.start`` calls it once, synchronously, before the tree starts, so
nothing a killed hlsd left behind survives into the next one's service. The ``Reaper``
actor then sweeps every ``hls.reap_interval`` s.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Hashable

from actors import accel, ffmpeg
from actors.kernel import Link, LinkedActor
from actors.messages import Timer
from actors.runtime import Runtime

log = logging.getLogger(__name__)


def sweep_once(runtime: Runtime) -> ffmpeg.SweepReport:
    """Sweep the work dir once, on the calling thread; count and log what was reaped.

    Blocks for at most ``kill_grace + ffmpeg.KILL_WAIT`` s plus the process listing. Raises
    what ``ffmpeg.sweep`` raises (an unreadable work dir, out of file descriptors).
    """
    settings = runtime.settings
    started = time.monotonic()
    report = ffmpeg.sweep(settings.work_dir, settings.instance, runtime.live.runs,
                         grace=settings.kill_grace)
    accel.sweep_links(settings.work_dir, settings.instance)
    elapsed = time.monotonic() - started
    if report.killed:
        runtime.metrics.reaped.inc(report.killed)
    log.log(logging.INFO if report.killed or report.dirs_removed else logging.DEBUG,
            "sweep of %s: killed %d orphaned FFmpeg, removed %d work dirs (%.3f s)",
            settings.work_dir, report.killed, report.dirs_removed, elapsed)
    return report


class Reaper(LinkedActor):
    """Sweeps the work dir every ``hls.reap_interval`` s (the start-up sweep is ``sweep_once``).

    Owns: nothing but its schedule (the ``sweep`` timer) and its counts. What it kills and
    removes, nobody live owned.

    Messages: ``Timeout("sweep")`` from its own timer: sweep, count, re-arm; ``Describe``
    (tree dump: ``sweeps``, ``reaped``, ``dirs_removed``, ``last_sweep_ago``,
    ``last_sweep_seconds``, ``interval``); ``Crash`` (fault injection). A sweep runs on
    the reaper's thread and blocks it for up to ``kill_grace + 1`` s, so a tree dump
    taken meanwhile may show the reaper as unresponsive.

    When it dies: a sweep that raises is logged and crashes the reaper; its supervisor
    restarts it and the new reaper sweeps an interval later (a sweep that keeps failing escalates
    to the root's restart intensity). There is nothing to release: the timer is dropped,
    and a sweep under way finishes on the reaper's thread. Counts start again from zero
    in a new reaper; ``hlsd_reaped_orphans`` counts across restarts.
    """

    kind = "reaper"

    def __init__(self, link: Link, runtime: Runtime) -> None:
        super().__init__(link, runtime.timers)
        self.runtime = runtime
        self.interval = runtime.settings.reap_interval
        self.sweeps = 0
        self.reaped = 0
        self.dirs_removed = 0
        self.last_sweep: float | None = None
        self.last_sweep_seconds: float | None = None

    def started(self) -> None:
        # HlsSystem.start has just swept; waiting one interval also keeps a sweep that
        # keeps failing from spending the root's restart intensity in a burst.
        self.arm(Timer.SWEEP, self.runtime.settings.reap_interval)

    def timeout(self, name: Hashable, payload: Any) -> None:
        if name is not Timer.SWEEP:
            super().timeout(name, payload)
            return
        self._sweep()
        self.arm(Timer.SWEEP, self.interval)

    def facts(self) -> dict[str, Any]:
        last = self.last_sweep
        return {
            "interval": self.interval,
            "sweeps": self.sweeps,
            "reaped": self.reaped,
            "dirs_removed": self.dirs_removed,
            "last_sweep_ago": None if last is None else round(time.monotonic() - last, 3),
            "last_sweep_seconds": self.last_sweep_seconds,
        }

    def _sweep(self) -> None:
        started = time.monotonic()
        try:
            report = sweep_once(self.runtime)
        except Exception as error:
            log.error("%s: sweep failed (%s: %s); crashing so that its supervisor restarts it",
                      self.name, type(error).__name__, error)
            raise
        self.last_sweep = time.monotonic()
        self.last_sweep_seconds = round(self.last_sweep - started, 3)
        self.sweeps += 1
        self.reaped += report.killed
        self.dirs_removed += report.dirs_removed
