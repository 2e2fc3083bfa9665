"""hlsd as the web tests (and the fault-injection suite) see it.

- ``media_library(root)``: a media root with the clips and the traps the web tests use.
- ``web_app(media_root, work_dir, **overrides)``: the WSGI app built by ``web.main`` from
  ``config/test.ini`` (``hls.*`` keys overridden), wrapped in WebTest, stopped after.
- ``start_server(tmp_path, media_root, **overrides)``: a real ``pserve`` subprocess on a
  free loopback port, from an ini generated in ``tmp_path``; ``Server.stop()`` sends
  SIGTERM with a deadline, then SIGKILL.
- ``spawned(work_dir)``: what hlsd has running or on disk for a work dir (FFmpeg tagged
  with it, session dirs), so a test checks only what *its* hlsd started.
"""
from __future__ import annotations

import configparser
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil
from webtest import TestApp

from actors import ffmpeg
from actors.settings import CONVERTERS
from tests.helpers.media import make_clip
from tests.helpers.procs import persists_in_work_dir
from tests.helpers.settings import REPO, TEST_INI, app_settings

PSERVE = Path(sys.executable).with_name("pserve")
LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SERVING = re.compile(r"Serving on (http://[0-9.]+:[0-9]+)")  # waitress, once listening

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def wait_for_scan(system: Any, timeout: float = 30.0) -> None:
    """Until the library scan's first pass has finished (bounded); at once without a scan."""
    if not system.settings.scan:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = system.runtime.scan.latest()
        if latest is not None and latest.finished:
            return
        time.sleep(0.05)
    raise AssertionError(f"the library scan did not finish within {timeout} s")


def media_library(root: Path, outside: Path) -> Path:
    """``root`` with two short clips, a non-media file, a fake ``.mp4``, a hidden file and a
    symlink to a clip in ``outside`` (which must not be served)."""
    (root / "shows").mkdir(parents=True)
    outside.mkdir(parents=True, exist_ok=True)
    make_clip(root / "clip.mp4", 12, width=640, height=360)
    make_clip(root / "shows" / "second clip.mkv", 6, width=640, height=360)
    (root / "notes.txt").write_text("not a video\n")
    (root / "fake.mp4").write_bytes(b"this is not an mp4 file\n" * 64)
    (root / ".hidden.mp4").write_bytes((root / "clip.mp4").read_bytes())
    make_clip(outside / "secret.mp4", 2, width=320, height=240)
    (root / "escape.mp4").symlink_to(outside / "secret.mp4")
    return root


@contextmanager
def web_app(media_root: Path, work_dir: Path, **overrides: Any) -> Iterator[TestApp]:
    """WebTest around ``web.main``, once the start-up library scan has finished; requests
    come from loopback unless a test says not."""
    import web
    from web import lifecycle

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGUSR1)}
    app = web.main({"__file__": str(TEST_INI), "here": str(TEST_INI.parent)},
                   **app_settings(media_root, work_dir, **overrides))
    app.registry.hls.operators.tree()  # answered once the root has started its children
    # The start-up scan's ffprobe and poster runs are over before any test looks.
    wait_for_scan(app.registry.hls)
    try:
        yield TestApp(app, extra_environ=LOOPBACK)
    finally:
        lifecycle.stop(app.registry.hls)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@dataclass
class Spawned:
    """What an hlsd has running or on disk for one work dir."""

    ffmpeg: list[int]
    session_dirs: list[str]

    def __bool__(self) -> bool:
        return bool(self.ffmpeg or self.session_dirs)


def spawned(work_dir: Path) -> Spawned:
    dirs = [p.relative_to(work_dir).as_posix() for p in work_dir.glob("*/*")
            if p.is_dir() and not persists_in_work_dir(p.parent)]  # the trick play folders
    return Spawned([t.pid for t in ffmpeg.find_tagged(work_dir)], dirs)


@dataclass
class Server:
    """A ``pserve`` subprocess serving hlsd on ``url``."""

    process: subprocess.Popen[bytes]
    url: str
    ini: Path
    log: Path
    work_dir: Path
    instance: str
    scans: bool = True  # runs the library scan (``hls.scan``)
    token: str = ""  # hls.admin_token, sent by ``get``: with accounts, the operator's key

    @property
    def pid(self) -> int:
        return self.process.pid

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        """GET ``path``: status, headers, body (errors included, never raised)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url + path, headers=headers),
                                        timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def ffmpeg(self) -> list[psutil.Process]:
        """FFmpeg processes of this server: its children, and any tagged with its work dir."""
        found = {p.pid: p for p in ffmpeg_children(self.pid)}
        for tagged in ffmpeg.find_tagged(self.work_dir):
            found.setdefault(tagged.pid, psutil.Process(tagged.pid))
        return list(found.values())

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait up to ``timeout``; SIGKILL if it is still running."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"hlsd did not stop within {timeout} s of SIGTERM:\n{self.output()}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(STOP_TIMEOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_scan(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """Until the library scan's first pass has finished (bounded): its progress then.
        Its ffprobe and poster runs are children of the server, so a test that counts
        FFmpeg processes starts from none."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _, body = self.get("/api/v1/scan")
            progress = json.loads(body) if status == 200 else {}
            if progress.get("pass", 0) >= 1 and not progress["running"]:
                return progress
            time.sleep(0.05)  # the scan reports by polling only
        raise AssertionError(f"the start-up library scan did not finish within {timeout} s:\n{self.output()}")


def ffmpeg_children(pid: int | None = None) -> list[psutil.Process]:
    """FFmpeg processes among the descendants of ``pid`` (this process by default)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [child for child in children if _name(child) == "ffmpeg"]


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return ""


def write_ini(path: Path, settings: dict[str, str], **server: Any) -> Path:
    """An ini like ``config/test.ini`` with ``settings`` in ``[app:main]``."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep keys' case
    parser.read(TEST_INI)
    for key, value in settings.items():
        parser["app:main"][key] = value
    for key, value in {"host": "127.0.0.1", "port": "0", **server}.items():
        parser["server:main"][key] = str(value)
    with path.open("w") as out:
        parser.write(out)
    return path


def start_server(tmp_path: Path, media_root: Path, *, timeout: float = START_TIMEOUT,
                 server: dict[str, Any] | None = None, **overrides: Any) -> Server:
    """``pserve`` on a free loopback port; returns once it serves (or raises with its log)."""
    work_dir = tmp_path / "work"
    settings = app_settings(media_root, work_dir, **overrides)
    ini = write_ini(tmp_path / "hlsd.ini", settings, **(server or {}))
    log = tmp_path / "hlsd.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(PSERVE), str(ini)], stdout=out, stderr=subprocess.STDOUT,
                                   cwd=REPO, env=server_env(),
                                   preexec_fn=_die_with_parent)
    started = Server(process, "", ini, log, work_dir, settings["hls.instance"],
                     CONVERTERS["scan"](settings.get("hls.scan", "true")),
                     settings.get("hls.admin_token", "").strip())
    started.url = _wait_for_url(started, time.monotonic() + timeout)
    if started.scans:
        started.wait_for_scan(timeout)
    return started


@contextmanager
def served(base: Path, fill: Callable[[Path], object], **overrides: Any) -> Iterator[Server]:
    """A real hlsd over ``base/media``, which ``fill`` writes; when the block ends, the
    server is stopped (SIGTERM, and it must exit 0) and nothing it spawned may be left."""
    media = base / "media"
    media.mkdir()
    fill(media)
    server = start_server(base, media, **overrides)
    try:
        yield server
    finally:
        assert server.stop() == 0
        assert not spawned(server.work_dir)


def start_again(server: Server, timeout: float = START_TIMEOUT) -> Server:
    """``pserve`` with the same ini as ``server`` (stopped or killed before), as an
    operator restarts or upgrades hlsd; its log goes on in the same file."""
    assert server.process.poll() is not None, "stop or kill it first"
    offset = server.log.stat().st_size
    with server.log.open("ab") as out:
        process = subprocess.Popen([str(PSERVE), str(server.ini)], stdout=out, stderr=subprocess.STDOUT,
                                   cwd=REPO, env=server_env(),
                                   preexec_fn=_die_with_parent)
    again = Server(process, "", server.ini, server.log, server.work_dir, server.instance, server.scans,
                   server.token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        serving = SERVING.search(server.log.read_bytes()[offset:].decode(errors="replace"))
        if serving:
            again.url = serving.group(1)
            if again.scans:
                again.wait_for_scan(max(deadline - time.monotonic(), 1.0))
            return again
        if process.poll() is not None:
            raise AssertionError(f"hlsd exited with {process.returncode}:\n{again.output()}")
        time.sleep(0.05)  # polling a log file: there is nothing to wait on
    again.kill()
    raise AssertionError(f"hlsd did not start again within the deadline:\n{again.output()}")


def _wait_for_url(server: Server, deadline: float) -> str:
    while time.monotonic() < deadline:
        serving = SERVING.search(server.output())
        if serving:
            return serving.group(1)
        if server.process.poll() is not None:
            raise AssertionError(f"hlsd exited with {server.process.returncode}:\n{server.output()}")
        time.sleep(0.05)  # polling a log file: there is nothing to wait on
    server.kill()
    raise AssertionError(f"hlsd did not start within the deadline:\n{server.output()}")


def server_env() -> dict[str, str]:
    """This checkout's code first: pserve's sys.path starts at the venv's bin, so without
    it the editable install (maybe another checkout) would be served."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def _die_with_parent() -> None:
    """In the child: a test run that dies takes its servers with it."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM.value, 0, 0, 0)
