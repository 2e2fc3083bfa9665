"""Row 4: idle timeout precision -- last request -> FFmpeg gone, minus ``hls.idle_timeout``.

A session plays segment 0 of a 720p transcode (so FFmpeg is running, or suspended
ahead of the player), then makes one last request (a playlist GET, a heartbeat too) and
falls silent. Measured from sending that request until FFmpeg has exited (its pidfd)
and been reaped (the pid is gone), minus the idle timeout. That includes FFmpeg's own
exit after SIGTERM (tens of ms for a transcode, see row 3): the note gives that part, from
hlsd's ``hlsd_ffmpeg_stop_latency_seconds`` metric.
"""
from __future__ import annotations

import os
import statistics

from bench import clips, hlsd
from bench.common import (
    Bench,
    Client,
    Line,
    Stats,
    Target,
    expect,
    now,
    pidfd,
    wait_exited,
    wait_reaped,
)

PROFILE = "720p"
IDLE_TIMEOUT = 3.0
DEADLINE = IDLE_TIMEOUT + 10.0  # beyond it, FFmpeg outlived the idle timeout: an error
TARGET = Target("max", 1.0, "hlsd", "max ≤ 1 s")


def run(bench: Bench) -> list[Line]:
    clip = clips.SHORT
    late, stopping, errors = [], [], 0
    with hlsd.running(bench.scratch, bench.clips.root, idle_timeout=IDLE_TIMEOUT) as server:
        port = hlsd.port(server)
        for _ in range(bench.repeats(6, 2)):
            with Client(port) as client:
                session_id, _, _ = hlsd.first_segment_over_http(client, clip.media_id, PROFILE)
                pid = hlsd.ffmpeg_pid(client, session_id)
                fd = pidfd(pid)
                if fd is None:
                    errors += 1  # FFmpeg ended before the idle timeout could end it
                    continue
                try:
                    stops_before = hlsd.stop_metric(client)
                    last_request = now()
                    expect(client.get(f"/hls/{session_id}/{PROFILE}/index.m3u8"), 200, "playlist")
                    exited = wait_exited({pid: fd}, last_request + DEADLINE)
                finally:
                    os.close(fd)
                reaped = wait_reaped(pid, 2.0) if exited else None
                if reaped is None:
                    errors += 1
                    continue
                late.append(reaped - last_request - IDLE_TIMEOUT)
                stopping.append(hlsd.stop_time_since(client, stops_before))
    note = f"idle_timeout {IDLE_TIMEOUT:g} s, {PROFILE}"
    if stopping:
        note += (f"; of it FFmpeg's stop (SIGTERM → reaped, hlsd's metric) p50 "
                 f"{statistics.median(stopping) * 1000:.0f} ms, max {max(stopping) * 1000:.0f} ms")
    return [Line("4", "idle timeout: last request → FFmpeg reaped, minus idle_timeout", "s",
                 Stats(tuple(late)) if late else None, target=TARGET, errors=errors, note=note)]

