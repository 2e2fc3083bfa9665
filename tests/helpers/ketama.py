"""nginx's `hash $key consistent` (ketama) as arithmetic, to predict where a film lands.

nginx 1.22 (`ngx_http_upstream_hash_module.c`) puts 160 points per unit of weight on a
ring of 32-bit CRC32 values for each `server host:port`: point j of a server is
crc32(host, "\\0", port, previous point as 4 little-endian bytes), starting from 0. A key
goes to the first point at or after crc32(key), wrapping; when that point's server is
down or was tried, to the next point's, and so on. ``README.md`` ("Viewers of one film
meet on one node") prints this module's plan; ``tests/web/test_cluster_meet.py`` checks
its predictions against the nodes a real nginx picks.

    python -m tests.helpers.ketama    # the plan: 3 nodes, 1,000 viewers of 10 films
"""
from __future__ import annotations

import bisect
import struct
import zlib
from collections import Counter

from actors import tokens

POINTS_PER_WEIGHT = 160


class Ring:
    """The ring of ``servers`` (``host:port`` as written in the upstream block)."""

    def __init__(self, servers: list[str]) -> None:
        points: dict[int, str] = {}
        for server in servers:
            host, _, port = server.rpartition(":")
            base = host.encode() + b"\0" + port.encode()
            previous = 0
            for _ in range(POINTS_PER_WEIGHT):
                previous = zlib.crc32(base + struct.pack("<I", previous))
                points.setdefault(previous, server)  # nginx drops a repeated point
        self.hashes = sorted(points)
        self.servers = [points[h] for h in self.hashes]

    def walk(self, key: str) -> list[str]:
        """Every server in the order nginx tries them for ``key``."""
        start = bisect.bisect_left(self.hashes, zlib.crc32(key.encode()))
        order: list[str] = []
        for step in range(len(self.servers)):
            server = self.servers[(start + step) % len(self.servers)]
            if server not in order:
                order.append(server)
        return order

    def node(self, key: str, down: frozenset[str] = frozenset()) -> str:
        return next(s for s in self.walk(key) if s not in down)


def shares(ring: Ring) -> dict[str, float]:
    """The part of the 32-bit hash space each server owns."""
    owned: Counter[str] = Counter()
    for i, point in enumerate(ring.hashes):
        previous = ring.hashes[i - 1] if i else ring.hashes[-1] - 2**32
        owned[ring.servers[i]] += point - previous
    return {server: owned[server] / 2**32 for server in sorted(owned)}


def plan(secret: bytes, servers: list[str], films: list[str], viewers: list[int]) -> str:
    """Where each film's viewers land, and what the loss of each node moves."""
    ring = Ring(servers)
    keys = {film: tokens.media_key(film, secret) for film in films}
    lines = ["share of the hash space: " + ", ".join(
        f"{s} {v:.1%}" for s, v in shares(ring).items())]
    load: Counter[str] = Counter()
    for film, count in zip(films, viewers):
        load[ring.node(keys[film])] += count
        lines.append(f"{film} key {keys[film]} -> {ring.node(keys[film])} ({count} viewers)")
    lines.append("viewers per node: " + ", ".join(f"{s} {load[s]}" for s in servers))
    for lost in servers:
        moved: Counter[str] = Counter()
        for film, count in zip(films, viewers):
            if ring.node(keys[film]) == lost:
                moved[ring.node(keys[film], frozenset({lost}))] += count
        lines.append(f"{lost} lost: its viewers go to " + (", ".join(
            f"{s} {n}" for s, n in sorted(moved.items())) or "nobody"))
    return "\n".join(lines)


if __name__ == "__main__":
    from configparser import ConfigParser
    from pathlib import Path

    base = ConfigParser(interpolation=None)
    base.read(Path(__file__).parents[2] / "config" / "cluster" / "base.ini")
    shipped = bytes.fromhex(base["app:hlsd"]["hls.session_secret"])
    nodes = [f"127.0.0.1:{port}" for port in (6551, 6552, 6553)]
    names = [f"films/Film {n:02d}.mkv" for n in range(1, 11)]
    print("1,000 viewers, 100 per film:")
    print(plan(shipped, nodes, names, [100] * 10))
    print("\n1,000 viewers, one hot film (films/Film 01.mkv) with 550 of them:")
    print(plan(shipped, nodes, names, [550] + [50] * 9))
