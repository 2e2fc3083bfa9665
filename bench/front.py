"""Row 12: hlsd behind the shipped nginx: serving a ready segment, failover, an idle crowd.

12a: ``config/nginx-single.conf`` (a copy where only the ports are rewritten, plus one
plain location) in front of one hlsd with ``hls.accel_redirect``: ``wrk`` on a ready
copy segment of about 2 MB through nginx -> hlsd (``X-Accel-Redirect``) -> nginx's
sendfile, against the same nginx serving the same bytes from the plain location. The
ratio is hlsd path / nginx alone: higher is better, nginx alone is the ceiling.

12b: ``config/nginx.conf`` (ports rewritten) in front of 3 hlsd nodes (one session
secret, a work dir and an accel-redirect location each). A player reads a copy session
at 4x real time; before segment ``KILL_AT`` the node that served the last segment is
killed with SIGKILL. The gap is from the kill to the last byte of that next segment,
delivered by another node that resumed the session from its token. The player retries a
failed segment as hls.js 1.7 does by default (``bench/hlsjs_retry.py``: 1 s, then 2, 4,
8 s..., whatever ``Retry-After`` says), so the gap is what a viewer of hlsd's own player
waits. The node is then
started again from the same ini (its start-up sweep removes what the dead one left), and
nginx's ``fail_timeout`` passes before the next run.

12c: the 12a stack: a viewer's sequential GETs of the ready segment on one keep-alive
connection while 1,000 connections to nginx have sent half a request header and nothing
since, against none; the two kinds of round alternate.

Every nginx and hlsd is ended by its pid when the row ends, failed or not.
"""
from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from bench import clips, hlsd, hlsjs_retry, serving
from bench.common import (
    Bench,
    Client,
    Line,
    Reply,
    Stats,
    Target,
    die_with_parent,
    expect,
    now,
    side_by_side,
    wait_until,
)
from tests.helpers.front import Front, free_port, install_config, nginx_command
from tests.helpers.server import Server, start_again

PROFILE = "copy"
SINGLE_SEGMENTS = "/_segments/main/"  # nginx-single.conf's location, aliased to var/work/
PLAIN_LOCATION = """
        # Added by the benchmark: the same bytes, served by nginx alone.
        location /plain/ {
            alias var/plain/;
        }
"""
ROUTES = "include nginx/routes.conf;"
NODES = ("node1", "node2", "node3")  # config/nginx.conf's /_segments/<node>/ locations
IDLE = 1000
HOLD_TIMEOUT = 10.0  # nginx accepting the idle clients
KILL_AT = 3
SEGMENT_SECONDS = 4.0  # production.ini's hls.segment_seconds
SPEED = 4.0
FAIL_TIMEOUT = 2.0  # config/nginx.conf's fail_timeout: then nginx tries a restarted node again
SERVE_TARGET = Target("p50", 0.9, text="ratio p50 ≥ 0.9", at_least=True)
GAP_TARGET = Target("p50", 1.5, subject="hlsd", text="p50 ≤ 1.5 s")
CROWD_TARGET = Target("p50", 1.1, text="ratio p50 ≤ 1.1")


def run(bench: Bench) -> list[Line]:
    return [*_single_rows(bench), _failover_line(bench)]


# --- nginx from a shipped config ------------------------------------------------------------

@contextmanager
def nginx(prefix: Path, config: str, upstreams: list[str], extra: str = "") -> Iterator[Front]:
    """nginx from a copy of ``config/<config>`` under ``prefix`` with only the ports
    rewritten (and ``extra`` added to its server block); ended by its pid at the end
    (``Front.stop``: SIGQUIT, deadline, SIGKILL, no process of it left)."""
    front: Front | None = None
    try:
        for _ in range(3):  # a port taken between choosing and binding it: another one
            if front is not None:
                front.stop()
            front = _start_nginx(prefix, config, upstreams, extra)
            if front.wait_listening():
                break
        else:
            raise RuntimeError(f"nginx did not start: {front.errors() if front else ''}")
        yield front
    finally:
        if front is not None:
            front.stop()


def _start_nginx(prefix: Path, config: str, upstreams: list[str], extra: str) -> Front:
    shutil.rmtree(prefix / "config", ignore_errors=True)
    port = free_port()
    conf = install_config(prefix, config, upstreams, port)
    if extra:
        text = conf.read_text()
        if ROUTES not in text:
            raise RuntimeError(f"{config} no longer has {ROUTES!r}")
        conf.write_text(text.replace(ROUTES, ROUTES + extra, 1))
    with (prefix / "nginx.stderr").open("wb") as log:
        process = subprocess.Popen(nginx_command(prefix, f"config/{config}"), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=log, preexec_fn=die_with_parent)
    return Front(prefix, port, process)


def header(reply: Reply, name: str) -> str:
    return next((v for k, v in reply.headers.items() if k.lower() == name.lower()), "")


# --- 12a and 12c: one hlsd behind nginx-single.conf -------------------------------------------

def _single_rows(bench: Bench) -> list[Line]:
    prefix = bench.scratch / "front-single"
    (prefix / "var" / "plain").mkdir(parents=True)
    with hlsd.running(bench.scratch, bench.clips.root, accel_redirect=SINGLE_SEGMENTS,
                      scan="false") as server:
        (prefix / "var" / "work").symlink_to(server.work_dir)
        with nginx(prefix, "nginx-single.conf", [server.url.removeprefix("http://")],
                   PLAIN_LOCATION) as front, Client(front.port) as viewer:
            path, size = _ready_segment(server, viewer, prefix / "var" / "plain" / "0.ts")
            return [_serving_line(bench, front.port, path, size, psutil.Process(server.pid)),
                    _crowd_line(bench, front, viewer, path, size)]


def _ready_segment(server: Server, viewer: Client, plain: Path) -> tuple[str, int]:
    """A copy session's segment 0 read once through nginx (so it is ready), checked to be
    sent by nginx after hlsd's X-Accel-Redirect, and copied to the plain location."""
    master = expect(viewer.get(hlsd.master_path(clips.SERVE.media_id, PROFILE)), 200, "master")
    path = hlsd.segment_path(header(master, "X-Session-Id"), PROFILE, 0)
    through = expect(viewer.get(path), 200, "segment 0 through nginx")
    with Client(hlsd.port(server)) as direct:
        upstream = expect(direct.get(path), 200, "segment 0 from hlsd")
    redirect = header(upstream, "X-Accel-Redirect")
    if not redirect.startswith(SINGLE_SEGMENTS) or upstream.body or not header(through, "ETag"):
        raise RuntimeError(f"segment 0 was not sent by nginx: hlsd answered X-Accel-Redirect "
                           f"{redirect!r} with {len(upstream.body)} bytes")
    if through.body[:1] != b"G":
        raise RuntimeError("segment 0 is not MPEG-TS")
    plain.write_bytes(through.body)
    return path, len(through.body)


def _serving_line(bench: Bench, port: int, path: str, size: int, process: psutil.Process) -> Line:
    seconds = bench.pick(10, 3)
    cpu: list[float] = []  # hlsd's CPU seconds per request, each hlsd-path run
    served, alone = side_by_side(bench.repeats(3, 1), partial(_wrk_costed, port, path, seconds, process, cpu),
                                 partial(serving.wrk, port, "/plain/0.ts", seconds))

    def mb(loads: list[serving.Load]) -> str:
        return f"{sum(x.bytes_per_second for x in loads) / len(loads) / 1e6:,.0f} MB/s"

    return Line("12a", f"ready segment ({size / 1e6:.1f} MB) via nginx+hlsd (X-Accel-Redirect) "
                       "vs nginx alone", "req/s",
                Stats(tuple(x.requests_per_second for x in served)),
                Stats(tuple(x.requests_per_second for x in alone)), "nginx alone", SERVE_TARGET,
                errors=sum(x.errors for x in served + alone),
                note=(f"nginx-single.conf, wrk -t{serving.THREADS} -c{serving.CONNECTIONS} "
                      f"-d{seconds}s on the same nginx; hlsd path {mb(served)}, alone {mb(alone)}; "
                      f"hlsd CPU {statistics.median(cpu) * 1000:.2f} ms per request (p50)"))


def _wrk_costed(port: int, path: str, seconds: float, process: psutil.Process,
                cpu: list[float]) -> serving.Load:
    """``serving.wrk``, and hlsd's CPU time over the run per request it answered."""
    before = sum(process.cpu_times()[:2])
    load = serving.wrk(port, path, seconds)
    cpu.append((sum(process.cpu_times()[:2]) - before) / max(1.0, load.requests_per_second * seconds))
    return load


def _crowd_line(bench: Bench, front: Front, viewer: Client, path: str, size: int) -> Line:
    gets = bench.pick(40, 20)  # GETs are cheap; the crowd is opened once a round

    def timed() -> list[float]:
        times = []
        for _ in range(gets):
            reply = expect(viewer.get(path), 200, "viewer's segment")
            if len(reply.body) != size:
                raise RuntimeError(f"the viewer got {len(reply.body)} bytes, not {size}")
            times.append(reply.elapsed)
        return times

    def crowded() -> list[float]:
        with idle_connections(front, IDLE):
            return timed()

    busy, quiet = side_by_side(bench.repeats(5, 3), crowded, timed)
    return Line("12c", f"viewer's segment GET with {IDLE:,} idle connections to nginx / none", "s",
                Stats(tuple(t for r in busy for t in r)), Stats(tuple(t for r in quiet for t in r)),
                "no idle connections", CROWD_TARGET,
                note=(f"{len(busy)} rounds of {gets} sequential GETs of a {size / 1e6:.1f} MB "
                      "segment on one keep-alive connection; each idle client sent half a header"))


@contextmanager
def idle_connections(front: Front, count: int) -> Iterator[None]:
    """``count`` clients that connect, send half a request header, then nothing; held by
    nginx (checked before and after the body runs: none was dropped meanwhile). On exit,
    until nginx has closed them, so their closing does not fall into the next round."""
    with ExitStack() as stack:
        for _ in range(count):
            client = stack.enter_context(socket.create_connection(("127.0.0.1", front.port), timeout=5))
            client.sendall(b"GET /media HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        wait_until(lambda: front.held_connections() >= count, HOLD_TIMEOUT, 0.02,
                   f"nginx holding {count} connections")
        yield
        held = front.held_connections()
        if held < count:
            raise RuntimeError(f"nginx dropped idle connections during the round ({held} held)")
    wait_until(lambda: front.held_connections() <= 1, HOLD_TIMEOUT, 0.02,  # the viewer
               "nginx closing the idle connections")


# --- 12b: failover between 3 nodes behind nginx.conf -----------------------------------------

@contextmanager
def cluster_nodes(prefix: Path, media_root: Path, **overrides: Any) -> Iterator[dict[str, Server]]:
    """3 hlsd nodes on fixed free ports, one secret, ``hls.*`` overrides for each; name ->
    the node's current process
    (replaced when the row restarts one). ``prefix/var/cluster/<name>/work`` links to each
    node's work dir for nginx.conf's alias. Every node is ended by its pid at the end."""
    secret = secrets.token_hex(32)
    nodes: dict[str, Server] = {}
    try:
        for name in NODES:
            nodes[name] = hlsd.start(prefix, media_root, server={"port": free_port()},
                                     accel_redirect=f"/_segments/{name}/", session_secret=secret,
                                     scan="false", **overrides)
            link = prefix / "var" / "cluster" / name / "work"
            link.parent.mkdir(parents=True)
            link.symlink_to(nodes[name].work_dir)
        yield nodes
    finally:
        for server in nodes.values():
            _stop(server)


def _stop(server: Server) -> None:
    if server.process.poll() is not None:
        return
    try:
        server.stop(hlsd.STOP_TIMEOUT)
    except AssertionError as error:  # it needed SIGKILL: say so, the run goes on
        print(f"warning: {str(error).splitlines()[0]}", flush=True)


def _failover_line(bench: Bench) -> Line:
    prefix = bench.scratch / "front-cluster"
    (prefix / "var").mkdir(parents=True)
    gaps, moves, tally = [], [], {"errors": 0, "retries": 0}
    with ExitStack() as stack:
        nodes = stack.enter_context(cluster_nodes(prefix, bench.clips.root))
        upstreams = [server.url.removeprefix("http://") for server in nodes.values()]
        front = stack.enter_context(nginx(prefix, "nginx.conf", upstreams))  # ended first
        for _ in range(bench.repeats(5, 2)):
            gap, move = _failover_once(front, nodes, tally)
            gaps.append(gap)
            moves.append(move)
            _reap_orphans({front.process.pid, *(s.pid for s in nodes.values())})
    stats = Stats(tuple(gaps))
    return Line("12b", "failover gap: kill -9 of the serving node → next segment from another, "
                       "retried as hls.js 1.7 does", "s", stats, target=GAP_TARGET,
                errors=tally["errors"],
                note=(f"3 nodes behind nginx.conf, copy at {SPEED:g}x, killed before segment "
                      f"{KILL_AT}; the player retries as {hlsjs_retry.POLICY}; max "
                      f"{stats.max:.2f} s; {tally['retries']} retries in all; moves (retries of "
                      f"segment {KILL_AT}) {', '.join(moves)}"))


def _failover_once(front: Front, nodes: dict[str, Server], tally: dict[str, int]) -> tuple[float, str]:
    """One player, one kill; the gap and "victim→successor (its retries)"; the victim
    started again."""
    names = {server.instance: name for name, server in nodes.items()}
    with hlsjs_retry.player(front.port) as player:
        master = expect(player.get(hlsd.master_path(clips.SHORT.media_id, PROFILE)), 200, "master")
        token = header(master, "X-Session-Id")
        expect(player.get(f"/hls/{token}/{PROFILE}/index.m3u8"), 200, "variant")
        served = ""
        for number in range(KILL_AT):
            started = now()
            served = _fetch(player, token, number, tally)
            time.sleep(max(0.0, SEGMENT_SECONDS / SPEED - (now() - started)))
        victim = names[served]
        retries_before = tally["retries"]
        killed = now()
        nodes[victim].kill()  # SIGKILL by its pid, and reaped
        successor = names.get(_fetch(player, token, KILL_AT, tally), "?")
        gap = now() - killed
        if successor == victim:
            raise RuntimeError(f"segment {KILL_AT} came from the killed node {victim}")
        expect(player.request("DELETE", f"/api/v1/sessions/{token}"), 204, "stop the session")
    nodes[victim] = start_again(nodes[victim], hlsd.START_TIMEOUT)
    time.sleep(FAIL_TIMEOUT + 0.5)  # until nginx sends the restarted node requests again
    return gap, f"{victim}→{successor} ({tally['retries'] - retries_before})"


def _fetch(player: Client, token: str, number: int, tally: dict[str, int]) -> str:
    """Segment ``number`` as hls.js gets it (``hlsjs_retry``): a failed answer or a
    timeout retried after hls.js's delay; the node that sent it. ``tally`` counts the
    retries, and the errors (any failure but a 503, hlsd's "not made yet")."""
    path = hlsd.segment_path(token, PROFILE, number)
    for failures in itertools.count():
        try:
            reply: Reply | None = player.get(path)
        except TimeoutError:  # no headers within hls.js's first-byte timeout
            player.close()
            reply = None
        if reply is not None and reply.status == 200 and reply.body[:1] == b"G":
            return header(reply, "X-Hlsd-Node")
        if reply is None or reply.status != 503:
            tally["errors"] += 1
        try:
            delay = hlsjs_retry.next_delay(failures, reply)
        except hlsjs_retry.GaveUp as error:
            raise RuntimeError(f"segment {number}: the player gave up: {error}") from None
        tally["retries"] += 1
        time.sleep(delay)
    raise AssertionError("unreachable")


def _reap_orphans(known: set[int]) -> None:
    """FFmpeg of a killed node die with it (their death signal) and, as this process is a
    subreaper, come back to it as zombies: reaped here. ``known``: this row's own
    processes (nginx, the nodes), which their Popen objects reap."""
    for child in psutil.Process().children():
        try:
            if child.pid not in known and child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)
        except (psutil.NoSuchProcess, ChildProcessError):  # gone meanwhile
            continue
