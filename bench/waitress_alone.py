"""The ceiling of any WSGI app under waitress: a minimal app that answers every GET with
the same bytes, served by ``waitress-serve`` with hlsd's ``threads``, on a loopback
port, ended by its pid. Row 8 measures it beside hlsd and nginx, so the table shows how
much of the gap to nginx is waitress's own per-request cost and how much is hlsd's.
"""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from bench.common import REPO, accepts, die_with_parent, end_process, wait_until
from bench.hlsd import PRODUCTION_INI
from tests.helpers.front import free_port

BODY_ENV = "HLSD_BENCH_BODY"
START_TIMEOUT = 10.0


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The same bytes, as hlsd's playlist answers carry them (no-cache, its type)."""
    start_response("200 OK", [("Content-Type", "application/vnd.apple.mpegurl"),
                              ("Cache-Control", "no-cache"), ("Content-Length", str(len(_BODY)))])
    return [_BODY]


_BODY = Path(os.environ[BODY_ENV]).read_bytes() if BODY_ENV in os.environ else b""


def production_threads() -> int:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(PRODUCTION_INI)
    return parser.getint("server:main", "threads")


@contextmanager
def serving(body: Path) -> Iterator[int]:
    """This app on a free loopback port, with production.ini's thread count."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("waitress-serve")), f"--listen=127.0.0.1:{port}",
               f"--threads={production_threads()}", "bench.waitress_alone:app"]
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, BODY_ENV: str(body),
                                                       "PYTHONPATH": str(REPO)},
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        wait_until(lambda: _listening(port, process), START_TIMEOUT, 0.02, "waitress listening")
        yield port
    finally:
        end_process(process)


def _listening(port: int, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"waitress-serve exited with {process.returncode}")
    return accepts(port)
