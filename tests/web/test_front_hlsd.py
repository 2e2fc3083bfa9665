"""hlsd behind a real nginx (config/nginx-single.conf, only ports rewritten), and hlsd
standalone with config/production.ini's server sizing (SPEC "Production").

Proves: a ready segment of more than 2 MB reaches the player from nginx (hlsd answers
with X-Accel-Redirect and no body, the test sees that on the upstream side, and the bytes
nginx sends are the segment's); 1,000 idle connections to nginx, and 350 to a standalone
hlsd, do not delay a viewer beyond 1 s; operator routes refuse a forwarded outside
client, at nginx and in hlsd itself (waitress trusts X-Forwarded-For from loopback only).
"""
from __future__ import annotations

import configparser
import socket
import statistics
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from actors import accel
from tests.helpers.front import CONFIG, Front
from tests.helpers.media import make_clip
from tests.helpers.server import Server, ffmpeg_children, start_server

PREFIX = "/_segments/main/"
OUTSIDER = "127.0.0.5"  # loopback routing, but not an address nginx allows for operators
TRUSTED_PROXY = {"trusted_proxy": "127.0.0.1", "trusted_proxy_count": "1",
                 "trusted_proxy_headers": "x-forwarded-for", "clear_untrusted_proxy_headers": "true"}
MIN_SEGMENT = 2 * 1024 * 1024
LATENCY_BOUND = 1.0


@pytest.fixture(scope="module")
def front_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("front-media")
    make_clip(root / "noisy.mp4", 8, width=480, height=270, noise=True, gop=2)  # MBs a segment
    make_clip(root / "clip.mp4", 12, width=320, height=180, gop=2)
    return root


@pytest.fixture
def stack(tmp_path: Path, front_media: Path) -> Iterator[tuple[Server, Front]]:
    (tmp_path / "hlsd").mkdir()
    server = start_server(tmp_path / "hlsd", front_media, server=TRUSTED_PROXY, accel_redirect=PREFIX)
    prefix = tmp_path / "front"
    (prefix / "var").mkdir(parents=True)
    (prefix / "var" / "work").symlink_to(server.work_dir)  # nginx-single.conf's alias var/work/
    front = None
    try:
        front = Front.start(prefix, "nginx-single.conf", [server.url.removeprefix("http://")])
        yield server, front
    finally:
        if front is not None:
            front.stop()
        server.stop()
    assert not ffmpeg_children(), "an FFmpeg outlived the test"


def direct(server: Server, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(server.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def open_session(front: Front, media: str) -> str:
    answer = front.request("GET", f"/media/{media}/master.m3u8")
    assert answer.status == 200, answer
    return answer.headers["X-Session-Id"]


def test_a_ready_segment_is_sent_by_nginx(stack: tuple[Server, Front]) -> None:
    server, front = stack
    token = open_session(front, "noisy.mp4")
    through = front.request("GET", f"/hls/{token}/copy/0.ts")
    assert through.status == 200 and len(through.body) >= MIN_SEGMENT, (through.status, len(through.body))
    assert through.headers["Content-Type"] == "video/mp2t"
    assert through.headers["X-Hlsd-Node"] == server.instance
    assert "ETag" in through.headers  # nginx's static module answered, not hlsd

    status, headers, body = direct(server, f"/hls/{token}/copy/0.ts")  # what nginx gets
    assert status == 200 and body == b"" and headers["Content-Length"] == "0"
    target = headers["X-Accel-Redirect"]
    assert target.startswith(PREFIX)
    linked = server.work_dir / target.removeprefix(PREFIX)
    assert linked.read_bytes() == through.body
    assert linked.parent.name == server.instance and linked.stat().st_nlink >= 1
    log = (front.prefix / "var" / "nginx" / "access.log").read_text()
    assert f"/hls/{token}/copy/0.ts HTTP/1.1\" 200 {len(through.body)} " in log


def test_serve_links_are_swept_after_their_grace(tmp_path: Path) -> None:
    instance = tmp_path / "node"
    instance.mkdir()
    segment = tmp_path / "0.ts"
    segment.write_bytes(b"G" * 188)
    with segment.open("rb") as opened:
        relative = accel.link_for_proxy(tmp_path, "node", opened)
        assert opened.closed and relative is not None
    assert (tmp_path / relative).read_bytes() == segment.read_bytes()
    assert accel.sweep_links(tmp_path, "node", grace=60) == 0 and (tmp_path / relative).exists()
    time.sleep(0.01)
    assert accel.sweep_links(tmp_path, "node", grace=0) == 1 and not (tmp_path / relative).exists()
    segment.write_bytes(b"G" * 188)
    with segment.open("rb") as opened:
        segment.unlink()  # no name left (nlink 0): hlsd streams the open file itself
        assert accel.link_for_proxy(tmp_path, "node", opened) is None and not opened.closed
    assert list(instance.iterdir()) == []


@contextmanager
def idle_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` clients that connect and send half a request header, then nothing."""
    with ExitStack() as stack:
        held = []
        for _ in range(count):
            client = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            client.sendall(b"GET /media HTTP/1.1\r\nHost: x\r\n")
            held.append(client)
        yield held


def viewer_latency(get, rounds: int = 8) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        get()
        times.append(time.monotonic() - started)
    return times


def test_a_thousand_idle_connections_do_not_delay_a_viewer(stack: tuple[Server, Front]) -> None:
    server, front = stack
    token = open_session(front, "clip.mp4")

    def get() -> None:
        answer = front.request("GET", f"/hls/{token}/copy/1.ts")
        assert answer.status == 200 and answer.body[:1] == b"G"

    get()  # the run starts; from here on the segment is ready
    alone = viewer_latency(get)
    with idle_connections(front.port, 1000):
        assert front.wait_held(1000) >= 1000
        crowded = viewer_latency(get)
    ratio = statistics.median(crowded) / statistics.median(alone)
    print(f"nginx: viewer latency {statistics.median(alone) * 1e3:.1f} ms alone, "
          f"{statistics.median(crowded) * 1e3:.1f} ms with 1000 idle (x{ratio:.2f})")
    assert max(crowded) < LATENCY_BOUND, crowded


def test_operator_routes_refuse_a_forwarded_outside_client(stack: tuple[Server, Front]) -> None:
    server, front = stack
    for path in ("/api/v1/tree", "/metrics"):
        assert front.request("GET", path, source=OUTSIDER).status == 403
        assert front.request("GET", path).status == 200
    health = front.request("GET", "/healthz", source=OUTSIDER)
    assert health.status == 200 and health.json()["instance"] == server.instance
    # hlsd itself: from its trusted proxy, X-Forwarded-For names the client it judges.
    assert direct(server, "/api/v1/tree", {"X-Forwarded-For": "203.0.113.9"})[0] == 403
    assert direct(server, "/api/v1/tree", {"X-Forwarded-For": "127.0.0.1"})[0] == 200
    # A client's own X-Forwarded-For never gets through nginx (replaced by its address).
    assert front.request("GET", "/api/v1/tree", headers={"X-Forwarded-For": "127.0.0.1"},
                         source=OUTSIDER).status == 403


def production_server_settings() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(CONFIG / "production.ini")
    keep = {"threads", "channel_timeout", "connection_limit", "asyncore_use_poll", "backlog"}
    return {key: value for key, value in parser["server:main"].items() if key in keep}


@pytest.mark.slow
def test_standalone_waitress_sized_as_shipped_survives_350_idle_connections(tmp_path: Path,
                                                                            front_media: Path) -> None:
    sizing = production_server_settings()
    assert int(sizing["connection_limit"]) > 350
    server = start_server(tmp_path, front_media, server=sizing)
    try:
        port = int(server.url.rsplit(":", 1)[1])
        status, headers, _ = server.get("/media/clip.mp4/master.m3u8")
        token = headers["X-Session-Id"]

        def get() -> None:
            assert server.get(f"/hls/{token}/copy/1.ts", timeout=5)[0] == 200

        get()
        alone = viewer_latency(get)
        with idle_connections(port, 350):
            crowded = viewer_latency(get)
        ratio = statistics.median(crowded) / statistics.median(alone)
        print(f"standalone: viewer latency {statistics.median(alone) * 1e3:.1f} ms alone, "
              f"{statistics.median(crowded) * 1e3:.1f} ms with 350 idle (x{ratio:.2f})")
        assert max(crowded) < LATENCY_BOUND, crowded
    finally:
        server.stop()
    assert not ffmpeg_children()
