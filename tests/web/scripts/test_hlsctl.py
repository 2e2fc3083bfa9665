"""hlsctl: the offline ``reap`` against real processes, and the HTTP commands against a
small stdlib server that answers like hlsd (a unit test of the client; hlsd's own
integration tests run hlsctl against the real server).

Planted processes are tagged with this test's own work dir and pinned by pidfd; nothing
here looks machine-wide.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from actors import ffmpeg
from web.scripts.hlsctl import main
from tests.helpers.procs import (SLEEP, pidfd_exited, plant_orphan,
                                 tagged_sleep)

pytestmark = pytest.mark.timeout(60)

HLSCTL = Path(sys.executable).with_name("hlsctl")
TOKEN = "s3cret-token"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HLSD_URL", "HLSD_TOKEN", "HLSD_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    assert err.startswith("hlsctl: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


# --- reap, offline ------------------------------------------------------------------------

def write_config(tmp_path: Path, *lines: str, name: str = "hlsd.ini") -> Path:
    config = tmp_path / name
    config.write_text("\n".join(["[app:main]", "use = egg:hlsd", *lines, ""]))
    return config


def hlsd_config(tmp_path: Path, instance: str) -> Path:
    """hlsd's settings as an operator writes them; the work dir is the ledger's."""
    return write_config(tmp_path, "hls.media_root = %(here)s/media", "hls.work_dir = %(here)s/work",
                        "hls.kill_grace = 1", f"hls.instance = {instance}")


def test_reap_kills_orphans_of_dead_hlsd_only_and_removes_their_dirs(ledger, tmp_path, capsys):
    live_instance = f"{ledger.instance}-live"  # a running hlsd: this test process owns it
    ffmpeg.claim_instance_dir(ledger.work_dir, live_instance)
    live = tagged_sleep(ledger, ledger.tag("s1", "r1", instance=live_instance))
    orphan = plant_orphan(ledger, f"{ledger.instance}-dead")
    untagged = subprocess.Popen([SLEEP, "600"])
    ledger.track(untagged.pid)
    # The config names the live hlsd's instance: reap must not act as that instance.
    config = hlsd_config(tmp_path, live_instance)

    code, out, err = run(capsys, "reap", "--config", str(config))

    assert (code, err) == (0, "")
    assert out.startswith(f"swept {ledger.work_dir}: killed 1 orphaned FFmpeg process, "
                          "removed 1 leftover work dir ("), out
    assert pidfd_exited(ledger.pidfds[orphan.pid], 0)
    assert ffmpeg.stop_process_group(orphan, 0).returncode == -signal.SIGTERM
    assert not pidfd_exited(live.pidfd, 0), "reap killed a live hlsd's FFmpeg"
    assert untagged.poll() is None, "reap killed an untagged process"
    assert sorted(p.name for p in ledger.work_dir.iterdir()) == [live_instance]
    untagged.kill()
    untagged.wait(5)
    ffmpeg.stop_process_group(live, 1.0)
    ffmpeg.release_instance_dir(ledger.work_dir, live_instance)


def test_reap_json_with_the_config_from_the_environment(ledger, tmp_path, capsys, monkeypatch):
    orphan = plant_orphan(ledger, f"{ledger.instance}-dead")
    monkeypatch.setenv("HLSD_CONFIG", str(hlsd_config(tmp_path, ledger.instance)))

    code, out, _ = run(capsys, "reap", "--json")

    answer = json.loads(out)
    assert code == 0
    assert (answer["killed"], answer["dirs_removed"]) == (1, 1)
    assert answer["work_dir"] == str(ledger.work_dir)
    assert ffmpeg.stop_process_group(orphan, 0).returncode == -signal.SIGTERM
    code, out, _ = run(capsys, "reap", "--json")  # nothing left: the second run is a no-op
    assert (json.loads(out)["killed"], json.loads(out)["dirs_removed"]) == (0, 0)


@pytest.mark.parametrize("lines, name, fragment", [
    (None, "missing.ini", "No such file or directory"),
    (("hls.media_root = /m",), "hlsd.ini", "missing setting hls.work_dir"),
    (("hls.media_root = /m", "hls.work_dir = /w", "hls.kill_grace = -1"), "hlsd.ini",
     "hls.kill_grace"),
    (("hls.media_root = /m", "hls.work_dir = /w", "hls.kill_graze = 1"), "hlsd.ini",
     "unknown setting hls.kill_graze"),
    (("hls.media_root = %(nowhere)s",), "hlsd.ini", "cannot read config"),
    (("hls.media_root = /m", "hls.work_dir = /w"), "hlsd.conf", "cannot read config"),
])
def test_reap_with_a_bad_config_exits_2_with_one_line(tmp_path, capsys, lines, name, fragment):
    config = tmp_path / name if lines is None else write_config(tmp_path, *lines, name=name)

    code, out, err = run(capsys, "reap", "--config", str(config))

    assert (code, out) == (2, "")
    assert_one_line_error(err, fragment)


def test_reap_of_a_config_without_app_main_exits_2(tmp_path, capsys):
    config = tmp_path / "other.ini"
    config.write_text("[server:main]\nuse = egg:waitress#main\n")

    code, _, err = run(capsys, "reap", "--config", str(config))

    assert code == 2
    assert_one_line_error(err, "has no [app:main] settings")


# --- the HTTP commands against a fake hlsd --------------------------------------------------

@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeHlsd:
    """Answers (method, path) with canned replies and records every request."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], tuple[int, str, bytes]] = {}
        self.received: list[Received] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        name="fake-hlsd")

    def reply(self, method: str, path: str, status: int, body: Any = None,
              content_type: str = "application/json") -> None:
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body).encode()
        self.replies[(method, path)] = (status, content_type, payload)

    def only_request(self) -> Received:
        assert len(self.received) == 1, self.received
        return self.received[0]


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        fake: FakeHlsd = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        fake.received.append(Received(self.command, self.path, dict(self.headers.items()),
                                      self.rfile.read(length)))
        status, content_type, payload = fake.replies.get(
            (self.command, self.path),
            (404, "application/json", b'{"error": "not_found", "detail": "no such route"}'))
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if status != 204:
            self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hlsd() -> Iterator[FakeHlsd]:
    fake = FakeHlsd()
    fake._thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    fake._thread.join(5)


TREE_TEXT = """root  supervisor one_for_one  restarts 0/5 in 60s  up 2h03m
├─ timers  alive  pending 2
├─ reaper  alive  last sweep 4s ago  reaped 0
└─ sessions  supervisor dynamic  children 0"""

SESSION = {
    "id": "3f9c2aTOKEN", "short": "3f9c2a", "media": "movies/a.mkv", "profile": "720p", "profiles": ["720p", "480p"],
    "state": "playing", "created": 1767225600.0, "last_activity": 1767225660.0, "idle": 2.14,
    "transcoder_pid": 4242, "run": "r1", "segments_ready": [12, 13, 14, 41],
    "segments": {"720p": 560, "480p": 560}, "position": 50.0, "paused": False, "restarts": 0,
    "master": "/hls/3f9c2a/master.m3u8",
}


def test_tree_prints_the_text_tree_and_sends_the_token(hlsd, capsys):
    hlsd.reply("GET", "/api/v1/tree?format=text", 200, (TREE_TEXT + "\n").encode(), "text/plain")

    code, out, err = run(capsys, "--url", hlsd.url, "--token", TOKEN, "tree")

    assert (code, out, err) == (0, TREE_TEXT + "\n", "")
    request = hlsd.only_request()
    assert (request.method, request.path) == ("GET", "/api/v1/tree?format=text")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_tree_json_with_options_after_the_command(hlsd, capsys):
    tree = {"name": "root", "kind": "supervisor", "state": "alive", "children": []}
    hlsd.reply("GET", "/api/v1/tree", 200, tree)

    code, out, _ = run(capsys, "tree", "--json", "--url", hlsd.url)

    assert code == 0 and json.loads(out) == tree
    assert "Authorization" not in hlsd.only_request().headers


def test_sessions_as_a_table_and_as_json(hlsd, capsys):
    waiting = {**SESSION, "id": "77aa01TOKEN", "short": "77aa01", "media": "b.mp4", "profile": "480p", "state": "starting",
               "transcoder_pid": None, "segments_ready": [], "idle": 0.0, "restarts": 2}
    hlsd.reply("GET", "/api/v1/sessions", 200, [SESSION, waiting])

    code, out, _ = run(capsys, "--url", hlsd.url, "sessions")

    assert code == 0
    header, first, second = out.splitlines()
    assert header.split() == ["SESSION", "ID", "STATE", "PROFILE", "PID", "SEGMENTS", "IDLE",
                              "RESTARTS", "MEDIA"]
    assert first.split() == ["3f9c2a", "3f9c2aTOKEN", "playing", "720p", "4242", "12..41/560",
                             "2.1s", "0", "movies/a.mkv"]
    assert second.split() == ["77aa01", "77aa01TOKEN", "starting", "480p", "-", "none/560",
                              "0.0s", "2", "b.mp4"]
    assert header.index("MEDIA") == first.index("movies/a.mkv")  # columns line up
    code, out, _ = run(capsys, "--url", hlsd.url, "--json", "sessions")
    assert code == 0 and json.loads(out) == [SESSION, waiting]


def test_sessions_when_there_are_none(hlsd, capsys):
    hlsd.reply("GET", "/api/v1/sessions", 200, [])

    assert run(capsys, "--url", hlsd.url, "sessions") == (0, "no sessions\n", "")


def test_stop_deletes_the_session(hlsd, capsys):
    hlsd.reply("DELETE", "/api/v1/sessions/3f9c2a", 204)

    code, out, _ = run(capsys, "--url", hlsd.url, "--token", TOKEN, "stop", "3f9c2a")

    assert code == 0 and out.startswith("stopped session 3f9c2a")
    request = hlsd.only_request()
    assert (request.method, request.path, request.body) == ("DELETE", "/api/v1/sessions/3f9c2a", b"")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_stop_of_an_unknown_session_prints_the_servers_error(hlsd, capsys):
    hlsd.reply("DELETE", "/api/v1/sessions/nope", 404,
               {"error": "not_found", "detail": "no session 'nope'"})

    code, out, err = run(capsys, "--url", hlsd.url, "stop", "nope")

    assert (code, out) == (1, "")
    assert err == "hlsctl: 404 not_found: no session 'nope'\n"


def test_fault_posts_kind_and_session(hlsd, capsys):
    hlsd.reply("POST", "/api/v1/faults", 200, {"fault": "kill_ffmpeg", "did": "SIGKILL to 4242"})

    code, out, _ = run(capsys, "--url", hlsd.url, "fault", "kill_ffmpeg", "3f9c2a")

    assert (code, out) == (0, "fault kill_ffmpeg  did SIGKILL to 4242\n")
    request = hlsd.only_request()
    assert (request.method, request.path) == ("POST", "/api/v1/faults")
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"fault": "kill_ffmpeg", "session": "3f9c2a"}


def test_fault_without_a_session_and_with_faults_disabled(hlsd, capsys):
    hlsd.reply("POST", "/api/v1/faults", 404,
               {"error": "not_found", "detail": "fault injection is disabled"})

    code, _, err = run(capsys, "--url", hlsd.url, "fault", "crash_supervisor")

    assert code == 1
    assert_one_line_error(err, "404 not_found: fault injection is disabled")
    assert json.loads(hlsd.only_request().body) == {"fault": "crash_supervisor"}


def test_url_and_token_from_the_environment(hlsd, capsys, monkeypatch):
    monkeypatch.setenv("HLSD_URL", hlsd.url + "/")
    monkeypatch.setenv("HLSD_TOKEN", TOKEN)
    hlsd.reply("GET", "/api/v1/sessions", 200, [])

    assert run(capsys, "sessions")[0] == 0
    request = hlsd.only_request()
    assert request.path == "/api/v1/sessions"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_an_error_page_that_is_not_json_is_still_one_line(hlsd, capsys):
    hlsd.reply("GET", "/api/v1/sessions", 500, b"<html>\n<h1>oops</h1>\n</html>", "text/html")

    code, _, err = run(capsys, "--url", hlsd.url, "sessions")

    assert code == 1
    assert_one_line_error(err, "500", "<html>")


@pytest.mark.parametrize("argv, fragment", [
    ((), "required: COMMAND"),
    (("fault", "explode"), "invalid choice: 'explode'"),
    (("stop",), "required: ID"),
    (("--timeout", "0", "tree"), "must be more than 0 seconds"),
    (("--url", "127.0.0.1:6543", "tree"), "bad URL"),
    (("frobnicate",), "invalid choice: 'frobnicate'"),
])
def test_usage_errors_exit_2_with_one_line_and_send_nothing(hlsd, capsys, argv, fragment):
    code, out, err = run(capsys, *argv)

    assert (code, out) == (2, "")
    assert_one_line_error(err, fragment)
    assert hlsd.received == []


# --- no hlsd to talk to ----------------------------------------------------------------------

@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections: bound (so nobody else takes it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel does) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_refused_connection_exits_3(closed_port, capsys):
    code, _, err = run(capsys, "--url", f"http://127.0.0.1:{closed_port}", "tree")

    assert code == 3
    assert_one_line_error(err, "cannot connect to", "Connection refused")


def test_silent_server_times_out_and_exits_3(silent_port, capsys):
    started = time.monotonic()

    code, _, err = run(capsys, "--url", f"http://127.0.0.1:{silent_port}", "--timeout", "0.3",
                       "sessions")

    assert code == 3
    assert time.monotonic() - started < 2.0
    assert_one_line_error(err, "no answer from", "within 0.3 s")


@pytest.mark.skipif(not HLSCTL.exists(), reason="the hlsctl console script is not installed")
def test_console_script_exit_code_and_one_line(closed_port):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HLSD_")}
    done = subprocess.run([str(HLSCTL), "--url", f"http://127.0.0.1:{closed_port}", "tree"],
                          capture_output=True, text=True, timeout=30, env=environment)

    assert (done.returncode, done.stdout) == (3, "")
    assert_one_line_error(done.stderr, "cannot connect to")


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "--help")

    assert code == 0 and "reap" in out and "Exit codes" in out


def test_several_nodes_each_under_its_name_and_a_dead_one_reported(hlsd, capsys, monkeypatch):
    other = FakeHlsd()
    other._thread.start()
    try:
        hlsd.reply("GET", "/api/v1/sessions", 200, [SESSION])
        other.reply("GET", "/api/v1/sessions", 200, [])
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
        code, out, err = run(capsys, "--url", hlsd.url, "--url", dead, "--url", other.url, "sessions")
        assert code == 3 and err.count("\n") == 1 and dead in err
        blocks = out.split("== ")[1:]
        assert [block.splitlines()[0] for block in blocks] == [hlsd.url, other.url]
        assert "3f9c2a" in blocks[0] and blocks[1].splitlines()[1] == "no sessions"
        monkeypatch.setenv("HLSD_URL", f"{hlsd.url},{other.url}")
        code, out, _ = run(capsys, "--json", "sessions")
        assert code == 0 and json.loads(out) == {hlsd.url: [SESSION], other.url: []}
        other.reply("DELETE", "/api/v1/sessions/3f9c2a", 204)
        hlsd.reply("DELETE", "/api/v1/sessions/3f9c2a", 204)
        assert run(capsys, "stop", "3f9c2a")[0] == 0
        assert [r.method for r in other.received].count("DELETE") == 1
        assert run(capsys, "fault", "kill_ffmpeg")[0] == 2  # a fault goes to one node
    finally:
        other.server.shutdown()
        other.server.server_close()
        other._thread.join(5)
