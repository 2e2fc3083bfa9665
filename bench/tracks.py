"""Row 13: a film with several audio tracks and a text subtitle: switching, and what it costs.

The film: ``FILM`` (1280x720 25 fps H.264, a keyframe every 2 s, two stereo AAC tracks,
one SRT track), generated once into ``bench/out/media-tracks``, hlsd's media root for
this row. With two audio tracks the plan serves audio as renditions of their own: the
video runs are video only, each audio track has its runs, the subtitle one conversion.

13a audio switch: a session has read video (480p) and audio track A, segments
0..``AT``-1; once its FFmpeg runs are idle (finished, or paused ahead) it asks for audio
track B's segment ``AT``: request -> last byte. FFmpeg alone: ``media.audio_rendition_args``
with the same arguments, spawn -> segment ``AT`` listed.

13b quality switch: a session has read 720p (and audio A) segments 0..``AT``-1; once its
FFmpeg runs are idle -- so well after the switch hold (``actors.runs.SWITCH_HOLD`` s
from the start of the video run) -- it asks for 480p segment ``AT``: request -> last
byte. FFmpeg alone: ``media.ffmpeg_args`` for 480p from ``AT``, video only as hlsd runs
it, spawn -> segment ``AT`` listed.

Waiting for the runs to be idle keeps a concurrent encode of the rest of the film off
the 2 cores while the switch is timed: the numbers are the switch's own cost.

13c CPU: a session playing 720p with audio A and the subtitle, every segment of each read
as fast as possible: hlsd's CPU (its own, and its FFmpeg children's once reaped) from the
session's start until its runs have all ended, vs one FFmpeg process doing the same work:
the video, audio and WebVTT recipes' outputs behind one input.

Every hlsd is ended by its pid; every FFmpeg alone is stopped and reaped by its pid.
"""
from __future__ import annotations

import os
import tempfile
from functools import partial
from pathlib import Path

import psutil

from actors import media
from actors.run import SWITCH_HOLD
from bench import ffmpeg_alone, hlsd
from bench.common import (OUT, Bench, Client, Line, Stats, Target, expect, generate_once,
                          side_by_side, wait_until)
from tests.helpers.track_clips import ENGLISH_SRT

ROOT = OUT / "media-tracks"
FILM = "Tracks-720p25-24s.mkv"
SECONDS = 24
AT = 3  # the segment a switch asks for (12 s in, with 4 s segments)
GENERATE_TIMEOUT = 300.0
IDLE_TIMEOUT = 120.0
RUN_TIMEOUT = 300.0
AUDIO_TARGET = Target("p50", 1.20, text="ratio p50 ≤ 1.20")
QUALITY_TARGET = Target("p50", 1.15, text="ratio p50 ≤ 1.15")
CPU_TARGET = Target("p50", 1.10, text="ratio p50 ≤ 1.10")


def run(bench: Bench) -> list[Line]:
    ensure_film(ROOT)
    config, plan = ffmpeg_alone.planned(ROOT, FILM, bench.scratch)
    if len(plan.audio) < 2 or not plan.subtitles:
        raise RuntimeError(f"{FILM}: expected two audio renditions and a subtitle one")
    track_a, track_b = plan.audio[0].index, plan.audio[1].index
    repeats = bench.repeats(9, 3)
    lines = []
    with hlsd.running(bench.scratch, ROOT) as server:
        port, pid = hlsd.port(server), server.pid
        served, alone = side_by_side(
            repeats, partial(_audio_switch, port, pid, track_a, track_b),
            partial(ffmpeg_alone.until_listed, config.ffmpeg, _audio_argv(plan, track_b), AT,
                    bench.scratch))
        lines.append(Line("13a", f"audio switch, track {track_a} -> {track_b} at segment {AT}",
                          "s", Stats(tuple(served)), Stats(tuple(alone)), "FFmpeg alone",
                          AUDIO_TARGET, note="request -> last byte of the other track's first "
                          "segment; the session's runs idle before it"))
        served, alone = side_by_side(
            repeats, partial(_quality_switch, port, pid, track_a),
            partial(ffmpeg_alone.until_listed, config.ffmpeg, _video_argv(plan, "480p"), AT,
                    bench.scratch))
        lines.append(Line("13b", f"quality switch, 720p -> 480p at segment {AT}", "s",
                          Stats(tuple(served)), Stats(tuple(alone)), "FFmpeg alone",
                          QUALITY_TARGET, note=f"after the {SWITCH_HOLD:g} s switch hold and "
                          "with the session's runs idle; request -> last byte"))
        cpu_repeats = bench.repeats(3, 1)
        served, alone = side_by_side(
            cpu_repeats, partial(_session_cpu, port, pid, plan, track_a),
            partial(_alone_cpu, config.ffmpeg, plan, track_a, bench.scratch))
        lines.append(Line("13c", "CPU, 720p + 1 audio + 1 subtitle, whole film", "CPU s",
                          Stats(tuple(served)), Stats(tuple(alone)), "FFmpeg alone, one process",
                          CPU_TARGET, note=f"{plan.segment_count('720p')} segments of each, read "
                          "as fast as served; hlsd + its reaped FFmpeg children"))
    return lines


def ensure_film(root: Path) -> Path:
    """``FILM`` in ``root``, made once."""
    film = root / FILM
    if film.exists():
        return film
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        srt = Path(scratch) / "english.srt"
        srt.write_text(ENGLISH_SRT, encoding="utf-8")
        return generate_once(film, [
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000", "-i", str(srt),
            "-t", str(SECONDS), "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-c:s", "srt",
            "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
            "-metadata:s:s:0", "language=eng"], GENERATE_TIMEOUT)


# --- hlsd -------------------------------------------------------------------------------

def _read(client: Client, path: str) -> float:
    """GET ``path`` to its last byte; how long it took."""
    reply = expect(client.get(path), 200, path)
    if not reply.body:
        raise RuntimeError(f"{path}: empty")
    return reply.elapsed


def _playing(client: Client, pid: int, video: str, audio: int) -> str:
    """A new session that has read ``video`` and ``audio`` segments 0..AT-1, its runs idle."""
    session_id = hlsd.open_session(client, FILM, video)
    for number in range(AT):
        _read(client, hlsd.segment_path(session_id, video, number))
        _read(client, f"/hls/{session_id}/audio/{audio}/{number}.ts")
    _wait_idle(pid)
    return session_id


def _wait_idle(pid: int) -> None:
    """Until no FFmpeg child of hlsd is running (each finished, or paused ahead)."""
    def idle() -> bool:
        for child in psutil.Process(pid).children():
            try:
                if child.status() not in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE):
                    return False
            except psutil.NoSuchProcess:
                continue
        return True

    wait_until(idle, IDLE_TIMEOUT, 0.05, "hlsd's FFmpeg runs idle")


def _audio_switch(port: int, pid: int, track_a: int, track_b: int) -> float:
    with Client(port) as client:
        session_id = _playing(client, pid, "480p", track_a)
        elapsed = _read(client, f"/hls/{session_id}/audio/{track_b}/{AT}.ts")
        hlsd.delete_session(client, session_id)
    return elapsed


def _quality_switch(port: int, pid: int, track_a: int) -> float:
    with Client(port) as client:
        session_id = _playing(client, pid, "720p", track_a)
        runs = hlsd.session_state(client, session_id)["video_runs"]
        elapsed = _read(client, hlsd.segment_path(session_id, "480p", AT))
        if hlsd.session_state(client, session_id)["video_runs"] != runs + 1:
            raise RuntimeError("the switch did not start a 480p run")
        hlsd.delete_session(client, session_id)
    return elapsed


def _cpu(pid: int) -> float:
    """hlsd's CPU seconds: its own, and its children's that it has reaped."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def _session_cpu(port: int, pid: int, plan: media.Plan, audio: int) -> float:
    subtitle = plan.subtitles[0].index
    with Client(port) as client:
        before = _cpu(pid)
        session_id = hlsd.open_session(client, FILM, "720p")
        _read(client, f"/hls/{session_id}/subs/{subtitle}/index.m3u8")
        for number in range(plan.segment_count("720p")):
            _read(client, hlsd.segment_path(session_id, "720p", number))
            _read(client, f"/hls/{session_id}/audio/{audio}/{number}.ts")
            _read(client, f"/hls/{session_id}/subs/{subtitle}/{number}.vtt")
        wait_until(lambda: not psutil.Process(pid).children(), RUN_TIMEOUT, 0.05,
                   "the session's FFmpeg runs ended")
        used = _cpu(pid) - before
        hlsd.delete_session(client, session_id)
    return used


# --- FFmpeg alone -----------------------------------------------------------------------

def _audio_argv(plan: media.Plan, index: int) -> ffmpeg_alone.ArgvBuilder:
    """The audio recipe hlsd's transcoder runs (``media.recipe_for``)."""
    return media.recipe_for(plan, media.RenditionKey.audio(index), AT).argv


def _video_argv(plan: media.Plan, name: str, start: int = AT) -> ffmpeg_alone.ArgvBuilder:
    """The video recipe hlsd's transcoder runs: video only (audio is a rendition)."""
    return media.recipe_for(plan, media.RenditionKey.video(name), start).argv


def _outputs(argv: list[str]) -> list[str]:
    """What follows the input of a one-input recipe: its maps and outputs."""
    return argv[argv.index("-i") + 2:]


def _one_process(plan: media.Plan, audio: int, out: Path, sink: int) -> list[str]:
    """The video, audio and WebVTT recipes as one FFmpeg: one input, three outputs."""
    (out / "audio").mkdir()
    video = _video_argv(plan, "720p", 0)(out, sink, sink)
    track = plan.audio_track(audio)
    sound = media.audio_rendition_args(
        plan.info.path, track, plan.grid, 0, out / "audio", f"pipe:{sink}",
        channels=media.audio_channels(track), bitrate_kbps=plan.audio_kbps(track))
    text = media.webvtt_conversion_args(plan.info.path, plan.subtitles[0], out / "subs.vtt")
    return [*video, *_outputs(sound), *_outputs(text)]


def _alone_cpu(ffmpeg: str, plan: media.Plan, audio: int, scratch: Path) -> float:
    """CPU seconds of one FFmpeg doing the session's work, from the kernel's accounting
    of this process's reaped children."""
    with tempfile.TemporaryDirectory(prefix="ffmpeg-alone-", dir=scratch) as out, \
            open(os.devnull, "wb") as sink:
        argv = _one_process(plan, audio, Path(out), sink.fileno())
        cpu, _wall = ffmpeg_alone.whole_run(ffmpeg, argv, sink.fileno(), RUN_TIMEOUT)
        count = len(list(Path(out).glob("*.ts")))
        if count != plan.segment_count("720p") or not (Path(out) / "subs.vtt").stat().st_size:
            raise RuntimeError(f"ffmpeg alone made {count} video segments")
    return cpu
