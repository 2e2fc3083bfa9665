"""config/nginx.conf and config/nginx-single.conf, run for real (SPEC "Production").

nginx is started from a copy of the shipped files in which only ports are rewritten, in
front of stdlib HTTP servers standing in for hlsd nodes (tests/helpers/front.py). They
prove: sessions stick to one node; a dead node's sessions move with no error seen;
X-Accel-Redirect makes nginx serve the segment file itself, and the file location is
unreachable directly; operator routes refuse a client that is not 127.0.0.1 or ::1 (the
test client binds 127.0.0.5: loopback routing, but not an allowed address); idle
connections do not slow a normal request.
"""
from __future__ import annotations

import os
import re
import resource
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from paste.deploy.loadwsgi import SERVER, loadcontext
from pyramid.paster import get_appsettings

from actors import tokens
from tests.helpers.front import CONFIG, WORK_DIRS, Front, StandInNode, nginx_command

SECRET = bytes(range(32))
OUTSIDER = "127.0.0.5"
IDLE_CONNECTIONS = 1000
FAIL_TIMEOUT = float(re.findall(r"fail_timeout=(\d+)s", (CONFIG / "nginx.conf").read_text())[0])


def session_token(number: int) -> str:
    claims = tokens.SessionClaims(f"movies/film {number}.mkv", "720p", ("720p", "480p"), 0, None, None,
                                  0, 1_800_000_000, number.to_bytes(8, "big"))
    return tokens.issue(claims, SECRET)


def node_of(front: Front, token: str) -> str:
    answer = front.request("GET", f"/hls/{token}/master.m3u8")
    assert answer.status == 200, answer
    return answer.json()["node"]


@pytest.fixture
def nodes() -> Iterator[list[StandInNode]]:
    started = [StandInNode(f"node{n}") for n in (1, 2, 3)]
    yield started
    for node in started:
        node.stop()


@pytest.fixture
def front(tmp_path: Path, nodes: list[StandInNode]) -> Iterator[Front]:
    running = Front.start(tmp_path, "nginx.conf", [node.address for node in nodes])
    yield running
    running.stop()


@pytest.mark.parametrize("config", ["nginx.conf", "nginx-single.conf"])
def test_nginx_accepts_the_shipped_config_unchanged(tmp_path: Path, config: str) -> None:
    (tmp_path / "var" / "nginx").mkdir(parents=True)
    result = subprocess.run(nginx_command(tmp_path, str(CONFIG / config), test_only=True),
                            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "emerg" not in result.stderr and "warn" not in result.stderr, result.stderr


def test_requests_of_one_session_reach_one_node_and_sessions_spread(front: Front) -> None:
    homes = {}
    for number in range(30):
        token = session_token(number)
        paths = [f"/hls/{token}/master.m3u8", f"/hls/{token}/720p/index.m3u8",
                 f"/api/v1/sessions/{token}", f"/api/v1/sessions/{token}/heartbeat"]
        seen = {front.request("POST" if p.endswith("heartbeat") else "GET", p).json()["node"] for p in paths}
        assert len(seen) == 1, (token, seen)
        homes[token] = seen.pop()
    assert set(homes.values()) == {"node1", "node2", "node3"}


def test_proxied_requests_carry_the_client_the_host_and_the_scheme(front: Front) -> None:
    answer = front.request("GET", "/media/movies%2Fa%20b.mkv/master.m3u8", source=OUTSIDER,
                           headers={"X-Forwarded-For": "203.0.113.9"})
    echo = answer.json()
    assert echo["path"] == "/media/movies%2Fa%20b.mkv/master.m3u8"
    assert echo["headers"]["X-Forwarded-For"] == OUTSIDER
    assert echo["headers"]["X-Forwarded-Proto"] == "http"
    assert echo["headers"]["Host"] == f"127.0.0.1:{front.port}"
    assert answer.headers["X-Hlsd-Node"] == echo["node"]


def test_a_dead_nodes_sessions_move_to_another_node_with_no_error(front: Front, nodes: list[StandInNode]) -> None:
    sessions = [session_token(number) for number in range(30)]
    homes = {token: node_of(front, token) for token in sessions}
    dead = next(node for node in nodes if node.name == homes[sessions[0]])
    dead.stop()
    orphans = [token for token in sessions if homes[token] == dead.name]
    for token in orphans:
        movers = {node_of(front, token) for _ in range(3)}
        assert len(movers) == 1 and dead.name not in movers
    for token in sessions:
        if token not in orphans:
            assert node_of(front, token) == homes[token]
    created = front.request("POST", "/api/v1/sessions", body=b'{"media": "a.mkv"}',
                            headers={"Content-Type": "application/json"})
    assert created.status == 200 and created.json()["node"] != dead.name


def test_a_node_that_returns_gets_its_sessions_back_after_fail_timeout(
        front: Front, nodes: list[StandInNode]) -> None:
    sessions = [session_token(number) for number in range(12)]
    homes = {token: node_of(front, token) for token in sessions}
    dead = next(node for node in nodes if node.name == homes[sessions[0]])
    dead.stop()
    assert all(node_of(front, token) != dead.name for token in sessions)
    returned = StandInNode(dead.name, int(dead.address.rsplit(":", 1)[1]))
    nodes.append(returned)
    # nginx counts fail_timeout in whole seconds: up to one more second before it retries.
    deadline = time.monotonic() + FAIL_TIMEOUT + 3.0
    while (now := {token: node_of(front, token) for token in sessions}) != homes:
        assert time.monotonic() < deadline, now
        time.sleep(0.2)


@pytest.mark.parametrize("config", ["nginx.conf", "nginx-single.conf"])
def test_x_accel_redirect_serves_the_segment_file_from_the_nodes_work_dir(tmp_path: Path, config: str) -> None:
    names = ["node1", "node2", "node3"] if config == "nginx.conf" else ["main"]
    nodes = [StandInNode(name) for name in names]
    front = Front.start(tmp_path, config, [node.address for node in nodes])
    try:
        token = session_token(7)
        home = node_of(front, token)
        segment = tmp_path / WORK_DIRS[home] / token / "720p" / "3.ts"
        segment.parent.mkdir(parents=True)
        segment.write_bytes(os.urandom(2 * 1024 * 1024))
        answer = front.request("GET", f"/hls/{token}/720p/3.ts", source=OUTSIDER)
        assert answer.status == 200 and answer.body == segment.read_bytes()
        assert answer.headers["Content-Type"] == "video/mp2t"
        assert answer.values("Access-Control-Allow-Origin") == ["*"]
        assert answer.values("X-Hlsd-Node") == [home]
        assert answer.values("Cache-Control") == ["max-age=3600"]
        part = front.request("GET", f"/hls/{token}/720p/3.ts", headers={"Range": "bytes=1000-1999"})
        assert part.status == 206 and part.body == segment.read_bytes()[1000:2000]
        for direct in (f"/_segments/{home}/{token}/720p/3.ts", "/_segments/", "/_segments/elsewhere/x.ts"):
            assert front.request("GET", direct).status == 404, direct
        assert all("/_segments/" not in path for node in nodes for path in node.seen)
    finally:
        front.stop()
        for node in nodes:
            node.stop()


OPERATOR_PATHS = ["/api/v1/tree", "/api/v1/tree?format=text", "/metrics", "/api/v1//tree",
                  "/api/v1/%74ree", "/hls/../metrics", "/api/v1/faults"]


def test_operator_routes_refuse_a_client_that_is_not_an_allowed_address(
        front: Front, nodes: list[StandInNode]) -> None:
    for path in OPERATOR_PATHS:
        method = "POST" if path.endswith("faults") else "GET"
        assert front.request(method, path, source=OUTSIDER, body=b"{}").status == 403, path
    assert not any(node.seen for node in nodes)
    assert front.request("GET", "/healthz", source=OUTSIDER).json()["path"] == "/healthz"
    token = session_token(1)
    assert front.request("GET", f"/hls/{token}/master.m3u8", source=OUTSIDER).status == 200


def test_operator_routes_answer_a_loopback_operator(front: Front) -> None:
    for path in ("/api/v1/tree?format=text", "/metrics"):
        answer = front.request("GET", path)
        assert answer.status == 200 and answer.json()["path"] == path
        assert answer.json()["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert front.request("POST", "/api/v1/faults", body=b"{}").json()["method"] == "POST"


def latencies(front: Front, count: int = 21) -> list[float]:
    spent = []
    for _ in range(count):
        started = time.perf_counter()
        assert front.request("GET", "/healthz").status == 200
        spent.append(time.perf_counter() - started)
    return spent


def open_idle(port: int, count: int) -> list[socket.socket]:
    """Half send nothing, half an unfinished request header (a slow client)."""
    held = []
    for number in range(count):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        if number % 2:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        held.append(client)
    return held


def test_a_thousand_idle_connections_do_not_delay_a_normal_request(front: Front) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < IDLE_CONNECTIONS + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    before = latencies(front)
    held = open_idle(front.port, IDLE_CONNECTIONS)
    try:
        assert front.wait_held(IDLE_CONNECTIONS) >= IDLE_CONNECTIONS
        during = latencies(front)
    finally:
        for client in held:
            client.close()
    delay = statistics.median(during) - statistics.median(before)
    print(f"median latency: {statistics.median(before) * 1e3:.2f} ms idle-free, "
          f"{statistics.median(during) * 1e3:.2f} ms with {IDLE_CONNECTIONS} idle connections")
    assert delay < 1.0 and max(during) < 1.0, (before, during)


def test_the_cluster_nodes_are_the_ones_nginx_proxies_to_and_serves_files_of() -> None:
    """config/cluster/nodeN.ini and config/nginx.conf name the same ports and work dirs."""
    shipped = (CONFIG / "nginx.conf").read_text()
    secrets_seen = set()
    for number in (1, 2, 3):
        ini = CONFIG / "cluster" / f"node{number}.ini"
        app = get_appsettings(str(ini))
        server = loadcontext(SERVER, f"config:{ini}", name="main").config()
        assert app["hls.instance"] == f"node{number}"
        assert shipped.count(f"server 127.0.0.1:{server['port']} ") == 2
        alias = re.search(rf"location /_segments/node{number}/ {{\s*alias ([^;]+);", shipped)
        assert alias and (CONFIG.parent / alias.group(1)).resolve() == Path(app["hls.work_dir"]).resolve()
        assert server["trusted_proxy"] == "127.0.0.1"
        secrets_seen.add(tokens.parse_secret(app["hls.session_secret"]))
    assert len(secrets_seen) == 1
