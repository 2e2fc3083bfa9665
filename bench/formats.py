"""Row 14: a 4K HEVC Main 10 PQ film, transcoded and passed through.

The film: ``FILM`` (3840x2160 24 fps HEVC Main 10, PQ/BT.2020 tags, a keyframe every
2 s, closed GOPs, stereo AAC), generated once into ``bench/out/media-formats`` at a
modest bit rate (testsrc2 is easy to compress), hlsd's media root for this row. Its plan
offers ``copy`` (the passthrough variant, fMP4) and the tone-mapped H.264 renditions.

14a the 720p rendition's FFmpeg, with exactly hlsd's arguments (``media.recipe_for``:
decode, zscale tone map, x264) run alone over the whole film: its speed, film seconds
per wall second (× real time). Reported, no target: it is what the CPU allows.

14b CPU per second of film: hlsd serving the passthrough variant (a session reading
every ``copy`` segment as fast as served; the CPU of hlsd's reaped FFmpeg children,
after one session has made hlsd probe the film and make its init) against 14a's run
(the CPU of the 720p recipe). Target ≤ 0.02.

14c first segment, cold: a new session each time, master -> copy playlist -> init.mp4
-> segment 0 read to its last byte, against FFmpeg alone running the same copy recipe
until segment 0 is listed. Target ≤ 1.1.

Every hlsd is ended by its pid; every FFmpeg alone is stopped and reaped by its pid.
"""
from __future__ import annotations

import os
import tempfile
import time
import urllib.parse
from functools import partial
from pathlib import Path

import psutil

from actors import media
from bench import ffmpeg_alone, hlsd
from bench.common import (
    OUT,
    Bench,
    Client,
    Line,
    Stats,
    Target,
    expect,
    generate_once,
    side_by_side,
    wait_until,
)

ROOT = OUT / "media-formats"
FILM = "HDR-2160p24-60s.mkv"
SECONDS = 60
PIECE_SECONDS = 6  # encoded once, then looped: x265 at 4K runs at a few frames a second
GENERATE_TIMEOUT = 3600.0
RUN_TIMEOUT = 900.0
CPU_TARGET = Target("p50", 0.02, text="ratio p50 ≤ 0.02")
FIRST_TARGET = Target("p50", 1.10, text="ratio p50 ≤ 1.10")


def run(bench: Bench) -> list[Line]:
    ensure_film(ROOT)
    config, plan = ffmpeg_alone.planned(ROOT, FILM, bench.scratch)
    if plan.container("copy") != "fmp4" or "720p" not in plan.names:
        raise RuntimeError(f"{FILM}: expected an fMP4 copy and a 720p rendition")
    plan = media.with_inits(plan, media.InitSegments(config.ffmpeg))
    speed, transcode_cpu = _alone_whole(config.ffmpeg, plan, "720p", bench.scratch)
    lines = [Line("14a", "4K HEVC PQ -> tone-mapped 720p H.264, hlsd's FFmpeg alone",
                  "× real time", value=f"{speed:.2f}×",
                  note=f"{SECONDS} s film; {transcode_cpu:.1f} CPU s")]
    # No library scan: its ffprobe and poster children would count as the session's CPU.
    with hlsd.running(bench.scratch, ROOT, scan="false") as server:
        port, pid = hlsd.port(server), server.pid
        _warm(port)
        copy_cpu = [_session_children_cpu(port, pid, plan) for _ in range(bench.repeats(3, 1))]
        lines.append(Line("14b", "CPU for the whole film: passthrough vs the 720p rendition",
                          "CPU s", Stats(tuple(copy_cpu)), Stats((transcode_cpu,)),
                          "720p: hlsd's recipe alone (14a)", CPU_TARGET,
                          note="copy: hlsd's reaped FFmpeg children, every segment read as "
                          "fast as served"))
        served, alone = side_by_side(
            bench.repeats(9, 3), partial(_first_segment, port),
            partial(ffmpeg_alone.until_listed, config.ffmpeg,
                    media.recipe_for(plan, media.RenditionKey.video("copy"), 0).argv, 0,
                    bench.scratch, "m4s"))
        lines.append(Line("14c", "passthrough first segment, cold", "s", Stats(tuple(served)),
                          Stats(tuple(alone)), "FFmpeg alone, same remux", FIRST_TARGET,
                          note="master -> playlist -> init.mp4 -> segment 0, last byte; a new "
                          "session each time"))
    return lines


def ensure_film(root: Path) -> Path:
    """``FILM`` in ``root``, made once: ``PIECE_SECONDS`` of x265 at 4K (the slow part),
    looped by a copy to ``SECONDS`` (its keyframes stay every 2 s), with audio encoded
    over the whole length."""
    x265 = ("keyint=48:min-keyint=48:scenecut=0:open-gop=0:log-level=error"
            ":colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc")
    # Beside the media root, not in it: the piece is no film of the library.
    piece_path = root.with_name(f"{root.name}-piece") / f"HDR-2160p24-{PIECE_SECONDS}s.mkv"
    piece = generate_once(piece_path, [
        "-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=24",
        "-t", str(PIECE_SECONDS), "-c:v", "libx265", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p10le", "-b:v", "8M", "-x265-params", x265,
        "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc"],
        GENERATE_TIMEOUT)
    return generate_once(root / FILM, [
        "-stream_loop", str(SECONDS // PIECE_SECONDS - 1), "-i", str(piece),
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(SECONDS), "-map", "0:v", "-map", "1:a", "-c:v", "copy",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2"], GENERATE_TIMEOUT)


# --- FFmpeg alone -----------------------------------------------------------------------

def _alone_whole(ffmpeg: str, plan: media.Plan, name: str, scratch: Path) -> tuple[float, float]:
    """hlsd's recipe of rendition ``name`` from segment 0 to the end, run alone: (film
    seconds per wall second, CPU seconds)."""
    recipe = media.recipe_for(plan, media.RenditionKey.video(name), 0)
    with tempfile.TemporaryDirectory(prefix="ffmpeg-alone-", dir=scratch) as out, \
            open(os.devnull, "wb") as sink:
        argv = recipe.argv(Path(out), sink.fileno(), sink.fileno())
        cpu, wall = ffmpeg_alone.whole_run(ffmpeg, argv, sink.fileno(), RUN_TIMEOUT)
        count = len(list(Path(out).glob("*.ts")))
        if count != plan.segment_count(name):
            raise RuntimeError(f"ffmpeg alone made {count} of {plan.segment_count(name)} segments")
    return plan.info.duration / wall, cpu


# --- hlsd -------------------------------------------------------------------------------

def _children_cpu(pid: int) -> float:
    """The CPU seconds of hlsd's children that it has reaped (its FFmpeg runs)."""
    times = psutil.Process(pid).cpu_times()
    return times.children_user + times.children_system


def _warm(port: int) -> None:
    """One session opened and closed: hlsd has probed the film (its keyframe index, an
    ffprobe child reading every packet) and made its init, as for every later viewer."""
    with Client(port) as client:
        hlsd.delete_session(client, hlsd.open_session(client, FILM, "copy"))


def _session_children_cpu(port: int, pid: int, plan: media.Plan) -> float:
    """A session reading every ``copy`` segment as fast as served: its FFmpeg's CPU."""
    with Client(port) as client:
        before = _children_cpu(pid)
        session_id = hlsd.open_session(client, FILM, "copy")
        expect(client.get(f"/hls/{session_id}/copy/init.mp4"), 200, "init")
        for number in range(plan.segment_count("copy")):
            expect(client.get(f"/hls/{session_id}/copy/{number}.m4s"), 200, f"segment {number}")
        wait_until(lambda: not psutil.Process(pid).children(), RUN_TIMEOUT, 0.05,
                   "the session's FFmpeg run ended")
        used = _children_cpu(pid) - before
        hlsd.delete_session(client, session_id)
    return used


def _first_segment(port: int) -> float:
    """A new session: master -> copy playlist -> init -> segment 0; seconds to its last byte."""
    with Client(port) as client:
        started = time.monotonic()
        master = expect(client.get(hlsd.master_path(FILM)), 200, "master")
        session_id = master.headers["X-Session-Id"]
        variant = next(line for line in master.body.decode().splitlines() if "/copy/" in line)
        expect(client.get(variant), 200, "variant")
        expect(client.get(urllib.parse.urljoin(variant, "init.mp4")), 200, "init")
        segment = expect(client.get(urllib.parse.urljoin(variant, "0.m4s")), 200, "segment 0")
        if not segment.body:
            raise RuntimeError("segment 0: empty")
        elapsed = time.monotonic() - started
        hlsd.delete_session(client, session_id)
    return elapsed
