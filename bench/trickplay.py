"""Rows 14d-14e: trick play made by the library scan, and its playlists for a film never played.

The film: ``FILM`` (1920x1080 24 fps H.264 at 2 Mb/s, a keyframe every 2 s, one hour, no audio),
made once into ``bench/out/media-trickplay``: one minute of ``testsrc2`` encoded
``ultrafast``, then copied 60 times end to end (concat demuxer, ``-c copy``), which is
far faster than encoding an hour and just as long to scan.

14d scan: an hlsd with a fresh work dir over that library; its start-up scan (probe,
keyframes, poster, then the trick play pass: thumbnail sheets and the I-frame stream)
from the pass's start to its end, as ``GET /api/v1/scan`` reports it (``elapsed`` of the
finished pass), divided by the film's duration. Target ≤ 0.02 (72 s for the hour).

14e playlists of a film never played: on that hlsd, a session is opened (no segment is
ever asked for, so no FFmpeg runs); then ``GET .../trickplay/iframes.m3u8`` and
``GET .../trickplay/images.m3u8``, alternately on one keep-alive connection: request ->
last byte. Target p50 ≤ 20 ms.

Every hlsd is ended by its pid.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from bench import hlsd
from bench.common import OUT, Bench, Client, Line, Stats, Target, expect, wait_until

ROOT = OUT / "media-trickplay"
FILM = "Trickplay-1080p24-1h.mp4"
SECONDS = 3600
PIECE_SECONDS = 60
GENERATE_TIMEOUT = 900.0
SCAN_TIMEOUT = 900.0
SCAN_TARGET = Target("p50", 0.02, subject="hlsd", text="p50 ≤ 0.02")
PLAYLIST_TARGET = Target("p50", 0.020, subject="hlsd", text="p50 ≤ 20 ms")


def run(bench: Bench) -> list[Line]:
    ensure_film(ROOT)
    ratios, answers, counts = [], [], (0, 0)
    for _ in range(bench.repeats(3, 1)):
        with hlsd.running(bench.scratch, ROOT) as server:
            client = Client(hlsd.port(server))
            ratios.append(_scanned(client) / SECONDS)
            if not answers:
                answers, counts = _playlists(client, bench.repeats(100, 20))
            client.close()
    return [
        Line("14d", "trick play of a 1-hour 1080p film by the scan: scan time / film time",
             "× film", Stats(tuple(ratios)), target=SCAN_TARGET,
             note="the start-up pass (probe, keyframes, poster, then one FFmpeg pass, "
                  "keyframes only, for the thumbnail sheets and the I-frame stream) took "
                  + ", ".join(f"{ratio * SECONDS:.1f}" for ratio in ratios) + " s"),
        Line("14e", "I-frame and image playlists of a film never played", "s",
             Stats(tuple(answers)), target=PLAYLIST_TARGET,
             note=f"request -> last byte, {counts[0]} I-frame and {counts[1]} image playlist "
                  "requests alternately, no FFmpeg running"),
    ]


def _scanned(client: Client) -> float:
    """Seconds the start-up pass took, once it finished with the trick play made."""
    def finished() -> dict | None:
        progress = expect(client.get("/api/v1/scan"), 200, "scan progress").json()
        return progress if progress["pass"] and not progress["running"] else None

    progress = wait_until(finished, SCAN_TIMEOUT, 0.5, "the scan finished")
    if progress["thumbnails"]["done"] != 1 or progress["errors"]:
        raise RuntimeError(f"the scan did not make the trick play files: {progress}")
    return float(progress["elapsed"])


def _playlists(client: Client, repeats: int) -> tuple[list[float], tuple[int, int]]:
    session = hlsd.open_session(client, FILM, "480p")
    paths = (f"/hls/{session}/trickplay/iframes.m3u8", f"/hls/{session}/trickplay/images.m3u8")
    times = []
    for number in range(2 * repeats):
        reply = expect(client.get(paths[number % 2]), 200, "trick play playlist")
        times.append(reply.elapsed)
    hlsd.delete_session(client, session)
    return times, (repeats, repeats)


def ensure_film(root: Path) -> Path:
    """``FILM`` in ``root``, made once (written beside, then renamed: never half a file)."""
    film = root / FILM
    if film.exists():
        return film
    root.mkdir(parents=True, exist_ok=True)
    quiet = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    with tempfile.TemporaryDirectory(dir=root, prefix=".making-") as scratch:
        piece, listing = Path(scratch) / "piece.mp4", Path(scratch) / "pieces.txt"
        subprocess.run([*quiet, "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=24",
                        "-t", str(PIECE_SECONDS), "-c:v", "libx264", "-preset", "ultrafast",
                        "-b:v", "2M", "-maxrate", "2M", "-bufsize", "4M", "-g", "48", "-keyint_min", "48", "-sc_threshold", "0",
                        "-pix_fmt", "yuv420p", str(piece)],
                       check=True, timeout=GENERATE_TIMEOUT, capture_output=True)
        listing.write_text(f"file '{piece}'\n" * (SECONDS // PIECE_SECONDS))
        partial_film = Path(scratch) / FILM
        subprocess.run([*quiet, "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                        "-movflags", "+faststart", str(partial_film)],
                       check=True, timeout=GENERATE_TIMEOUT, capture_output=True)
        os.replace(partial_film, film)
    return film
