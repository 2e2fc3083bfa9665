"""Row 2: the segment at 50 % of a 10-minute file, cold, vs FFmpeg alone with the same -ss.

hlsd: a new session that starts there (``POST /api/v1/sessions`` with ``start``, as a
player resuming at the middle does), whose first request is that segment, read to the
last byte. FFmpeg alone: ``media.ffmpeg_args`` from that segment (``-ss`` before ``-i``,
``-segment_start_number``), until the list pipe reports it. Alternating, as in row 1.
"""
from __future__ import annotations

from functools import partial

from bench import clips, ffmpeg_alone, hlsd
from bench.common import Bench, Client, Line, Stats, Target, expect, side_by_side
from bench.ffmpeg_alone import Recipe

PROFILES = ("copy", "720p")
TARGETS = {"copy": Target("p50", 1.05, text="ratio p50 ≤ 1.05"),
           "720p": Target("p50", 1.15, text="ratio p50 ≤ 1.15")}


def run(bench: Bench) -> list[Line]:
    clip = clips.LONG
    config = ffmpeg_alone.settings(bench.clips.root, bench.scratch / "unused")
    repeats = bench.repeats(10, 3)
    lines = []
    with hlsd.running(bench.scratch, bench.clips.root) as server:
        port = hlsd.port(server)
        for letter, profile in zip("ab", PROFILES):
            recipe = Recipe.plan(config, bench.clips.path(clip), profile)
            number = recipe.segment_at(0.5)
            start = recipe.boundaries[number]
            _hlsd_once(port, clip.media_id, profile, start, number)  # probe cache, page cache
            ffmpeg_alone.until_segment(recipe, number, bench.scratch)
            served, alone = side_by_side(
                repeats, partial(_hlsd_once, port, clip.media_id, profile, start, number),
                partial(ffmpeg_alone.until_segment, recipe, number, bench.scratch))
            lines.append(Line(
                f"2{letter}", f"seek to 50 %, cold, {profile}", "s",
                Stats(tuple(p.total for p in served)), Stats(tuple(alone)), "FFmpeg alone", TARGETS[profile],
                note=f"segment {number} of {len(recipe.boundaries) - 1} at {start:.0f} s; "
                     f"{hlsd.phases_note(served)}"))
    return lines


def _hlsd_once(port: int, media_id: str, profile: str, start: float, number: int) -> hlsd.Phases:
    with Client(port) as client:
        before = hlsd.first_segment_metric(client)
        opened = hlsd.post_session(client, media_id, profile, start)
        session_id = opened.json()["id"]
        segment = expect(client.get(hlsd.segment_path(session_id, profile, number)), 200,
                         f"segment {number}")
        hlsd.delete_session(client, session_id)
        after = hlsd.first_segment_metric(client)
    if not segment.body:
        raise RuntimeError(f"segment {number} was empty")
    return hlsd.with_ffmpeg_time(hlsd.segment_phases(opened, None, segment), before, after)
