"""The baseline: FFmpeg alone, run with exactly the arguments hlsd gives it.

``settings(media_root, **overrides)`` parses the same ``hls.*`` keys the benchmark's hlsd
gets (``config/production.ini`` plus overrides), so profiles and segment length match.
``Recipe`` holds what ``media.ffmpeg_args`` needs; ``until_segment`` starts FFmpeg with
``media.ffmpeg_args`` into a temporary dir and times it until the segment list pipe
reports segment ``n`` -- the moment hlsd could serve it -- then stops it (SIGTERM to its
group, a deadline, SIGKILL) and reaps it.
``until_listed`` does the same for any recipe (audio, video only), given a function
that builds its arguments from the output dir and the two fds.

FFmpeg alone is spawned as a shell would spawn it: ``subprocess`` without a ``preexec_fn``
(so ``vfork``), in its own session, with the same pipes. hlsd's spawn needs a
``preexec_fn`` (``PR_SET_PDEATHSIG``), which makes Python ``fork`` the whole server:
that cost is hlsd's, so it is not in the baseline. (Should this process die, FFmpeg
alone still ends by itself: every input is a short file.)
"""
from __future__ import annotations

import configparser
import os
import resource
import select
import selectors
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors import media
from actors.media.profiles import Profile
from actors.settings import Settings, parse_settings
from bench.common import now, pidfd
from bench.hlsd import PRODUCTION_INI

SEGMENT_TIMEOUT = 60.0
STOP_GRACE = 5.0


def settings(media_root: Path, work_dir: Path, **overrides: Any) -> Settings:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(PRODUCTION_INI)
    raw = {k: v for k, v in parser["app:main"].items() if k.startswith("hls.")}
    raw.update({"hls.media_root": str(media_root), "hls.work_dir": str(work_dir)})
    raw.update({f"hls.{k}": str(v) for k, v in overrides.items()})
    return parse_settings(raw)


def planned(media_root: Path, media_id: str, scratch: Path) -> tuple[Settings, media.Plan]:
    """``media_id`` under ``media_root`` planned as hlsd plans it with production.ini's
    settings (probed with keyframes), and those settings."""
    config = settings(media_root, scratch / "unused")
    info = media.Prober(config.ffprobe).probe(media_root / media_id, keyframes=True)
    return config, media.make_plan(media_id, info, config.profiles, config.segment_seconds)


@dataclass(frozen=True)
class Recipe:
    """One media file planned for one profile, as hlsd plans it."""

    ffmpeg: str
    info: media.MediaInfo
    profile: Profile
    boundaries: tuple[float, ...]

    @classmethod
    def plan(cls, config: Settings, path: Path, profile_name: str) -> Recipe:
        info = media.Prober(config.ffprobe).probe(path, keyframes=True)
        profile = next(p for p in media.renditions(info, config.profiles) if p.name == profile_name)
        return cls(config.ffmpeg, info, profile,
                   media.segment_boundaries(info, profile, config.segment_seconds))

    def segment_at(self, fraction: float) -> int:
        return media.segment_for_time(self.boundaries, fraction * self.info.duration)


@dataclass
class _Run:
    process: subprocess.Popen[bytes]
    started: float
    pipes: dict[int, bytearray]  # progress, segment list, stderr: the parent's read ends
    list_fd: int
    stderr_fd: int

    def wait_listed(self, number: int, extension: str = "ts") -> float:
        """When segment ``number`` was listed (raises if it never is)."""
        listed = _wait_listed(self.pipes, self.list_fd, f"{number}.{extension},",
                              self.started + SEGMENT_TIMEOUT)
        if listed is None:
            stderr = bytes(self.pipes[self.stderr_fd][-500:]).decode(errors="replace")
            raise RuntimeError(f"ffmpeg alone did not list segment {number}: {stderr}")
        return listed


# FFmpeg's arguments after argv[0], given its output dir, progress fd and segment list fd.
ArgvBuilder = Callable[[Path, int, int], list[str]]


@contextmanager
def _running(recipe: Recipe, number: int, scratch: Path) -> Iterator[_Run]:
    """FFmpeg for a run from segment ``number``; stopped, reaped and its dir removed on
    the way out."""
    with _spawned(recipe.ffmpeg, lambda out, progress, listing: media.ffmpeg_args(
            recipe.info, recipe.profile, recipe.boundaries, number, out, progress, listing),
            scratch) as run:
        yield run


@contextmanager
def _spawned(ffmpeg: str, build: ArgvBuilder, scratch: Path) -> Iterator[_Run]:
    """FFmpeg with ``build``'s arguments; stopped, reaped and its dir removed on the way out."""
    out_dir = Path(tempfile.mkdtemp(prefix="ffmpeg-alone-", dir=scratch))
    progress_r, progress_w = os.pipe()
    list_r, list_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    pipes = {progress_r: bytearray(), list_r: bytearray(), stderr_r: bytearray()}
    args = build(out_dir, progress_w, list_w)
    started = now()
    try:
        process = subprocess.Popen(
            [ffmpeg, *args], cwd=out_dir, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr_w, close_fds=True,
            pass_fds=(progress_w, list_w), start_new_session=True)
    except BaseException:
        _close(pipes)
        raise
    finally:
        _close((progress_w, list_w, stderr_w))
    try:
        yield _Run(process, started, pipes, list_r, stderr_r)
    finally:
        _stop(process, pipes)
        _close(pipes)
        shutil.rmtree(out_dir, ignore_errors=True)


def until_segment(recipe: Recipe, number: int, scratch: Path) -> float:
    """Seconds from spawning FFmpeg (for a run from ``number``) to segment ``number`` listed."""
    with _running(recipe, number, scratch) as run:
        return run.wait_listed(number) - run.started


def until_listed(ffmpeg: str, build: ArgvBuilder, number: int, scratch: Path,
                 extension: str = "ts") -> float:
    """Seconds from spawning FFmpeg with ``build``'s arguments to segment ``number``
    (``{number}.{extension}``) listed."""
    with _spawned(ffmpeg, build, scratch) as run:
        return run.wait_listed(number, extension) - run.started


def whole_run(ffmpeg: str, argv: list[str], sink: int, timeout: float) -> tuple[float, float]:
    """FFmpeg alone with ``argv`` (``sink``: an fd it writes to) to its end: (CPU seconds,
    from the kernel's accounting of this process's reaped children; wall seconds).
    Raises if it fails; killed and reaped at ``timeout``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = now()
    process = subprocess.Popen([ffmpeg, *argv], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               pass_fds=(sink,), start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    wall = now() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"ffmpeg alone failed: {stderr.decode(errors='replace')[-500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def stop_latency(recipe: Recipe, scratch: Path) -> float:
    """FFmpeg alone, running (segment 0 listed): SIGTERM to its group -> exited and reaped."""
    with _running(recipe, 0, scratch) as run:
        run.wait_listed(0)
        fd = pidfd(run.process.pid)
        assert fd is not None, "ffmpeg ended before it was stopped"
        try:
            started = now()
            _signal_group(run.process.pid, signal.SIGTERM)
            _drain_until_exit(run.pipes, fd, started + STOP_GRACE)
            run.process.wait(STOP_GRACE)
            return now() - started
        finally:
            os.close(fd)


def _wait_listed(pipes: dict[int, bytearray], list_fd: int, prefix: str,
                 deadline: float) -> float | None:
    """Read every pipe (FFmpeg blocks on a full one) until ``list_fd`` has a line
    starting with ``prefix``; when it arrived, or None at end of file or the deadline."""
    wanted = prefix.encode()
    with selectors.DefaultSelector() as selector:
        for fd in pipes:
            selector.register(fd, selectors.EVENT_READ)
        open_fds = set(pipes)
        while open_fds and now() < deadline:
            for key, _ in selector.select(max(0.0, deadline - now())):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    open_fds.discard(key.fd)
                    continue
                pipes[key.fd] += chunk
                lines = pipes[list_fd].split(b"\n")[:-1]
                if key.fd == list_fd and any(line.startswith(wanted) for line in lines):
                    return now()
    return None


def _stop(process: subprocess.Popen[bytes], pipes: dict[int, bytearray]) -> None:
    """SIGTERM the group, wait for the exit while draining the pipes, SIGKILL, reap."""
    if process.poll() is None:
        fd = pidfd(process.pid)
        _signal_group(process.pid, signal.SIGTERM)
        if fd is not None:
            _drain_until_exit(pipes, fd, now() + STOP_GRACE)
            os.close(fd)
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGKILL)
    process.wait(STOP_GRACE)


def _drain_until_exit(pipes: dict[int, bytearray], fd: int, deadline: float) -> None:
    """Keep the pipes empty (a process finalizing its output must not block on them)
    until the pidfd ``fd`` says the process exited, or the deadline."""
    for pipe in pipes:
        os.set_blocking(pipe, False)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    for pipe in pipes:
        poller.register(pipe, select.POLLIN)
    while now() < deadline:
        for ready, _ in poller.poll(max(0.0, deadline - now()) * 1000):
            if ready == fd:
                return
            if not os.read(ready, 65536):
                poller.unregister(ready)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _close(fds: Any) -> None:
    for fd in fds:
        os.close(fd)
