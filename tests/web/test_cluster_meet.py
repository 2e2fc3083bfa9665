"""Viewers of one film meet on one node: real nginx (the shipped config/nginx.conf,
`hash $hls_media consistent`) in front of 3 real hlsd nodes under supervisord.

Four sessions of one film, opened on whichever node is least busy, all have their
segments served by one node; sessions of ten films spread over the nodes, each exactly
where ``tests.helpers.ketama`` (the README's paper plan) says nginx puts it. Then that
node is stopped: each session's next segment comes from one other node (the film's
viewers meet again there) after a short wait, and the segments splice (decoded with
FFmpeg). Every node then holds invariants 1 and 2: no FFmpeg, no run dir left.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import m3u8
import pytest

from actors.accounts import Accounts
from tests.faults.invariants import HlsdView, ownership_problems, session_nodes, settle
from tests.helpers.ketama import Ring
from tests.helpers.media import make_clip
from tests.helpers.server import server_env
from tests.web.test_cluster import BIN, NODES, Cluster, fetch, tagged

FILMS = 10
VIEWERS = 4
IDLE = 4  # s: the sessions a creating node holds but never plays end soon after the test
REAP = 2  # s: the reaper's sweep, which removes nginx's segment links 10 s after they are made
LINK_LIFE = 10 + REAP  # README "nginx in front": how long a link may outlive its session
FAILOVER_PATIENCE = 30.0


class MeetingCluster(Cluster):
    """The shipped cluster; only ports, and a short idle timeout, rewritten."""

    def _rewrite_ports(self) -> None:
        super()._rewrite_ports()
        base = self.root / "config" / "cluster" / "base.ini"
        base.write_text(base.read_text().replace("use = egg:hlsd\n", f"use = egg:hlsd\nhls.idle_timeout = {IDLE}\nhls.reap_interval = {REAP}\n", 1))

    def ring(self) -> Ring:
        return Ring([f"127.0.0.1:{self.node_ports[name]}" for name in NODES])

    def name_of(self, server: str) -> str:
        return next(name for name, port in self.node_ports.items() if server.endswith(f":{port}"))


class Node(HlsdView):
    """A node of the cluster as the invariant checks see it (its tree asked directly)."""

    def __init__(self, cluster: Cluster, name: str, admin_key: str) -> None:
        self.cluster, self.instance, self.admin_key = cluster, name, admin_key
        self.pid = cluster.node_pid(name) or -1
        self.kill_grace = 5.0  # the default: base.ini does not set it

    def tree(self) -> dict[str, Any]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.cluster.node_ports[self.instance]}/api/v1/tree",
                                         headers={"Authorization": f"Bearer {self.admin_key}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())


def open_session(cluster: Cluster, film: str) -> tuple[str, str]:
    """(session id, variant playlist path) of a new session of ``film``."""
    status, headers, body = cluster.get(f"/media/{urllib.parse.quote(film)}/master.m3u8")
    assert status == 200, (status, body[:300], cluster.logs())
    return headers["X-Session-Id"], m3u8.loads(body.decode()).playlists[0].uri


def segment_path(cluster: Cluster, variant: str, number: int) -> str:
    status, _, body = cluster.get(variant)
    assert status == 200, (status, body[:300])
    return urllib.parse.urljoin(variant, m3u8.loads(body.decode()).segments[number].uri)


def decode_errors(path: Path, parts: list[bytes]) -> str:
    path.write_bytes(b"".join(parts))
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True, timeout=60).stderr


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_viewers_of_one_film_meet_on_one_node_and_move_together_when_it_stops(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    make_clip(media / "film-00.mp4", 16, width=320, height=180, gop=2)
    films = [f"film-{n:02d}.mp4" for n in range(FILMS)]
    for film in films[1:]:
        shutil.copyfile(media / films[0], media / film)
    cluster = MeetingCluster(tmp_path / "checkout", media)
    try:
        users = Accounts(cluster.root / "var" / "cluster" / "users.sqlite3")
        users.add("operator", "another long password", role="admin")
        admin_key = users.new_key("operator")
        users.close()
        for name in NODES:
            cluster.wait_serving(name)
        ring = cluster.ring()

        # Ten films: each session's playlist comes from the node the ring names for its key.
        landed = {}
        for film in films:
            session, variant = open_session(cluster, film)
            status, headers, _ = cluster.get(variant)
            assert status == 200
            landed[film] = headers["X-Hlsd-Node"]
            assert landed[film] == cluster.name_of(ring.node(session.partition(".")[0])), film
        assert len(set(landed.values())) >= 2, f"ten films all on one node: {landed}"
        print(f"ten films over the nodes: {sorted(landed.values())}")

        # Four viewers of one film, whatever node created their sessions: one node serves all.
        sessions = [open_session(cluster, films[0]) for _ in range(VIEWERS)]
        assert len({s.partition(".")[0] for s, _ in sessions}) == 1  # one media key
        assert len({s for s, _ in sessions}) == VIEWERS  # four distinct sessions
        played: list[list[bytes]] = [[] for _ in sessions]
        first_nodes = set()
        for number in (0, 1):
            for viewer, (_, variant) in enumerate(sessions):
                body, node = fetch(cluster, segment_path(cluster, variant, number))
                played[viewer].append(body)
                first_nodes.add(node)
        assert first_nodes == {landed[films[0]]}, first_nodes
        home = landed[films[0]]

        # The film's node stops: every viewer's next segment comes from one other node.
        conf = cluster.root / "config/cluster/supervisord.conf"
        done = subprocess.run([str(BIN / "supervisorctl"), "-c", str(conf), "stop", f"node:{home}"],
                              capture_output=True, text=True, timeout=40, env=server_env())
        assert "stopped" in done.stdout, (done.stdout, done.stderr)
        assert tagged(cluster, home) == [], "the stopped node left FFmpeg running"
        stopped_at = time.monotonic()
        expected = cluster.name_of(ring.node(sessions[0][0].partition(".")[0],
                                             frozenset({f"127.0.0.1:{cluster.node_ports[home]}"})))
        moved_to, waits = set(), []
        for viewer, (_, variant) in enumerate(sessions):
            asked = time.monotonic()
            body, node = fetch(cluster, segment_path(cluster, variant, 2), patience=FAILOVER_PATIENCE)
            waits.append(time.monotonic() - asked)
            played[viewer].append(body)
            moved_to.add(node)
        print(f"after stopping {home}: first viewer's segment in {waits[0]:.3f} s, the others in "
              f"{', '.join(f'{w:.3f}' for w in waits[1:])} s; {time.monotonic() - stopped_at:.3f} s in all")
        assert moved_to == {expected}, (moved_to, expected)
        for viewer, parts in enumerate(played):
            assert decode_errors(tmp_path / f"viewer{viewer}.ts", parts) == "", viewer

        for session, _ in sessions:
            assert cluster.get(f"/api/v1/sessions/{session}", timeout=30)[0] == 200  # state, via its node
            status, _, _ = stop_session(cluster, session)
            assert status == 204
        for name in NODES:  # invariants 1-2 on every live node once every session ended
            if name == home:
                continue
            node = Node(cluster, name, admin_key)
            settle(lambda: [f"{name}: session {n['name']} alive" for n in session_nodes(node.tree())],
                   IDLE + 15, f"{name}: sessions ending")
            settle(lambda: ownership_problems(node, cluster.work_dir(name), True), node.kill_grace + LINK_LIFE + 2,
                   f"{name}: invariants 1-2")
        assert not [p for p in cluster.work_dir(home).glob(f"{home}/*/*") if p.is_dir()], \
            "the stopped node left run dirs"
    finally:
        cluster.stop()
    for name in NODES:
        assert tagged(cluster, name) == [], f"FFmpeg of {name} left running"


def stop_session(cluster: Cluster, session: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(cluster.url(f"/api/v1/sessions/{session}"), method="DELETE",
                                     headers={"Authorization": f"Bearer {cluster.key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
