"""The shipped nginx configs, run for real in front of stand-ins for hlsd nodes.

- ``StandInNode``: a stdlib ``ThreadingHTTPServer`` on a loopback port standing in for
  one hlsd node. It answers every request with JSON naming itself and echoing what it
  got; a segment request (``/hls/{s}/{p}/{n}.ts``) is answered as hlsd does behind
  nginx, with ``X-Accel-Redirect: /_segments/<name>/{s}/{p}/{n}.ts`` and no body.
  ``stop()`` closes its socket and every open connection, as a node's death does.
- ``Front``: real nginx started from a copy of ``config/`` in a temporary prefix, where
  only the listen and upstream ports are rewritten; ended by its pid (SIGQUIT, deadline,
  SIGKILL), and ``stop()`` checks that none of its processes survives.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CLUSTER_PORTS = ("127.0.0.1:6551", "127.0.0.1:6552", "127.0.0.1:6553")
SINGLE_PORT = "127.0.0.1:6543"
SHIPPED_LISTEN = "listen 127.0.0.1:8080;"
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "X-Session-Id, Retry-After"}
WORK_DIRS = {"node1": "var/cluster/node1/work", "node2": "var/cluster/node2/work",
             "node3": "var/cluster/node3/work", "main": "var/work"}


class _StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per answer (flushed by the base class), so no Nagle/delayed-ACK stalls.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _StandInServer

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self.answer()

    do_POST = do_DELETE = do_HEAD = do_GET

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(self.path)
        parts = self.path.split("?")[0].split("/")
        if len(parts) == 5 and parts[1] == "hls" and parts[4].endswith(".ts"):
            return self.redirect_to_file("/".join(parts[2:]))
        echo = {"node": self.server.name, "method": self.command, "path": self.path,
                "headers": dict(self.headers.items()), "body": body.decode("utf-8", "replace")}
        self.send(200, json.dumps(echo).encode(), {"Content-Type": "application/json"})

    def redirect_to_file(self, relative: str) -> None:
        self.send(200, b"", {"X-Accel-Redirect": f"/_segments/{self.server.name}/{relative}",
                             "Content-Type": "video/mp2t", "Cache-Control": "max-age=3600"})

    def send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, **CORS, "X-Hlsd-Node": self.server.name}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``seen`` instead."""


class _StandInServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str, port: int) -> None:
        super().__init__(("127.0.0.1", port), _StandInHandler)
        self.name = name
        self.seen: list[str] = []
        self.connections: set[socket.socket] = set()


@dataclass
class StandInNode:
    """A stand-in for one hlsd node (see the module docstring)."""

    name: str
    port: int = 0
    server: _StandInServer = field(init=False)
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.server = _StandInServer(self.name, self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"stand-in {self.name}",
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def seen(self) -> list[str]:
        return self.server.seen

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for connection in list(self.server.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(timeout=STOP_TIMEOUT)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def install_config(prefix: Path, config: str, upstreams: list[str], port: int) -> Path:
    """A copy of config/ under ``prefix`` with only the ports rewritten; the copied file."""
    shutil.copytree(CONFIG / "nginx", prefix / "config" / "nginx")
    text = (CONFIG / config).read_text()
    shipped = CLUSTER_PORTS if config == "nginx.conf" else (SINGLE_PORT,)
    assert len(upstreams) == len(shipped)
    for old, new in [(SHIPPED_LISTEN, f"listen 127.0.0.1:{port};"), *zip(shipped, upstreams)]:
        assert old in text, f"{config} no longer has {old!r}"
        text = text.replace(old, new)
    target = prefix / "config" / config
    target.write_text(text)
    (prefix / "var" / "nginx").mkdir(parents=True, exist_ok=True)
    return target


def nginx_command(prefix: Path, config: str, test_only: bool = False) -> list[str]:
    # Started as root, workers would be nobody, who cannot enter pytest's 0700 tmp dirs.
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    return [NGINX, "-p", f"{prefix}/", "-c", config, "-g", directives] + (["-t", "-q"] if test_only else [])


@dataclass
class Front:
    """Real nginx from a shipped config, listening on ``port`` (see the module docstring)."""

    prefix: Path
    port: int
    process: subprocess.Popen[bytes]
    workers: list[int] = field(default_factory=list)

    @classmethod
    def start(cls, prefix: Path, config: str, upstreams: list[str]) -> Front:
        for _ in range(3):
            port = free_port()
            shutil.rmtree(prefix / "config", ignore_errors=True)
            install_config(prefix, config, upstreams, port)
            log = (prefix / "nginx.stderr").open("wb")
            process = subprocess.Popen(nginx_command(prefix, f"config/{config}"), stdout=log, stderr=log)
            log.close()
            front = cls(prefix, port, process)
            if front.wait_listening():
                return front
            front.stop()
        raise RuntimeError(f"nginx did not start: {front.errors()}")

    def wait_listening(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.02)
                continue
            self.workers = [child.pid for child in psutil.Process(self.process.pid).children()]
            return bool(self.workers)
        return False

    def errors(self) -> str:
        logs = [self.prefix / "nginx.stderr", self.prefix / "var" / "nginx" / "error.log"]
        return "\n".join(path.read_text() for path in logs if path.exists())

    def request(self, method: str, path: str, source: str = "127.0.0.1",
                headers: dict[str, str] | None = None, body: bytes | None = None) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=(source, 0))
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, response.getheaders(), response.read())
        finally:
            connection.close()

    def held_connections(self) -> int:
        """Established client connections the workers hold on the listen port."""
        count = 0
        for pid in self.workers:
            for connection in psutil.Process(pid).net_connections("tcp"):
                if connection.laddr and connection.laddr.port == self.port and connection.status == "ESTABLISHED":
                    count += 1
        return count

    def wait_held(self, count: int, timeout: float = 10.0) -> int:
        """``held_connections`` once it reaches ``count`` (the workers accept a crowd of
        connections over some milliseconds), or what it is at the deadline."""
        deadline = time.monotonic() + timeout
        while (held := self.held_connections()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return held

    def stop(self) -> None:
        """SIGQUIT (graceful), then SIGKILL at the deadline; no process of it survives."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and any(alive(pid) for pid in self.workers):
            time.sleep(0.02)
        for pid in self.workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        assert not any(alive(pid) for pid in [self.process.pid, *self.workers]), "an nginx process survived"


def alive(pid: int) -> bool:
    """A live nginx process with this pid (not a zombie, not a reused pid)."""
    try:
        process = psutil.Process(pid)
        return process.name() == "nginx" and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass(frozen=True)
class Answer:
    status: int
    header_list: list[tuple[str, str]]
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.header_list)

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.header_list if key.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)
