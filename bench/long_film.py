"""Row 10: a 3-hour film hlsd has never seen: the player page and the first segment,
cold (an empty media index, no scan) and after a restart (the index the cold run
left), against FFmpeg alone.

Each repeat starts an hlsd on a new index file with the background scan off, times
``GET /watch/<film>`` (probe, and keyframes from the MP4's ``stss``: no whole-file pass)
and a player's first segment (master, variant, segment 0, to the last byte); then stops
it and starts another hlsd on the same index and times both again. FFmpeg alone: the
same copy run until it lists segment 0. The film is generated once (low bit rate) and
is in the page cache for every measurement alike.
"""
from __future__ import annotations

import urllib.parse
from pathlib import Path

from bench import clips, ffmpeg_alone, hlsd
from bench.common import Bench, Client, Line, Stats, Target, expect
from bench.ffmpeg_alone import Recipe

PAGE_TARGET = Target("p50", 0.3, subject="hlsd", text="p50 ≤ 0.3 s")
SEGMENT_TARGET = Target("p50", 1.2, text="ratio p50 ≤ 1.2")


def run(bench: Bench) -> list[Line]:
    film = clips.ensure((clips.FILM,))
    path = film.path(clips.FILM)
    recipe = Recipe.plan(ffmpeg_alone.settings(film.root, bench.scratch / "unused"), path, "copy")
    repeats = bench.repeats(7, 2)
    results: dict[str, list[float]] = {"page cold": [], "segment cold": [], "page again": [],
                                       "segment again": [], "alone": []}
    for repeat in range(repeats):
        index = bench.scratch / f"film-index-{repeat}.sqlite3"
        for when in ("cold", "again"):
            page, segment = _page_and_segment(bench.scratch, film.root, index)
            results[f"page {when}"].append(page)
            results[f"segment {when}"].append(segment)
            results["alone"].append(ffmpeg_alone.until_segment(recipe, 0, bench.scratch))
    alone = Stats(tuple(results["alone"]))
    size = path.stat().st_size / 1e6
    what = f"3-hour film never seen ({size:.0f} MB, {len(recipe.info.keyframes or ())} keyframes)"
    return [
        Line("10a", f"{what}: player page, cold", "s", Stats(tuple(results["page cold"])),
             target=PAGE_TARGET),
        Line("10b", f"{what}: first segment, cold", "s", Stats(tuple(results["segment cold"])),
             alone, "FFmpeg alone", SEGMENT_TARGET),
        Line("10c", "3-hour film after a restart: player page", "s",
             Stats(tuple(results["page again"])), Stats(tuple(results["page cold"])),
             "the same page cold", note="the index survives the restart: no ffprobe"),
        Line("10d", "3-hour film after a restart: first segment", "s",
             Stats(tuple(results["segment again"])), alone, "FFmpeg alone", SEGMENT_TARGET),
    ]


def _page_and_segment(scratch: Path, media_root: Path, index: Path) -> tuple[float, float]:
    media_id = clips.FILM.media_id
    with hlsd.running(scratch, media_root, index=index, scan="false") as server, \
            Client(hlsd.port(server)) as client:
        page = expect(client.get(f"/watch/{urllib.parse.quote(media_id)}"), 200, "watch page")
        session_id, phases, segment = hlsd.first_segment_over_http(client, media_id, "copy")
        hlsd.delete_session(client, session_id)
    if not segment:
        raise RuntimeError("segment 0 was empty")
    return page.elapsed, phases.total
