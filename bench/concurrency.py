"""Row 7: 100 concurrent copy sessions, each read at real-time pace.

One client thread per session, each with its own keep-alive connection, as players
have: GET master -> GET variant -> segment n requested when playback reaches it
(segment n at the session's start + the playlist's durations before n). The sessions
start spread over ``RAMP`` seconds; the run is bounded by ``duration``.

a), b) Segment latency, request sent -> last byte read, p50 and p99 over every session:
   segments 1..n, and segment 0 (which includes FFmpeg's start, 100 of them within the
   ramp), retries included. A 503 is retried after its Retry-After, as players do (at
   most ``ATTEMPTS`` tries; the count is reported). Errors: any other answer but 200, or
   none, for any request.
c) hlsd's own CPU (its process's user + system time; FFmpeg excluded) per session, in
   the steady state after every session started; and over the whole run.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psutil

from bench import clips, hlsd
from bench.common import Bench, Client, Line, Reply, Target, expect, now, percentile

PROFILE = "copy"
RAMP = 5.0
STEADY_AFTER = RAMP + 2.0  # every session started and its FFmpeg done remuxing
ATTEMPTS = 4
MAX_RETRY_AFTER = 5.0
JOIN_GRACE = 60.0  # a request may wait up to hls.segment_wait (20 s), plus the transfer
TARGET = Target("max", 0, "errors", "0 errors")


@dataclass
class Player:
    """One client thread's session and what it saw."""

    index: int
    session_id: str | None = None
    first: list[float] = field(default_factory=list)  # segment 0: includes FFmpeg's start
    latencies: list[float] = field(default_factory=list)  # every later segment
    slowest: tuple[float, int, float] = (0.0, -1, 0.0)  # latency, segment, when sent
    retries: int = 0  # 503 answers retried after their Retry-After
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Cpu:
    """hlsd's CPU seconds (user + system) at the start, once steady, and at the end."""

    start: float
    steady: float
    end: float
    steady_seconds: float
    seconds: float

    def percent(self, sessions: int) -> tuple[float, float]:
        """Per session: (steady state, whole run)."""
        return (100 * (self.end - self.steady) / self.steady_seconds / sessions,
                100 * (self.end - self.start) / self.seconds / sessions)


def run(bench: Bench) -> list[Line]:
    sessions, duration = bench.pick((100, 60.0), (30, 20.0))
    clip = clips.SMALL
    players = [Player(i) for i in range(sessions)]
    with hlsd.running(bench.scratch, bench.clips.root, max_sessions=sessions + 20,
                      idle_timeout=duration + 60) as server:
        port = hlsd.port(server)
        _warm_up(port, clip.media_id)
        started = now()
        cpu, hung = _play_all(players, port, clip.media_id, psutil.Process(server.pid), started, duration)
        _delete_all(port, players)
    return _lines(players, hung, cpu, started, duration)


def _play_all(players: list[Player], port: int, media_id: str, hlsd_process: psutil.Process,
              started: float, duration: float) -> tuple[Cpu, list[str]]:
    """Run every player's thread until ``duration``; hlsd's CPU, and the threads that hung."""
    stop = threading.Event()
    cpu_start = _cpu(hlsd_process)
    threads = [threading.Thread(target=_play, name=f"player-{p.index}",
                                args=(p, port, media_id, started + p.index * RAMP / len(players),
                                      started + duration, stop))
               for p in players]
    for thread in threads:
        thread.start()
    stop.wait(STEADY_AFTER)
    cpu_steady, steady_started = _cpu(hlsd_process), now()
    stop.wait(max(0.0, started + duration - now()))
    cpu_end, ended = _cpu(hlsd_process), now()
    stop.set()
    for thread in threads:
        thread.join(max(0.1, ended + JOIN_GRACE - now()))
    hung = [t.name for t in threads if t.is_alive()]
    return Cpu(cpu_start, cpu_steady, cpu_end, ended - steady_started, ended - started), hung


def _lines(players: list[Player], hung: list[str], cpu: Cpu, started: float,
           duration: float) -> list[Line]:
    latencies = [x for p in players for x in p.latencies]
    first = [x for p in players for x in p.first]
    errors = [e for p in players for e in p.errors] + [f"{name} hung" for name in hung]
    setting = f"{len(players)} sessions, {duration:g} s"
    slow_latency, slow_number, slow_sent = max(p.slowest for p in players)
    slowest = (f"; slowest: segment {slow_number}, sent {slow_sent - started:.1f} s into the run, "
               f"{slow_latency * 1000:.0f} ms") if slow_number >= 0 else ""
    first_error = f"; first error: {errors[0]}" if errors else ""
    retries = sum(p.retries for p in players)
    steady, whole = cpu.percent(len(players))
    return [
        Line("7a", "concurrency: latency of segments 1..n", value=_latency(latencies),
             target=TARGET, errors=len(errors), note=setting + slowest + first_error),
        Line("7b", "concurrency: latency of segment 0 (FFmpeg starting)", value=_latency(first),
             note=f"{setting}, started within {RAMP:g} s; {retries} answers were 503 + Retry-After, retried"),
        Line("7c", "concurrency: hlsd CPU per session", value=f"{steady:.3f} % steady, {whole:.3f} % whole run",
             note=setting),
    ]


def _latency(values: list[float]) -> str:
    if not values:
        return "none"
    return (f"p50 {percentile(values, 50) * 1000:.1f} ms / p99 {percentile(values, 99) * 1000:.1f} ms "
            f"(n={len(values)})")


def _play(player: Player, port: int, media_id: str, start_at: float, end_at: float,
          stop: threading.Event) -> None:
    if stop.wait(max(0.0, start_at - now())):
        return
    try:
        with Client(port) as client:
            master = expect(client.get(hlsd.master_path(media_id, PROFILE)), 200, "master")
            player.session_id = master.headers["X-Session-Id"]
            playlist = expect(client.get(f"/hls/{player.session_id}/{PROFILE}/index.m3u8"), 200,
                              "variant").body.decode()
            for number, (due, uri) in enumerate(_schedule(playlist, now())):
                if stop.wait(max(0.0, due - now())) or now() >= end_at:
                    return
                sent = now()
                reply = _get_with_retries(client, uri, player, stop)
                if reply.status == 200 and reply.body:
                    latency = now() - sent  # retries included: what the viewer waited
                    (player.latencies if number else player.first).append(latency)
                    if number:
                        player.slowest = max(player.slowest, (latency, number, sent))
                else:
                    player.errors.append(f"{uri}: HTTP {reply.status} {reply.body[:120]!r}")
    except Exception as error:  # counted, not raised: one player's failure is a data point
        player.errors.append(f"{type(error).__name__}: {error}")


def _get_with_retries(client: Client, uri: str, player: Player, stop: threading.Event) -> Reply:
    """GET, and after a 503 wait its Retry-After and try again, as players do (bounded)."""
    for _ in range(ATTEMPTS):
        reply = client.get(uri)
        if reply.status != 503:
            break
        player.retries += 1
        if stop.wait(min(float(reply.headers.get("Retry-After", 1)), MAX_RETRY_AFTER)):
            break
    return reply


def _schedule(playlist: str, started: float) -> list[tuple[float, str]]:
    """(when playback reaches it, uri) for every segment of a VOD playlist."""
    schedule, position = [], 0.0
    duration = 0.0
    for line in playlist.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line.removeprefix("#EXTINF:").split(",")[0])
        elif line and not line.startswith("#"):
            schedule.append((started + position, line))
            position += duration
    return schedule


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _warm_up(port: int, media_id: str) -> None:
    with Client(port) as client:
        hlsd.delete_session(client, hlsd.open_session(client, media_id, PROFILE))


def _delete_all(port: int, players: list[Player]) -> None:
    with Client(port) as client:
        for player in players:
            if player.session_id is not None:
                reply = client.request("DELETE", f"/api/v1/sessions/{player.session_id}")
                if reply.status not in (204, 404):
                    player.errors.append(f"DELETE: HTTP {reply.status}")
