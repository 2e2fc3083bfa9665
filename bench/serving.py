"""Row 8: serving a ready segment and a playlist, under ``wrk``, hlsd vs nginx.

hlsd: a session whose segment 0 (copy, about 2 MB) is ready -- read once first -- then
``wrk -t2 -c16 -d10s`` on ``/hls/{id}/copy/0.ts`` (each request also a heartbeat, through
the session actor), and on its ``index.m3u8``. nginx: started here on a loopback port
from a generated minimal ``nginx.conf`` (``daemon off; master_process off;``: one
process, ended by its pid), serving the very same bytes from files. The two alternate.
The ratio is hlsd / nginx: higher is better, nginx is the ceiling. c) a bare WSGI app
answering the playlist's bytes under waitress with hlsd's ``threads``
(``bench.waitress_alone``), vs nginx: the most any app served by waitress can reach here.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench import clips, hlsd, waitress_alone
from bench.common import (
    Bench,
    Client,
    Line,
    Stats,
    Target,
    accepts,
    die_with_parent,
    end_process,
    expect,
    side_by_side,
    wait_until,
)
from tests.helpers.front import free_port

PROFILE = "copy"
THREADS, CONNECTIONS = 2, 16
PLAYLIST_TARGET = Target("p50", 0.15, text="ratio p50 ≥ 0.15", at_least=True)
NGINX_START_TIMEOUT = 10.0
NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ video/mp2t ts; application/vnd.apple.mpegurl m3u8; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {home}/tmp/body;
    proxy_temp_path {home}/tmp/proxy;
    fastcgi_temp_path {home}/tmp/fastcgi;
    uwsgi_temp_path {home}/tmp/uwsgi;
    scgi_temp_path {home}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {home}/www;
    }}
}}
"""


@dataclass(frozen=True)
class Load:
    """What one wrk run reported."""

    requests_per_second: float
    bytes_per_second: float
    errors: int


def run(bench: Bench) -> list[Line]:
    seconds = bench.pick(10, 3)
    repeats = bench.repeats(3, 1)
    clip = clips.SERVE
    home = bench.scratch / "nginx"
    (home / "www").mkdir(parents=True)
    (home / "tmp").mkdir()
    with hlsd.running(bench.scratch, bench.clips.root) as server:
        port = hlsd.port(server)
        with Client(port) as client:
            session_id = hlsd.open_session(client, clip.media_id, PROFILE)
            playlist_path = f"/hls/{session_id}/{PROFILE}/index.m3u8"
            segment_path = hlsd.segment_path(session_id, PROFILE, 0)
            (home / "www" / "index.m3u8").write_bytes(expect(client.get(playlist_path), 200, "playlist").body)
            segment = expect(client.get(segment_path), 200, "segment 0").body
            (home / "www" / "0.ts").write_bytes(segment)
        with nginx(home) as nginx_port:
            lines = []
            for letter, what, hlsd_path, nginx_path in (
                    ("a", f"serving a ready segment ({len(segment) / 1e6:.1f} MB)", segment_path, "/0.ts"),
                    ("b", "serving a media playlist", playlist_path, "/index.m3u8")):
                served, baseline = side_by_side(repeats, partial(wrk, port, hlsd_path, seconds),
                                                partial(wrk, nginx_port, nginx_path, seconds))
                lines.append(_line(f"8{letter}", what, served, baseline, seconds,
                                   PLAYLIST_TARGET if letter == "b" else None))
            with waitress_alone.serving(home / "www" / "index.m3u8") as alone_port:
                alone, baseline = side_by_side(repeats, partial(wrk, alone_port, "/", seconds),
                                               partial(wrk, nginx_port, "/index.m3u8", seconds))
            lines.append(_line("8c", "the same playlist bytes from a bare WSGI app in waitress "
                               "(the ceiling of any app under waitress)", alone, baseline, seconds))
    return lines


def _line(row: str, what: str, served: list[Load], baseline: list[Load], seconds: float,
          target: Target | None = None) -> Line:
    def mb(loads: list[Load]) -> str:
        return f"{sum(x.bytes_per_second for x in loads) / len(loads) / 1e6:,.0f} MB/s"

    return Line(row, what, "req/s", Stats(tuple(x.requests_per_second for x in served)),
                Stats(tuple(x.requests_per_second for x in baseline)), "nginx", target,
                errors=sum(x.errors for x in served) + sum(x.errors for x in baseline),
                note=f"wrk -t{THREADS} -c{CONNECTIONS} -d{seconds}s; hlsd {mb(served)}, nginx {mb(baseline)}")


def wrk(port: int, path: str, seconds: float) -> Load:
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s",
               f"http://127.0.0.1:{port}{path}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30,
                            check=True)
    return parse_wrk(result.stdout)


_UNITS = {"": 1, "B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}


def parse_wrk(output: str) -> Load:
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    transfer = re.search(r"^Transfer/sec:\s+([0-9.]+)([KMGT]?B)", output, re.MULTILINE)
    if rate is None or transfer is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Load(float(rate.group(1)), float(transfer.group(1)) * _UNITS[transfer.group(2)], errors)


@contextmanager
def nginx(home: Path) -> Iterator[int]:
    """nginx serving ``home/www`` on a free loopback port; ended by its pid."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = home / "nginx.conf"
    conf.write_text(NGINX_CONF.format(home=home, port=port))
    process = subprocess.Popen([binary, "-p", str(home), "-c", str(conf), "-e", str(home / "error.log")],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        wait_until(lambda: _listening(port, process, home), NGINX_START_TIMEOUT, 0.02, "nginx listening")
        yield port
    finally:
        end_process(process)  # SIGTERM by pid: nginx's fast shutdown


def _listening(port: int, process: subprocess.Popen[bytes], home: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"nginx exited with {process.returncode}: "
                           f"{(home / 'error.log').read_text(errors='replace')[-1000:]}")
    return accepts(port)
