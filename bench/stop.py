"""Row 3: stop latency -- ``DELETE /api/v1/sessions/{id}`` until 204, FFmpeg reaped.

a), b) A cooperative FFmpeg, running: segment 0 read, the rest being made -- a remux
   (``copy``) of the 10-minute clip, and a 720p transcode. Baseline: FFmpeg alone with
   the same arguments, SIGTERM -> exited and reaped. (On SIGTERM FFmpeg flushes its
   encoder and writes the last segment: a transcode takes tens of ms by itself.)
c) FFmpeg ignoring SIGTERM (``tests/fakes/ffmpeg-ignoring-sigterm`` as ``hls.ffmpeg``):
   the 204 must wait for ``hls.kill_grace``, then SIGKILL, then the reap.

After each 204 the FFmpeg pid must no longer exist (not even as a zombie); one that
does counts as an error.
"""
from __future__ import annotations

import statistics

import psutil

from bench import clips, ffmpeg_alone, hlsd
from bench.common import REPO, Bench, Client, Line, Stats, Target, expect, wait_until
from bench.ffmpeg_alone import Recipe

COOPERATIVE_RUNS = ((clips.LONG, "copy"), (clips.SHORT, "720p"))
IGNORING_SIGTERM = REPO / "tests" / "fakes" / "ffmpeg-ignoring-sigterm"
KILL_GRACE = 2.0
# A remux stops in a few ms: its old absolute target stays. A running 720p encode stops
# when FFmpeg has flushed, so its target is FFmpeg's own SIGTERM -> exit.
COOPERATIVE = {"copy": Target("p50", 0.050, "hlsd", "p50 ≤ 50 ms"),
               "720p": Target("p50", 1.10, text="ratio p50 ≤ 1.10")}
STUBBORN = Target("max", KILL_GRACE + 0.100, "hlsd", f"max ≤ kill_grace + 100 ms = {KILL_GRACE + 0.1:g} s")


def run(bench: Bench) -> list[Line]:
    config = ffmpeg_alone.settings(bench.clips.root, bench.scratch / "unused")
    with hlsd.running(bench.scratch, bench.clips.root) as server:
        lines = [_cooperative(bench, hlsd.port(server), Recipe.plan(config, bench.clips.path(clip), profile),
                              clip, f"3{letter}")
                 for letter, (clip, profile) in zip("ab", COOPERATIVE_RUNS)]
    return [*lines, _ignoring_sigterm(bench)]


def _cooperative(bench: Bench, port: int, recipe: Recipe, clip: clips.Clip, row: str) -> Line:
    profile = recipe.profile.name
    stops, inside, own, alone, survivors, live = [], [], [], [], 0, 0
    for _ in range(bench.repeats(12, 3)):
        with Client(port) as client:
            session_id, _, _ = hlsd.first_segment_over_http(client, clip.media_id, profile)
            pid = hlsd.session_state(client, session_id)["transcoder_pid"]
            running = pid is not None and psutil.pid_exists(pid)
            live += running
            before = hlsd.stop_metric(client)
            stops.append(hlsd.delete_session(client, session_id))
            survivors += running and psutil.pid_exists(pid)
            if running:
                inside.append(hlsd.stop_time_since(client, before))
                own.append(stops[-1] - inside[-1])
        alone.append(ffmpeg_alone.stop_latency(recipe, bench.scratch))
    return Line(row, f"stop, cooperative FFmpeg ({profile}, running)", "s", Stats(tuple(stops)),
                Stats(tuple(alone)), "FFmpeg alone SIGTERM→reaped", COOPERATIVE[profile], errors=survivors,
                note=f"FFmpeg alive at the DELETE {live}/{len(stops)}; of it FFmpeg's stop inside "
                     f"hlsd (SIGTERM → reaped, its metric) p50 {_ms(inside)}; hlsd's own share "
                     f"(each DELETE minus its FFmpeg's stop) p50 {_ms(own)}")


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms" if values else "—"


def _ignoring_sigterm(bench: Bench) -> Line:
    clip = clips.SHORT
    repeats = bench.repeats(5, 2)
    stops, survivors = [], 0
    with hlsd.running(bench.scratch, bench.clips.root, ffmpeg=IGNORING_SIGTERM,
                      kill_grace=KILL_GRACE) as server:
        port = hlsd.port(server)
        for _ in range(repeats):
            with Client(port) as client:
                session_id = expect(client.get(hlsd.master_path(clip.media_id, "copy")), 200,
                                    "master").headers["X-Session-Id"]
                pid = hlsd.start_ffmpeg(client, session_id, "copy")
                # Its trap is set once the script has exec'd sleep: only then does it ignore SIGTERM.
                wait_until(lambda: _name(pid) == "sleep", 5.0, 0.002, "the fake FFmpeg's trap")
                stops.append(hlsd.delete_session(client, session_id))
                survivors += psutil.pid_exists(pid)
    return Line("3c", "stop, FFmpeg ignoring SIGTERM", "s", Stats(tuple(stops)), target=STUBBORN,
                errors=survivors, note=f"kill_grace {KILL_GRACE:g} s")


def _name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except psutil.NoSuchProcess:
        return "gone"
