"""hlsd served by ``pserve`` (``tests.helpers.server``), over real HTTP: faults injected with
``POST /api/v1/faults`` while a client plays, clients that drop the connection in the
middle of a segment, and hlsd itself terminated, or killed and started again."""
from __future__ import annotations

import secrets
import socket
import struct

import psutil
import pytest

from actors import ffmpeg
from actors.accounts import Accounts
from tests.faults.invariants import (
    DEFAULTS,
    KILLED_WITHIN,
    assert_invariants,
    kill_hlsd,
    pinned,
    take_baseline,
)
from tests.faults.players import (
    NO_CONNECTION,
    HttpClient,
    Player,
    answer_bound,
    decode_errors,
    ffmpeg_running,
    plays_normally,
    wait_for,
)
from tests.faults.scenarios import CLIP, PROFILE, SEGMENTS
from tests.helpers.procs import (
    SLEEP,
    own_children,
    persists_in_work_dir,
    pidfd_exited,
    reap_adopted,
    wait_all_exited,
)
from tests.helpers.server import Server

pytestmark = pytest.mark.timeout(120)

# What a client playing through each fault sees: playback goes on, or a clear error.
# crash_supervisor ends every session; its players are told to retry and resume from
# their tokens (SPEC "Sessions that survive restarts"), so playback goes on there too.
OUTCOMES = {"kill_ffmpeg": "plays", "term_ffmpeg": "plays", "stop_ffmpeg": "plays",
            "crash_transcoder": "plays", "crash_session": "plays", "crash_supervisor": "plays"}


def open_session(client: HttpClient, media: str = CLIP, profile: str = PROFILE) -> str:
    opened = client.open(media, profile)
    assert opened.status == 201, opened
    return opened.json()["id"]


def tree(client: HttpClient) -> dict:
    answer = client.request("GET", "/api/v1/tree")
    assert answer.status == 200, answer
    return answer.json()


def signed_in(start_hlsd_server, tmp_path, **overrides) -> tuple[Server, str]:
    """hlsd with ``hls.auth = accounts`` and an admin user (who may play and inject
    faults); the user's API key."""
    (tmp_path / "work").mkdir(exist_ok=True)
    users = Accounts(tmp_path / "work" / "users.sqlite3")
    users.add("operator", "a long enough password", role="admin")
    key = users.new_key("operator")
    users.close()
    # The invariant checks read the tree with the operator's token; the player plays as the user.
    return start_hlsd_server(auth="accounts", admin_token=secrets.token_hex(16), **overrides), key


@pytest.mark.parametrize("auth, fault", [("none", fault) for fault in OUTCOMES] + [
    ("accounts", "kill_ffmpeg"), ("accounts", "crash_session"), ("accounts", "crash_supervisor")])
def test_a_fault_injected_over_http_while_a_client_plays(start_hlsd_server, tmp_path, auth, fault):
    """Every fault without accounts; with them, one per level of the tree (FFmpeg, a
    session, the sessions supervisor): a signed-in player's token resumes as before."""
    if auth == "accounts":
        server, key = signed_in(start_hlsd_server, tmp_path, stall_timeout=2)
    else:
        server, key = start_hlsd_server(stall_timeout=2), ""
    baseline = take_baseline(server)
    client = HttpClient(server.url, key=key)
    session = open_session(client)
    ffmpeg_running(client, session)
    player = Player(client, session, PROFILE, SEGMENTS, ready_after=4)
    player.start()
    assert player.reading.wait(30)

    answer = client.fault(fault, None if fault == "crash_supervisor" else session)
    assert answer.status == 200 and answer.json()["fault"] == fault, answer
    player.finish(60)
    if OUTCOMES[fault] == "plays":
        assert player.error is None, f"playback broke: {player.error} ({player.statuses})"
        assert sorted(player.segments) == list(SEGMENTS)
        assert decode_errors(player.stream(), tmp_path) == ""
        assert client.stop(session).status == 204
        if fault == "crash_supervisor":
            wait_for(lambda: tree(client)["total_restarts"] == 1, 5, "the root restarted the sessions supervisor")
    else:
        assert player.error is not None and player.error.clear_error and player.error.status == 404
        wait_for(lambda: tree(client)["total_restarts"] == 1, 5, "the root restarted the sessions supervisor")
    assert player.longest <= answer_bound(DEFAULTS["segment_wait"])
    plays_normally(client, CLIP, PROFILE, tmp_path)
    assert_invariants(server, server.work_dir, baseline)


def drop(server: Server, path: str, after: int) -> None:
    """GET ``path`` on a connection with a tiny receive buffer; read ``after`` bytes of the
    answer (0: none), then reset the connection (SO_LINGER 0), as a closed tab does."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(15)
        sock.connect((host, int(port)))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = 0
        while received < after:
            chunk = sock.recv(4096)
            assert chunk, "the server closed first"
            received += len(chunk)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("when", ["while the segment is sent", "while the segment is awaited"])
def test_clients_dropping_the_connection_mid_segment_leak_nothing(start_hlsd_server, tmp_path, when):
    server = start_hlsd_server()
    baseline = take_baseline(server)
    client = HttpClient(server.url)
    if when == "while the segment is sent":
        session = open_session(client, "big.mp4", "copy")  # 1 s of noise: megabytes a segment
        whole = client.segment(session, "copy", 0)
        assert whole.status == 200 and len(whole.body) > 1_000_000
        for number in range(6):
            for _ in range(3):
                drop(server, f"/hls/{session}/copy/{number}.ts", after=64 * 1024)
    else:
        session = open_session(client)
        for number in range(0, 30, 2):  # not written yet: each request waits, then is dropped
            drop(server, f"/hls/{session}/{PROFILE}/{number}.ts", after=0)

    assert client.request("GET", "/healthz").status == 200
    player = Player(client, session, "copy" if "sent" in when else PROFILE, range(6))
    player.start()
    assert player.finish(60).error is None, player.error
    assert client.stop(session).status == 204
    plays_normally(client, CLIP, PROFILE, tmp_path)
    assert_invariants(server, server.work_dir, baseline)


def test_hlsd_terminated_stops_every_ffmpeg_before_it_exits(start_hlsd_server, tmp_path):
    server = start_hlsd_server(segment_store_bytes=0)  # no sharing: three sessions, three FFmpeg
    client = HttpClient(server.url, timeout=15)
    sessions = [open_session(client) for _ in range(3)]
    pids = [ffmpeg_running(client, session) for session in sessions]
    player = Player(client, sessions[0], PROFILE, range(30), patience=5)
    player.start()
    assert player.reading.wait(30)

    with pinned(pids) as pidfds:
        server.stop()  # SIGTERM; fails unless hlsd exits within its deadline
        assert wait_all_exited(pidfds, 0) is not None, "hlsd exited before its FFmpeg did"
    assert not set(pids) & set(own_children()), "hlsd left its FFmpeg unreaped"
    left = [p.name for p in server.work_dir.iterdir() if not persists_in_work_dir(p)]
    assert left == [], "hlsd left its work dir behind"  # the index and the secret persist by design
    player.finish(20)
    assert player.error is not None and player.error.status in (NO_CONNECTION, 404, 503), player.error

    again = start_hlsd_server()
    baseline = take_baseline(again)
    plays_normally(HttpClient(again.url), CLIP, PROFILE, tmp_path)
    assert_invariants(again, again.work_dir, baseline)


def plant_survivor(server: Server) -> ffmpeg.ProcessHandle:
    """A process tagged as this hlsd's FFmpeg that its death will not take along (it is
    linked to the test instead): what only the next start's sweep can end."""
    run_dir = ffmpeg.run_dir(server.work_dir, server.instance, "planted", "planted-1")
    run_dir.mkdir(parents=True)
    tag = ffmpeg.Tag(str(server.work_dir.resolve()), server.instance, "planted", "planted-1",
                    server.pid, psutil.Process(server.pid).create_time())
    return ffmpeg.spawn(lambda progress_fd, list_fd: ["600"], tag, run_dir, SLEEP)


def test_hlsd_killed_then_started_again_leaves_nothing(start_hlsd_server, tmp_path):
    first = start_hlsd_server(segment_store_bytes=0)  # no sharing: three sessions, three FFmpeg
    client = HttpClient(first.url, timeout=15)
    sessions = [open_session(client) for _ in range(3)]
    for session in sessions:
        ffmpeg_running(client, session)
    player = Player(client, sessions[0], PROFILE, range(30), patience=5)
    player.start()
    assert player.reading.wait(30)
    survivor = plant_survivor(first)

    pids, took = kill_hlsd(first)
    assert len(pids) == 3 and took is not None, f"FFmpeg outlived hlsd by {KILLED_WITHIN} s"
    reap_adopted(set(pids))  # this process is their subreaper now
    player.finish(20)
    assert player.error is not None and player.error.status == NO_CONNECTION, player.error
    leftovers = first.work_dir / first.instance
    assert leftovers.is_dir() and not pidfd_exited(survivor.pidfd, 0)

    second = start_hlsd_server()  # its start-up sweep runs before it serves
    try:
        assert pidfd_exited(survivor.pidfd, 0), "the next start did not kill the survivor"
        assert not leftovers.exists(), "the next start did not remove the dead instance's dirs"
    finally:
        ffmpeg.stop_process_group(survivor, 0)
    baseline = take_baseline(second)
    plays_normally(HttpClient(second.url), CLIP, PROFILE, tmp_path)
    assert_invariants(second, second.work_dir, baseline)
