"""Row 9: the library page from a warm index of 5,000 files (and row 11's library scan).

Row 9: 5,000 files (hard links of one clip, 50 folders of 100) whose index entries are
written beforehand (probe, keyframes, poster), so hlsd's start-up scan finds all of them
up to date; then the library page: the root (50 folders), one folder (100 cards) and a
search that matches all 5,000 (the first 500 are shown), each over HTTP, to the last byte.

Row 11: 200 files (copies of one 10 s clip, so each is read from its own bytes) indexed
by a fresh hlsd's start-up scan: files/s and MB/s from the scan's own log line, the CPU
share of hlsd and its ffprobe/FFmpeg children over the scan, and the library page's
latency of a player page while the scan runs against the same page once it has finished.
Both without trick play (``hls.trickplay = false``): its passes belong to the scan, and
row 14d measures them.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import psutil

from actors.media.index import MediaIndex, Stamp
from bench import clips, hlsd
from bench.common import Bench, Client, Line, Stats, Target, expect, wait_until
from tests.helpers import ffmpeg_tools

FOLDERS, PER_FOLDER = 50, 100
SCANNED = 200
PAGE_TARGET = Target("p50", 0.100, subject="hlsd", text="p50 ≤ 100 ms")
LATENCY_TARGET = Target("p50", 1.2, text="ratio p50 ≤ 1.2")
WATCHED = "/watch/clip-000.mp4"  # a player page: the same work during the scan and after
SCAN_LOG = re.compile(r"library scan: (\d+) files, (\d+) indexed, \d+ removed, (\d+) errors in ([\d.]+) s")


def run(bench: Bench) -> list[Line]:
    return _page_rows(bench)


def _linked_library(tiny: Path) -> Path:
    root = clips.MEDIA / f"library-{FOLDERS * PER_FOLDER}"
    for folder in range(FOLDERS):
        (root / f"f{folder:02d}").mkdir(parents=True, exist_ok=True)
        for n in range(PER_FOLDER):
            link = root / f"f{folder:02d}" / f"title-{folder * PER_FOLDER + n:04d}.mp4"
            if not link.exists():
                os.link(tiny, link)
    return root


def _warm_index(root: Path, work: Path, tiny: Path) -> Path:
    """Write what a scan would have written (the bench's own poster for every file)."""
    probe, keyframes = ffmpeg_tools.probe(tiny), ffmpeg_tools.keyframes(tiny)
    poster = work / "poster.jpg"
    ffmpeg_tools.poster(tiny, 1.0, poster)
    index = MediaIndex(work / "index.sqlite3")
    started = time.monotonic()
    try:
        for path in sorted(root.rglob("*.mp4")):
            media_id, stamp = path.relative_to(root).as_posix(), Stamp.of(path.stat())
            index.put_probe(media_id, stamp, probe)
            index.put_keyframes(media_id, stamp, keyframes, complete=True)
            index.set_poster(media_id, stamp, poster)
    finally:
        index.close()
    print(f"index of {FOLDERS * PER_FOLDER} files written in {time.monotonic() - started:.1f} s",
          flush=True)
    return work / "index.sqlite3"


def _page_rows(bench: Bench) -> list[Line]:
    tiny = clips.ensure((clips.TINY,)).path(clips.TINY)
    root = _linked_library(tiny)
    home = bench.scratch / "library"
    (home / "index").mkdir(parents=True)
    index = _warm_index(root, home / "index", tiny)
    repeats = bench.repeats(30, 5)
    pages = (("9a", "/", f"root ({FOLDERS} folders)"),
             ("9b", "/?folder=f07", f"one folder ({PER_FOLDER} files)"),
             ("9c", "/?q=title-", f"search matching all {FOLDERS * PER_FOLDER} (500 shown)"))
    lines = []
    # No trick play: its passes (5,000 files' worth) count as scanning, and row 14d has them.
    with hlsd.running(home, root, index=index, trickplay="false") as server, \
            Client(hlsd.port(server)) as client:
        _wait_scanned(client, 120)
        for row, path, what in pages:
            expect(client.get(path), 200, path)  # templates compiled
            times = [expect(client.get(path), 200, path).elapsed for _ in range(repeats)]
            lines.append(Line(row, f"library page, 5,000 files, index warm: {what}", "s",
                              Stats(tuple(times)), target=PAGE_TARGET))
    return lines


def _wait_scanned(client: Client, timeout: float, passes: int = 1) -> dict:
    def done() -> dict | None:
        progress = expect(client.get("/api/v1/scan"), 200, "scan progress").json()
        return progress if progress["pass"] >= passes and not progress["running"] else None
    return wait_until(done, timeout, 0.02, "library scan")


def _copied_library(tiny: Path) -> Path:
    root = clips.MEDIA / f"scan-{SCANNED}"
    root.mkdir(parents=True, exist_ok=True)
    for n in range(SCANNED):
        copy = root / f"clip-{n:03d}.mp4"
        if not copy.exists():
            shutil.copyfile(tiny, copy)
    return root


def scan_rows(bench: Bench) -> list[Line]:
    tiny = clips.ensure((clips.TINY,)).path(clips.TINY)
    root = _copied_library(tiny)
    megabytes = sum(p.stat().st_size for p in root.iterdir()) / 1e6
    home = bench.scratch / "scan"
    home.mkdir()
    # Indexing only, as before trick play: row 14d times the trick play passes.
    with hlsd.running(home, root, trickplay="false") as server, Client(hlsd.port(server)) as client:
        process = psutil.Process(server.pid)
        cpu_before, wall_before = _cpu(process), time.monotonic()
        during = []
        while len(during) < 2000 and _running(client):
            during.append(expect(client.get(WATCHED), 200, "page").elapsed)
        _wait_scanned(client, 600)
        cpu_share = (_cpu(process) - cpu_before) / (time.monotonic() - wall_before) / os.cpu_count()
        idle = [expect(client.get(WATCHED), 200, "page").elapsed for _ in range(max(len(during), 10))]
        found = SCAN_LOG.findall(server.output())
    if not found:
        raise RuntimeError("hlsd logged no finished library scan")
    files, indexed, errors, seconds = found[-1]
    if int(indexed) != SCANNED or int(errors):
        raise RuntimeError(f"the scan indexed {indexed} of {SCANNED} files ({errors} errors)")
    seconds_f = float(seconds)
    return [
        Line("11a", f"library scan of {SCANNED} new files ({megabytes:.0f} MB)",
             value=f"{int(files) / seconds_f:.1f} files/s, {megabytes / seconds_f:.1f} MB/s, "
                   f"{seconds_f:.1f} s; CPU {cpu_share * 100:.0f} % of the machine",
             note="one ffprobe + one poster FFmpeg at a time, nice 10, ionice idle"),
        Line("11b", "player page latency during the scan / idle", "s", Stats(tuple(during)),
             Stats(tuple(idle)), "the same page idle", LATENCY_TARGET,
             note=f"{len(during)} requests during the scan"),
    ]


def _running(client: Client) -> bool:
    progress = expect(client.get("/api/v1/scan"), 200, "scan progress").json()
    return progress["pass"] == 0 or progress["running"]


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system

