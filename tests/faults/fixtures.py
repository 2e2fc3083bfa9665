"""The fault-injection fixtures: ``subreaper``, ``fault_media``, ``start_hlsd`` (an
in-process ``HlsSystem``) and ``start_hlsd_server`` (a served hlsd). Each ends by checking
that nothing tagged with its work dir still runs and no run dir is left.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil
import pytest

from actors import ffmpeg
from actors.system import HlsSystem
from tests.faults.invariants import DEFAULTS, FAKES, tagged_processes, wait_until_up
from tests.helpers.media import make_clip
from tests.helpers.procs import own_children, reap_adopted, set_child_subreaper
from tests.helpers.server import Server, start_server
from tests.helpers.settings import settings_for


@pytest.fixture
def subreaper() -> Iterator[None]:
    """This process becomes a child subreaper: the orphans of a killed hlsd come back here,
    where they are counted and reaped. Afterwards any adopted zombie is reaped and any
    adopted process still running is killed, and fails the test."""
    before = set(own_children())
    set_child_subreaper(True)
    try:
        yield
    finally:
        running = _kill_adopted_tagged(before)
        reap_adopted(set(own_children()) - before)
        set_child_subreaper(False)
    assert not running, f"tagged processes outlived the test (killed now): {running}"


def _kill_adopted_tagged(before: set[int]) -> list[str]:
    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.pid in before or child.status() == psutil.STATUS_ZOMBIE:
                continue
            tag = ffmpeg.Tag.from_environ(child.environ())
            if tag is not None:
                found.append(f"{child.pid} {child.cmdline()[:1]} run {tag.run}")
                child.kill()
                child.wait(5)
    return found


@pytest.fixture(scope="session")
def fault_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small clips with a keyframe every second (segment_seconds = 1 cuts there):
    ``clip.mp4`` 320x180 30 s, ``tiny.mp4`` 160x90 20 s, ``big.mp4`` 640x360 6 s of noise
    (large segments), ``corrupt.mp4`` (not media), and ``fake-NAME.mp4`` for each fake
    FFmpeg in ``FAKES`` (``ffmpeg-faulty`` runs that fake for it)."""
    root = tmp_path_factory.mktemp("fault-media")
    make_clip(root / "clip.mp4", 30, width=320, height=180, fps=25, gop=1)
    make_clip(root / "tiny.mp4", 20, width=160, height=90, fps=25, gop=1)
    make_clip(root / "big.mp4", 6, width=640, height=360, fps=25, gop=1, noise=True)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 5000)
    for fake in FAKES:
        os.link(root / "tiny.mp4", root / f"fake-{fake}.mp4")
    return root


@pytest.fixture
def start_hlsd(fault_media: Path, tmp_path: Path, subreaper: None) -> Iterator[Callable[..., HlsSystem]]:
    """``start_hlsd(**overrides)`` starts an ``HlsSystem`` on ``tmp_path/work`` with
    ``DEFAULTS`` and ``overrides`` (``media_root=`` for another library), its tree up.
    Afterwards: stopped, and nothing tagged with the work dir runs, no run dir is left."""
    work = tmp_path / "work"
    systems: list[HlsSystem] = []

    def start(media_root: Path | None = None, **overrides: Any) -> HlsSystem:
        settings = settings_for(media_root or fault_media, work, **{**DEFAULTS, **overrides})
        system = HlsSystem(settings).start()
        systems.append(system)
        wait_until_up(system)
        return system

    yield start
    for system in systems:
        system.stop()
    _assert_nothing_left(work)


@pytest.fixture
def start_hlsd_server(fault_media: Path, tmp_path: Path, subreaper: None) -> Iterator[Callable[..., Server]]:
    """``start_hlsd_server(**overrides)``: ``tests.helpers.server.start_server`` with
    ``DEFAULTS``; each call serves the same ``tmp_path/work`` (a restart), with a new
    instance id. Afterwards: every server stopped, nothing of theirs left."""
    servers: list[Server] = []

    def start(media_root: Path | None = None, **overrides: Any) -> Server:
        server = start_server(tmp_path, media_root or fault_media, **{**DEFAULTS, **overrides})
        servers.append(server)
        wait_until_up(server)
        return server

    yield start
    for server in servers:
        server.stop()
    _assert_nothing_left(tmp_path / "work")


def _assert_nothing_left(work: Path) -> None:
    running = tagged_processes(work, os.getpid())
    for process in running:
        ffmpeg.terminate_tagged(process, 1.0)
    assert not running, f"FFmpeg outlived hlsd (killed now): {running}"
    assert not [p for p in work.glob("*/*/*") if p.is_dir()], "a run dir outlived hlsd"
