"""Rows 15a, 15b: viewers of one film at one rendition share one transcode (the segment store).

Each viewer plays ``clips.SHORT`` (60 s, 1280x720) at 480p over HTTP as a player does:
``GET /media/{id}/master.m3u8?profile=480p`` opens its session, then it fetches segment n
once n segments' worth of film divided by ``PACE`` has passed since its start (and the
segment before is in; a 503 is retried after its ``Retry-After``), and stops its session
(``DELETE``) at the end. Viewers start ``STAGGER`` s apart.

FFmpeg CPU is what hlsd's FFmpeg processes used: the children's user + system CPU time of
each hlsd process, which reaps every FFmpeg it starts (each session is deleted, so its
FFmpeg is reaped, before it is read), from before the first viewer to after the last.
The baseline is the same film played by one viewer on a fresh hlsd (fresh nodes): the
ratio is "transcodes paid for N viewers" (1.0: one transcode served everyone).

15a one hlsd (production.ini), 4 viewers. Target ≤ 1.3.
15b ``make cluster``'s shape: nginx (``config/nginx.conf`` as shipped) in front of 3
nodes, 10 viewers. Target ≤ 1.5. As shipped, nginx sends a new session to the least
busy node, not by a hash on the media: viewers of one film are spread over the nodes and
each node transcodes for its own; the row measures that, and names the nodes used.

Every hlsd and nginx is ended by its pid.
"""
from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable, Iterator

import psutil

from bench import clips, hlsd
from bench.common import Bench, Client, Line, Reply, Stats, Target, expect, now
from bench.front import cluster_nodes, header, nginx

PROFILE = "480p"
PACE = 2.0  # film seconds fetched per second
STAGGER = 3.0
SEGMENT_SECONDS = 4.0  # production.ini's hls.segment_seconds (the default)
ATTEMPTS = 60  # 503 answers retried per segment before the viewer counts an error
MAX_RETRY = 1.0
VIEWER_TIMEOUT = 300.0
ONE_NODE_TARGET = Target("p50", 1.3, text="ratio p50 ≤ 1.3")
CLUSTER_TARGET = Target("p50", 1.5, text="ratio p50 ≤ 1.5")
STORE = "4G"  # the shipped default: the bench's other rows run without a store


def run(bench: Bench) -> list[Line]:
    return [run_one_node(bench), run_cluster(bench)]


def run_one_node(bench: Bench) -> Line:
    crowd, alone, notes, errors = _measure(bench, 4, _one_node)
    return Line("15a", f"FFmpeg CPU of 4 viewers of one film at {PROFILE}, {STAGGER:g} s apart, "
                       f"{PACE:g}x", "s", crowd, alone, "1 viewer", ONE_NODE_TARGET,
                errors=errors, note=notes)


def run_cluster(bench: Bench) -> Line:
    crowd, alone, notes, errors = _measure(bench, 10, _cluster)
    return Line("15b", f"FFmpeg CPU of 10 viewers of one film at {PROFILE}, nginx.conf + 3 nodes",
                "s", crowd, alone, "1 viewer", CLUSTER_TARGET, errors=errors,
                note=f"nginx.conf as shipped (a new session on the least busy node, its "
                     f"requests on the node its media key hashes to); {notes}")


@dataclass
class Viewer:
    """One player thread's session and what it saw."""

    index: int
    nodes: set[str] = field(default_factory=set)
    retries: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Played:
    """What one crowd cost: FFmpeg CPU seconds, the nodes that served it, its viewers, and
    the FFmpeg runs that made a segment (``hlsd_time_to_first_segment_seconds``' count)."""

    cpu: float
    nodes: set[str]
    viewers: list[Viewer]
    runs: int


Serving = Callable[[Bench, str, int], Played]


def _measure(bench: Bench, viewers: int, serve: Serving) -> tuple[Stats, Stats, str, int]:
    """FFmpeg CPU of ``viewers`` and of 1 viewer (each on fresh nodes), notes, errors."""
    costs, alones, notes, errors = [], [], [], 0
    for round_ in range(bench.repeats(1, 1)):
        alone = serve(bench, f"{round_}-1", 1)
        shared = serve(bench, f"{round_}-{viewers}", viewers)
        costs.append(shared.cpu)
        alones.append(alone.cpu)
        everyone = alone.viewers + shared.viewers
        errors += sum(len(v.errors) for v in everyone)
        notes.append(f"FFmpeg CPU {alone.cpu:.1f} s for 1 viewer ({alone.runs} FFmpeg run(s)), "
                     f"{shared.cpu:.1f} s for {viewers} ({shared.runs} FFmpeg run(s)) on "
                     f"{len(shared.nodes)} node(s) ({', '.join(sorted(shared.nodes))}); "
                     f"{sum(v.retries for v in shared.viewers)} retries")
        first_error = next((e for v in everyone for e in v.errors), None)
        if first_error:
            notes.append(f"first error: {first_error}")
    return Stats(tuple(costs)), Stats(tuple(alones)), "; ".join(notes), errors


def _one_node(bench: Bench, name: str, count: int) -> Played:
    with hlsd.running(bench.scratch / f"shared-{name}", bench.clips.root, scan="false",
                      segment_store_bytes=STORE) as server:
        processes = [psutil.Process(server.pid)]
        before = _ffmpeg_cpu(processes)
        crowd = _play(hlsd.port(server), count)
        return Played(_ffmpeg_cpu(processes) - before, _used(crowd), crowd, _runs([server.url]))


def _cluster(bench: Bench, name: str, count: int) -> Played:
    prefix = bench.scratch / f"shared-cluster-{name}"
    (prefix / "var").mkdir(parents=True)
    with ExitStack() as stack:
        nodes = stack.enter_context(cluster_nodes(prefix, bench.clips.root, segment_store_bytes=STORE))
        upstreams = [server.url.removeprefix("http://") for server in nodes.values()]
        front = stack.enter_context(nginx(prefix, "nginx.conf", upstreams))  # ended first
        processes = [psutil.Process(server.pid) for server in nodes.values()]
        before = _ffmpeg_cpu(processes)
        crowd = _play(front.port, count)
        names = {server.instance: name for name, server in nodes.items()}
        return Played(_ffmpeg_cpu(processes) - before, {names.get(n, n) for n in _used(crowd)},
                      crowd, _runs([server.url for server in nodes.values()]))


def _runs(urls: list[str]) -> int:
    """FFmpeg runs that made a segment, on the nodes at ``urls``."""
    count = 0.0
    for url in urls:
        with Client(int(url.rsplit(":", 1)[1])) as operator:
            count += hlsd.first_segment_metric(operator)[1]
    return round(count)


def _ffmpeg_cpu(processes: list[psutil.Process]) -> float:
    """CPU seconds of the reaped children (FFmpeg, ffprobe) of ``processes``."""
    return sum(p.cpu_times().children_user + p.cpu_times().children_system for p in processes)


def _used(crowd: list[Viewer]) -> set[str]:
    return {node for viewer in crowd for node in viewer.nodes}


def _play(port: int, count: int) -> list[Viewer]:
    crowd = [Viewer(i) for i in range(count)]
    threads = [threading.Thread(target=_watch, args=(port, viewer), daemon=True) for viewer in crowd]
    for thread in threads:
        thread.start()
        time.sleep(STAGGER)
    deadline = now() + VIEWER_TIMEOUT
    for thread, viewer in zip(threads, crowd):
        thread.join(max(0.0, deadline - now()))
        if thread.is_alive():
            viewer.errors.append(f"viewer {viewer.index} still playing after {VIEWER_TIMEOUT:g} s")
    return crowd


def _watch(port: int, viewer: Viewer) -> None:
    segments = round(clips.SHORT.seconds / SEGMENT_SECONDS)
    try:
        with Client(port) as player:
            master = expect(player.get(hlsd.master_path(clips.SHORT.media_id, PROFILE)), 200, "master")
            token = header(master, "X-Session-Id")
            expect(player.get(f"/hls/{token}/{PROFILE}/index.m3u8"), 200, "variant")
            started = now()
            for number in _due(started, segments):
                viewer.nodes.add(_fetch(player, token, number, viewer))
            expect(player.request("DELETE", f"/api/v1/sessions/{token}"), 204, "stop the session")
    except Exception as error:  # one viewer's failure is counted, the others go on
        viewer.errors.append(f"viewer {viewer.index}: {type(error).__name__}: {error}")


def _due(started: float, segments: int) -> Iterator[int]:
    """Segment numbers, each once the viewer's playback at ``PACE`` reaches it."""
    for number in range(segments):
        time.sleep(max(0.0, started + number * SEGMENT_SECONDS / PACE - now()))
        yield number


def _fetch(player: Client, token: str, number: int, viewer: Viewer) -> str:
    """Segment ``number`` (a 503 retried after its Retry-After); the node that sent it."""
    path = hlsd.segment_path(token, PROFILE, number)
    for _ in range(ATTEMPTS):
        reply: Reply = player.get(path)
        if reply.status == 200 and reply.body[:1] == b"G":
            return header(reply, "X-Hlsd-Node")
        if reply.status != 503:
            raise RuntimeError(f"segment {number}: HTTP {reply.status} {reply.body[:200]!r}")
        viewer.retries += 1
        time.sleep(min(float(header(reply, "Retry-After") or MAX_RETRY), MAX_RETRY))
    raise RuntimeError(f"segment {number}: still 503 after {ATTEMPTS} tries")
