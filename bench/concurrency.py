"""Row 7: many concurrent copy sessions, each read at a player's pace.

Two crowds, one after the other, each on a fresh hlsd: 100 sessions read at real time,
and 30 read at 4x real time (a player filling its buffer, or a viewer seeking ahead).
One client thread per session, each with its own keep-alive connection, as players
have: GET master -> GET variant -> segment n requested when playback reaches it
(segment n at the session's start + the playlist's durations before n, divided by the
pace). The sessions start spread over ``RAMP`` seconds; each crowd is bounded in time.

a), d) Segment latency, request sent -> last byte read, p50 and p99 over every session,
   of segments 1..n (targets: p99 <= 150 ms at 1x, <= 100 ms at 4x; and no error:
   any answer but 200, or none, for any request).
b), e) The same of segment 0, which includes FFmpeg's start (all of them within the
   ramp), retries included. A 503 is retried after its Retry-After, as players do (at
   most ``ATTEMPTS`` tries; the count is reported).
c) hlsd's own CPU (its process's user + system time; FFmpeg excluded) per session, in
   the steady state after every session started (target <= 0.05 % at 1x); and over the
   whole run.
"""
from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass, field

import psutil

from bench import clips, hlsd
from bench.common import Bench, Client, Line, Reply, Stats, Target, expect, now, percentile

PROFILE = "copy"
RAMP = 5.0
STEADY_AFTER = RAMP + 2.0  # every session started and its FFmpeg done remuxing
ATTEMPTS = 4
MAX_RETRY_AFTER = 5.0
JOIN_GRACE = 60.0  # a request may wait up to hls.segment_wait (20 s), plus the transfer

@dataclass(frozen=True)
class Crowd:
    """One configuration of the row: how many sessions, how fast they read, for how long."""

    rows: tuple[str, str, str | None]  # later segments, segment 0, CPU (None: not reported)
    sessions: int
    pace: float  # media seconds read per second
    duration: float
    later_p99: float  # the target for segments 1..n, seconds


CPU_TARGET = Target("max", 0.05, "hlsd", "≤ 0.05 % steady")


@dataclass
class Player:
    """One client thread's session and what it saw."""

    index: int
    session_id: str | None = None
    first: list[float] = field(default_factory=list)  # segment 0: includes FFmpeg's start
    latencies: list[float] = field(default_factory=list)  # every later segment
    splits: list[tuple[float, float]] = field(default_factory=list)  # its (latency, headers read)
    slowest: tuple[float, int, float] = (0.0, -1, 0.0)  # latency, segment, when sent
    retries: int = 0  # 503 answers to segment 0 retried after their Retry-After
    later_retries: int = 0  # the same, for later segments
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
    crowds = (Crowd(("7a", "7b", "7c"), *bench.pick((100, 1.0, 60.0), (30, 1.0, 20.0)), 0.150),
              Crowd(("7d", "7e", None), *bench.pick((30, 4.0, 20.0), (10, 4.0, 12.0)), 0.100))
    return [line for crowd in crowds for line in _run_crowd(bench, crowd)]


def _run_crowd(bench: Bench, crowd: Crowd) -> list[Line]:
    clip = clips.SMALL
    players = [Player(i) for i in range(crowd.sessions)]
    with hlsd.running(bench.scratch, bench.clips.root, max_sessions=crowd.sessions + 20,
                      idle_timeout=crowd.duration + 60) as server:
        port = hlsd.port(server)
        _warm_up(port, clip.media_id)
        started = now()
        cpu, hung = _play_all(players, port, clip.media_id, psutil.Process(server.pid), started, crowd)
        _delete_all(port, players)
    return _lines(players, hung, cpu, started, crowd)


def _play_all(players: list[Player], port: int, media_id: str, hlsd_process: psutil.Process,
              started: float, crowd: Crowd) -> tuple[Cpu, list[str]]:
    """Run every player's thread until ``duration``; hlsd's CPU, and the threads that hung."""
    stop = threading.Event()
    cpu_start = _cpu(hlsd_process)
    threads = [threading.Thread(target=_play, name=f"player-{p.index}",
                                args=(p, port, media_id, started + p.index * RAMP / len(players),
                                      started + crowd.duration, crowd.pace, stop))
               for p in players]
    for thread in threads:
        thread.start()
    stop.wait(STEADY_AFTER)
    cpu_steady, steady_started = _cpu(hlsd_process), now()
    stop.wait(max(0.0, started + crowd.duration - now()))
    cpu_end, ended = _cpu(hlsd_process), now()
    stop.set()
    for thread in threads:
        thread.join(max(0.1, ended + JOIN_GRACE - now()))
    hung = [t.name for t in threads if t.is_alive()]
    return Cpu(cpu_start, cpu_steady, cpu_end, ended - steady_started, ended - started), hung


def _lines(players: list[Player], hung: list[str], cpu: Cpu, started: float,
           crowd: Crowd) -> list[Line]:
    latencies = [x for p in players for x in p.latencies]
    first = [x for p in players for x in p.first]
    errors = [e for p in players for e in p.errors] + [f"{name} hung" for name in hung]
    setting = f"{len(players)} sessions at {crowd.pace:g}x real time, {crowd.duration:g} s"
    slow_latency, slow_number, slow_sent = max(p.slowest for p in players)
    slowest = (f"; slowest: segment {slow_number}, sent {slow_sent - started:.1f} s into the run, "
               f"{slow_latency * 1000:.0f} ms") if slow_number >= 0 else ""
    first_error = f"; first error: {errors[0]}" if errors else ""
    retries = sum(p.retries for p in players)
    later_retries = sum(p.later_retries for p in players)
    steady, whole = cpu.percent(len(players))
    later_row, first_row, cpu_row = crowd.rows
    splits = sorted(x for p in players for x in p.splits)
    tail = splits[len(splits) - max(1, len(splits) // 100):] if splits else []
    where = (f"; the slowest 1 % (n={len(tail)}): headers after p50 "
             f"{percentile([h for _, h in tail], 50) * 1000:.0f} ms, the body "
             f"{percentile([t - h for t, h in tail], 50) * 1000:.0f} ms more") if tail else ""
    p99 = crowd.later_p99 * 1000
    lines = [
        Line(later_row, f"concurrency at {crowd.pace:g}x: latency of segments 1..n",
             hlsd=Stats(tuple(latencies)) if latencies else None, value=_latency(latencies),
             target=Target("p99", crowd.later_p99, "hlsd", f"p99 ≤ {p99:.0f} ms, 0 errors"),
             errors=len(errors),
             note=f"{setting}; {later_retries} answers were 503 + Retry-After, retried{slowest}{where}"
                  f"{first_error}"),
        Line(first_row, f"concurrency at {crowd.pace:g}x: latency of segment 0 (FFmpeg starting)",
             value=_latency(first),
             note=f"{setting}, started within {RAMP:g} s; {retries} answers were 503 + Retry-After, retried"),
    ]
    if cpu_row is not None:
        lines.append(Line(cpu_row, f"concurrency at {crowd.pace:g}x: hlsd CPU per session", "%",
                          hlsd=Stats((steady,)), value=f"{steady:.3f} % steady, {whole:.3f} % whole run",
                          target=CPU_TARGET, note=setting))
    return lines


def _latency(values: list[float]) -> str:
    if not values:
        return "none"
    return (f"p50 {percentile(values, 50) * 1000:.1f} ms / p99 {percentile(values, 99) * 1000:.1f} ms "
            f"(n={len(values)})")


def _play(player: Player, port: int, media_id: str, start_at: float, end_at: float,
          pace: float, stop: threading.Event) -> None:
    if stop.wait(max(0.0, start_at - now())):
        return
    try:
        with Client(port) as client:
            master = expect(client.get(hlsd.master_path(media_id, PROFILE)), 200, "master")
            player.session_id = master.headers["X-Session-Id"]
            playlist_path = f"/hls/{player.session_id}/{PROFILE}/index.m3u8"
            playlist = expect(client.get(playlist_path), 200, "variant").body.decode()
            for number, (due, uri) in enumerate(_schedule(playlist, playlist_path, now(), pace)):
                if stop.wait(max(0.0, due - now())) or now() >= end_at:
                    return
                sent = now()
                reply = _get_with_retries(client, uri, player, stop, later=number > 0)
                if reply.status == 200 and reply.body:
                    latency = now() - sent  # retries included: what the viewer waited
                    (player.latencies if number else player.first).append(latency)
                    if number:
                        player.slowest = max(player.slowest, (latency, number, sent))
                        player.splits.append((latency, latency - reply.elapsed + reply.first_byte))
                else:
                    player.errors.append(f"{uri}: HTTP {reply.status} {reply.body[:120]!r}")
    except Exception as error:  # counted, not raised: one player's failure is a data point
        player.errors.append(f"{type(error).__name__}: {error}")


def _get_with_retries(client: Client, uri: str, player: Player, stop: threading.Event,
                      later: bool) -> Reply:
    """GET, and after a 503 wait its Retry-After and try again, as players do (bounded)."""
    for _ in range(ATTEMPTS):
        reply = client.get(uri)
        if reply.status != 503:
            break
        if later:
            player.later_retries += 1
        else:
            player.retries += 1
        if stop.wait(min(float(reply.headers.get("Retry-After", 1)), MAX_RETRY_AFTER)):
            break
    return reply


def _schedule(playlist: str, base: str, started: float, pace: float) -> list[tuple[float, str]]:
    """(when playback reaches it, path) for every segment of a VOD playlist read at
    ``pace``; its URIs resolved against the playlist's path ``base``."""
    schedule, position = [], 0.0
    duration = 0.0
    for line in playlist.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line.removeprefix("#EXTINF:").split(",")[0])
        elif line and not line.startswith("#"):
            schedule.append((started + position / pace, urllib.parse.urljoin(base, line)))
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
