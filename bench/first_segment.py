"""Row 1: time to the first segment, cold, over HTTP, vs FFmpeg alone.

hlsd: a new session each time -- GET master -> GET variant -> GET segment 0, read to the
last byte -- on a running server (the media was probed once before: hlsd caches probes
per file version). FFmpeg alone: ``media.ffmpeg_args`` for the same file and profile
into a temporary dir, until the segment list pipe reports segment 0. The two alternate,
so drift in the machine's load hits both alike. Each session is deleted (FFmpeg gone)
before the next measurement.
"""
from __future__ import annotations

from functools import partial

from bench import clips, ffmpeg_alone, hlsd
from bench.common import Bench, Client, Line, Stats, Target, side_by_side
from bench.ffmpeg_alone import Recipe

PROFILES = ("copy", "720p")
# Issue 13's targets: a remux starts like FFmpeg alone; a transcode's start is FFmpeg's.
TARGETS = {"copy": Target("p50", 1.05, text="ratio p50 ≤ 1.05"),
           "720p": Target("p50", 1.02, text="ratio p50 ≤ 1.02")}


def run(bench: Bench) -> list[Line]:
    clip = clips.SHORT
    config = ffmpeg_alone.settings(bench.clips.root, bench.scratch / "unused")
    repeats = bench.repeats(15, 3)
    lines = []
    with hlsd.running(bench.scratch, bench.clips.root) as server:
        port = hlsd.port(server)
        for letter, profile in zip("ab", PROFILES):
            recipe = Recipe.plan(config, bench.clips.path(clip), profile)
            cold = _hlsd_once(port, clip.media_id, profile).total  # the first one also runs ffprobe
            ffmpeg_alone.until_segment(recipe, 0, bench.scratch)  # page cache, both alike
            served, alone = side_by_side(
                repeats, partial(_hlsd_once, port, clip.media_id, profile),
                partial(ffmpeg_alone.until_segment, recipe, 0, bench.scratch))
            lines.append(Line(
                f"1{letter}", f"first segment, cold, {profile}", "s",
                Stats(tuple(p.total for p in served)), Stats(tuple(alone)), "FFmpeg alone", TARGETS[profile],
                note=f"{hlsd.phases_note(served)}; the file's first session (+ffprobe) "
                     f"{cold * 1000:.0f} ms"))
    return lines


def _hlsd_once(port: int, media_id: str, profile: str) -> hlsd.Phases:
    with Client(port) as client:
        before = hlsd.first_segment_metric(client)
        session_id, phases, segment = hlsd.first_segment_over_http(client, media_id, profile)
        hlsd.delete_session(client, session_id)
        after = hlsd.first_segment_metric(client)
    if not segment:
        raise RuntimeError("segment 0 was empty")
    return hlsd.with_ffmpeg_time(phases, before, after)
