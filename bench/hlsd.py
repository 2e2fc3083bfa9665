"""hlsd as the benchmarks run it: ``pserve`` on a free loopback port, configured like
``config/production.ini`` (its logging too) with the row's ``hls.*`` overrides.

The server is ``tests.helpers.server.Server`` (the same subprocess the fault-injection
tests use); it is ended by its pid with ``Server.stop`` (SIGTERM, deadline, SIGKILL).
"""
from __future__ import annotations

import configparser
import dataclasses
import itertools
import os
import re
import secrets
import socket
import statistics
import subprocess
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors.settings import CONVERTERS
from bench.common import REPO, Client, Reply, die_with_parent, expect, wait_until
from tests.helpers.server import PSERVE, SERVING, Server

PRODUCTION_INI = REPO / "config" / "production.ini"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
_servers = itertools.count(1)


def write_ini(path: Path, app: dict[str, str], server: dict[str, Any]) -> Path:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep keys' case
    parser.read(PRODUCTION_INI)
    for key, value in app.items():
        parser["app:main"][key] = value
    for key, value in {"host": "127.0.0.1", "port": "0", **server}.items():
        parser["server:main"][key] = str(value)
    # production.ini logs waitress at WARN; its "Serving on" line tells the chosen port.
    loggers = parser["loggers"]["keys"]
    if "waitress" not in loggers:
        parser["loggers"]["keys"] = f"{loggers}, waitress"
        parser["logger_waitress"] = {"level": "INFO", "handlers": "", "qualname": "waitress"}
    with path.open("w") as out:
        parser.write(out)
    return path


def start(scratch: Path, media_root: Path, *, server: dict[str, Any] | None = None,
          **overrides: Any) -> Server:
    """A production-configured hlsd with ``hls.<key> = value`` for each override. Without
    sign-in (``hls.auth = none``): the rows measure streaming, which token URLs reach with
    no account, and the bench's clients are its own; accounts cost only the API routes.
    Without the segment store (``hls.segment_store_bytes = 0``) unless a row asks for it:
    the rows time cold work, which a segment another session made would skip (rows 15a
    and 15b measure the store)."""
    home = scratch / f"hlsd-{next(_servers)}"
    home.mkdir(parents=True)
    work_dir = home / "work"
    instance = f"bench-{secrets.token_hex(4)}"
    app = {"hls.media_root": str(media_root), "hls.work_dir": str(work_dir),
           "hls.instance": instance, "hls.auth": "none", "hls.segment_store_bytes": "0",
           **{f"hls.{k}": str(v) for k, v in overrides.items()}}
    ini = write_ini(home / "hlsd.ini", app, server or {})
    log = home / "hlsd.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(PSERVE), str(ini)], stdout=out, stderr=subprocess.STDOUT,
                                   cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1",
                                                  "PYTHONPATH": str(REPO)},  # this checkout
                                   preexec_fn=die_with_parent)
    # What the server is told about its scan is what ``start_again`` waits for: a node
    # with ``scan = false`` never begins a pass, so waiting for one would time out.
    started = Server(process, "", ini, log, work_dir, instance, scans=_scans(ini))
    try:
        started.url = wait_until(lambda: _serving(started), START_TIMEOUT, 0.02, "hlsd serving")
    except BaseException:
        started.kill()
        raise
    return started


def _scans(ini: Path) -> bool:
    """Whether hlsd started from ``ini`` runs the library scan (``hls.scan``, default on)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini)
    return CONVERTERS["scan"](parser["app:main"].get("hls.scan", "true"))


def _serving(server: Server) -> str | None:
    found = SERVING.search(server.output())
    if found:
        return found.group(1)
    if server.process.poll() is not None:
        raise RuntimeError(f"hlsd exited with {server.process.returncode}:\n{server.output()[-3000:]}")
    return None


def port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


@contextmanager
def running(scratch: Path, media_root: Path, **kwargs: Any) -> Iterator[Server]:
    """``start``, then always end it by its pid."""
    server = start(scratch, media_root, **kwargs)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            try:
                server.stop(STOP_TIMEOUT)
            except AssertionError as error:  # it needed SIGKILL: say so, the run goes on
                print(f"warning: {str(error).splitlines()[0]}", flush=True)


# --- the HTTP API, as the rows use it -------------------------------------------------------

def master_path(media_id: str, profile: str | None = None) -> str:
    query = f"?profile={profile}" if profile else ""
    return f"/media/{urllib.parse.quote(media_id)}/master.m3u8{query}"


def post_session(client: Client, media_id: str, profile: str, start: float | None = None) -> Reply:
    """POST /api/v1/sessions; the 201 reply."""
    body: dict[str, Any] = {"media": media_id, "profile": profile}
    if start is not None:
        body["start"] = start
    return expect(client.request("POST", "/api/v1/sessions", body), 201, "open session")


def open_session(client: Client, media_id: str, profile: str, start: float | None = None) -> str:
    """POST /api/v1/sessions; the session id."""
    return post_session(client, media_id, profile, start).json()["id"]


def delete_session(client: Client, session_id: str) -> float:
    """DELETE the session; how long the 204 took."""
    return expect(client.request("DELETE", f"/api/v1/sessions/{session_id}"), 204, "delete").elapsed


def session_state(client: Client, session_id: str) -> dict[str, Any]:
    return expect(client.get(f"/api/v1/sessions/{session_id}"), 200, "session state").json()


def ffmpeg_pid(client: Client, session_id: str, timeout: float = 10.0) -> int:
    """The session's FFmpeg pid, once it has one (polled: it is another process's state)."""
    return wait_until(lambda: session_state(client, session_id)["transcoder_pid"], timeout,
                      0.005, f"session {session_id} ffmpeg")


def start_ffmpeg(client: Client, session_id: str, profile: str, timeout: float = 10.0) -> int:
    """What a player's first segment request does to a new session: its FFmpeg starts.
    The request goes on a connection of its own, dropped once FFmpeg runs, so a fake
    FFmpeg that never makes a segment holds nothing up. The FFmpeg pid."""
    with socket.create_connection(("127.0.0.1", client.port), timeout=timeout) as kick:
        kick.sendall(f"GET {segment_path(session_id, profile, 0)} HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        return ffmpeg_pid(client, session_id, timeout)


def segment_path(session_id: str, profile: str, number: int) -> str:
    return f"/hls/{session_id}/{profile}/{number}.ts"


@dataclass(frozen=True)
class Phases:
    """Where a player's wait for a segment went, in seconds."""

    open: float  # the session created: POST, or GET master
    playlists: float  # the playlists fetched before the segment (0 when none)
    wait: float  # segment request sent -> its headers: FFmpeg making it, hlsd's hops
    transfer: float  # headers -> last byte of the segment
    ffmpeg: float = 0.0  # inside hlsd: FFmpeg spawned -> its first segment listed (its metric)

    @property
    def total(self) -> float:
        return self.open + self.playlists + self.wait + self.transfer


def first_segment_over_http(client: Client, media_id: str, profile: str) -> tuple[str, Phases, bytes]:
    """What a player does: GET master -> GET variant -> GET segment 0, read fully.

    Returns the session id, where the time went (``Phases.total``: from sending the
    first request to having the last byte of segment 0) and the segment.
    """
    master = expect(client.get(master_path(media_id, profile)), 200, "master")
    session_id = master.headers["X-Session-Id"]
    variant_path = _variant_uri(master.body.decode(), profile)
    variant = expect(client.get(variant_path), 200, "variant")
    first = next(line for line in variant.body.decode().splitlines() if line and not line.startswith("#"))
    segment = expect(client.get(urllib.parse.urljoin(variant_path, first)), 200, "segment 0")  # a relative URI
    return session_id, segment_phases(master, variant, segment), segment.body


def segment_phases(opened: Reply, playlists: Reply | None, segment: Reply) -> Phases:
    return Phases(opened.elapsed, playlists.elapsed if playlists else 0.0, segment.first_byte,
                  segment.elapsed - segment.first_byte)


def phases_note(phases: list[Phases]) -> str:
    """The median of each phase, for the table: the first thing to read on a miss."""
    def median(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.1f}"

    return (f"hlsd p50 phases (ms): open {median([p.open for p in phases])}, playlist "
            f"{median([p.playlists for p in phases])}, segment wait {median([p.wait for p in phases])}, "
            f"transfer {median([p.transfer for p in phases])}; of it FFmpeg spawned → segment "
            f"listed {median([p.ffmpeg for p in phases])}")


def histogram(client: Client, name: str) -> tuple[float, float]:
    """One of hlsd's Prometheus histograms, from ``/metrics``: (sum, count)."""
    text = expect(client.get("/metrics"), 200, "metrics").body.decode()
    found = dict(re.findall(rf"^{re.escape(name)}_(sum|count) (\S+)$", text, re.MULTILINE))
    return float(found.get("sum", 0)), float(found.get("count", 0))


def first_segment_metric(client: Client) -> tuple[float, float]:
    """hlsd's ``hlsd_time_to_first_segment_seconds``: FFmpeg spawned -> first segment listed."""
    return histogram(client, "hlsd_time_to_first_segment_seconds")


def stop_metric(client: Client) -> tuple[float, float]:
    """hlsd's ``hlsd_ffmpeg_stop_latency_seconds``: asking FFmpeg to stop -> reaped."""
    return histogram(client, "hlsd_ffmpeg_stop_latency_seconds")


def stop_time_since(client: Client, before: tuple[float, float]) -> float:
    """The one FFmpeg stop hlsd observed since ``stop_metric`` read ``before``."""
    after = wait_until(lambda: (m := stop_metric(client))[1] > before[1] and m, 2.0, 0.01,
                       "the stop latency metric")
    if after[1] != before[1] + 1:
        raise RuntimeError(f"expected one FFmpeg stop between the metric reads, saw {after[1] - before[1]:g}")
    return after[0] - before[0]


def with_ffmpeg_time(phases: Phases, before: tuple[float, float], after: tuple[float, float]) -> Phases:
    """``phases`` with ``ffmpeg`` from the metric read before and after one session's run."""
    if after[1] != before[1] + 1:
        raise RuntimeError(f"expected one first segment between the metric reads, saw {after[1] - before[1]:g}")
    return dataclasses.replace(phases, ffmpeg=after[0] - before[0])


def _variant_uri(master: str, profile: str) -> str:
    uris = [line for line in master.splitlines() if line and not line.startswith("#")]
    return next(uri for uri in uris if f"/{profile}/" in uri)
