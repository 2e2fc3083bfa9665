"""Row 15: a crowd pressing play.

d) 100 players of one ``copy`` clip start within 1 s, each on its own connection:
   master -> media playlist -> segment 0, as a player's first second is. Every answer
   that is not 200 counts (target 0): a full wait limit, a short thread pool or a slow
   session start would show as 503s here. hlsd runs with ``hls.max_sessions`` = the
   crowd and the rest of its sizing at the defaults derived from it (waitress
   ``threads`` = ``Settings.server_threads``). The note gives segment 0's latency.
"""
from __future__ import annotations

import threading
import urllib.parse

from actors.settings import Settings
from bench import clips, hlsd
from bench.common import Bench, Client, Line, Stats, Target, now, percentile

PLAYERS = 100
WITHIN = 1.0
PROFILE = "copy"


def run(bench: Bench) -> list[Line]:
    players = bench.pick(PLAYERS, 30)
    threads = Settings(media_root=bench.clips.root, work_dir=bench.scratch,
                       max_sessions=players).server_threads
    refused: list[str] = []
    firsts: list[float] = []
    sessions: list[str] = []
    with hlsd.running(bench.scratch, bench.clips.root, max_sessions=players,
                      server={"threads": threads}) as server:
        port = hlsd.port(server)
        begin = now() + 0.5
        crowd = [threading.Thread(target=_play, args=(port, begin + i * WITHIN / players, refused,
                                                      firsts, sessions)) for i in range(players)]
        for player in crowd:
            player.start()
        for player in crowd:
            player.join(120)
        refused += ["a player hung" for player in crowd if player.is_alive()]
        with Client(port) as client:
            for session in sessions:
                client.request("DELETE", f"/api/v1/sessions/{session}")
    first_error = f"; first: {refused[0]}" if refused else ""
    latency = (f"; segment 0 p50 {percentile(firsts, 50) * 1000:.0f} ms, "
               f"p99 {percentile(firsts, 99) * 1000:.0f} ms") if firsts else ""
    return [Line("15d", f"{players} players, copy, pressing play within {WITHIN:g} s: non-200 answers",
                 "count", hlsd=Stats((float(len(refused)),)), value=f"{len(refused)} of {3 * players}",
                 target=Target("max", 0, "hlsd", "0"), errors=len(refused),
                 note=f"waitress threads {threads} (2 x max_sessions + 16){latency}{first_error}")]


def _play(port: int, start_at: float, refused: list[str], firsts: list[float],
          sessions: list[str]) -> None:
    threading.Event().wait(max(0.0, start_at - now()))
    try:
        with Client(port) as client:
            master = client.get(hlsd.master_path(clips.SMALL.media_id, PROFILE))
            if master.status != 200:
                refused.append(f"master: HTTP {master.status}")
                return
            session = master.headers["X-Session-Id"]
            sessions.append(session)
            path = f"/hls/{session}/{PROFILE}/index.m3u8"
            playlist = client.get(path)
            if playlist.status != 200:
                refused.append(f"playlist: HTTP {playlist.status}")
                return
            first = next(line for line in playlist.body.decode().splitlines() if line and line[0] != "#")
            sent = now()
            segment = client.get(urllib.parse.urljoin(path, first))
            if segment.status != 200:
                refused.append(f"segment 0: HTTP {segment.status} {segment.body[:80]!r}")
                return
            firsts.append(now() - sent)
    except Exception as error:  # counted: one player's failure is a data point
        refused.append(f"{type(error).__name__}: {error}")
