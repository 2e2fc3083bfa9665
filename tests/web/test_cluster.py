"""`make cluster` for real: supervisord runs nginx and 3 hlsd nodes from a copy of the
shipped config/cluster and config/nginx* files in which only ports are rewritten.

A player (a thread reading segments at 4x real time, retrying a 503 after its
Retry-After as players do) plays a 40 s clip through nginx; at 50 % the node serving its
segments is killed with SIGKILL. The player gets every segment (decoded together with
FFmpeg: no error, the full duration); the killed node's FFmpeg are gone within 1 s;
supervisord starts the node again, and its start-up sweep removes the dead runs' dirs.
And a rolling restart of the three nodes (supervisorctl restart, one after the other)
while three players play: every player gets every segment, decoded with no error.
Stopping supervisord stops everything: no process of the test is left.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import m3u8
import psutil
import pytest

from actors import ffmpeg
from actors.accounts import Accounts
from tests.helpers.front import CONFIG, free_port
from tests.helpers.media import make_clip
from tests.helpers.server import server_env

BIN = Path(sys.executable).parent
CLIP_SECONDS = 40
SPEED = 4.0
NODES = ("node1", "node2", "node3")
PLAYERS = 6  # the rolling restart's viewers
START_TIMEOUT = 30.0


class Cluster:
    """supervisord -n on a copy of the shipped files under ``root`` (a stand-in checkout)."""

    def __init__(self, root: Path, media: Path) -> None:
        self.root = root
        self.port = free_port()
        self.node_ports = {name: free_port() for name in NODES}
        shutil.copytree(CONFIG, root / "config")
        self._rewrite_ports()
        (root / "media").symlink_to(media)
        (root / ".venv" / "bin").mkdir(parents=True)
        (root / ".venv" / "bin" / "pserve").symlink_to(BIN / "pserve")
        for sub in ("var/cluster/log", "var/nginx"):
            (root / sub).mkdir(parents=True)
        # The shipped cluster signs users in (hls.auth = accounts): the players are a user
        # of the users file every node shares, with an API key.
        users = Accounts(root / "var" / "cluster" / "users.sqlite3")
        users.add("player", "a long enough password")
        self.key = users.new_key("player")
        users.close()
        log = (root / "supervisord.out").open("wb")
        self.process = subprocess.Popen(
            [str(BIN / "supervisord"), "-n", "-c", str(root / "config/cluster/supervisord.conf")],
            cwd=root, stdout=log, stderr=subprocess.STDOUT, env=server_env(), start_new_session=True)
        log.close()

    def _rewrite_ports(self) -> None:
        conf = self.root / "config" / "nginx.conf"
        text = conf.read_text().replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{self.port};")
        for number, name in enumerate(NODES, 1):
            text = text.replace(f"127.0.0.1:655{number} ", f"127.0.0.1:{self.node_ports[name]} ")
            ini = self.root / "config" / "cluster" / f"{name}.ini"
            ini.write_text(ini.read_text().replace(f"port = 655{number}", f"port = {self.node_ports[name]}"))
        conf.write_text(text)
        # FFmpeg two segments ahead of the player is suspended, not finished: the short
        # clip would otherwise be remuxed whole before the kill, with no FFmpeg to watch die.
        base = self.root / "config" / "cluster" / "base.ini"
        shipped = base.read_text()
        assert "hls.pause_ahead" not in shipped and "use = egg:hlsd\n" in shipped
        base.write_text(shipped.replace("use = egg:hlsd\n", "use = egg:hlsd\nhls.pause_ahead = 2\n", 1))
        if os.geteuid() == 0:  # workers as nobody could not enter pytest's 0700 tmp dirs
            sup = self.root / "config" / "cluster" / "supervisord.conf"
            sup.write_text(sup.read_text().replace('-g "daemon off;"', '-g "daemon off; user root;"'))

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
        try:
            request = urllib.request.Request(self.url(path), headers={"Authorization": f"Bearer {self.key}"})
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()
        except OSError:
            return -1, {}, b""

    def work_dir(self, name: str) -> Path:
        return self.root / "var" / "cluster" / name / "work"

    def node_pid(self, name: str) -> int | None:
        for child in psutil.Process(self.process.pid).children():
            try:
                if any(arg.endswith(f"{name}.ini") for arg in child.cmdline()):
                    return child.pid
            except psutil.NoSuchProcess:
                continue
        return None

    def wait_serving(self, name: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.node_ports[name]}/healthz"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{name} not serving:\n{self.logs()}")

    def everything(self) -> list[int]:
        try:
            return [self.process.pid] + [p.pid for p in psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in
                         [self.root / "supervisord.out", *sorted((self.root / "var/cluster/log").glob("*.log"))])

    def stop(self) -> None:
        """SIGTERM to supervisord: nginx first, then the nodes, each within its stopwaitsecs."""
        pids = self.everything()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        left = [pid for pid in pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"left running after supervisord stopped: {left}"


def tagged(cluster: Cluster, name: str) -> list[int]:
    return [t.pid for t in ffmpeg.find_tagged(cluster.work_dir(name))]


def run_dirs(cluster: Cluster, name: str) -> list[Path]:
    return [p for p in cluster.work_dir(name).glob("*/*/*") if p.is_dir()]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_player_survives_the_kill_of_its_node(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    make_clip(media / "film.mp4", CLIP_SECONDS, width=320, height=180, gop=2)
    cluster = Cluster(tmp_path / "checkout", media)
    try:
        for name in NODES:
            cluster.wait_serving(name)
        status, headers, body = cluster.get("/media/film.mp4/master.m3u8")
        assert status == 200, (body, cluster.logs())
        token = headers["X-Session-Id"]
        variant = m3u8.loads(body.decode()).playlists[0].uri
        playlist = m3u8.loads(cluster.get(variant)[2].decode())
        segments, served_by = [], []
        killed_at = delivered_after_kill = None
        half = len(playlist.segments) // 2
        victim = dead_pids = dead_runs = None
        for number, segment in enumerate(playlist.segments):
            if number == half:
                victim = served_by[-1]
                dead_runs = run_dirs(cluster, victim)
                dead_pids = tagged(cluster, victim)
                assert dead_pids and dead_runs, f"{victim} should be running the session's FFmpeg"
                killed_at = time.monotonic()
                os.kill(cluster.node_pid(victim), signal.SIGKILL)
            started = time.monotonic()
            body, node = fetch(cluster, urllib.parse.urljoin(variant, segment.uri))
            segments.append(body)
            served_by.append(node)
            if killed_at is not None and delivered_after_kill is None:
                delivered_after_kill = time.monotonic()
                deadline = killed_at + 1.0
                while tagged(cluster, victim) and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                               for pid in dead_pids), "the killed node's FFmpeg outlived it by 1 s"
            time.sleep(max(0.0, segment.duration / SPEED - (time.monotonic() - started)))
        print(f"failover gap (kill -9 to next segment delivered): {delivered_after_kill - killed_at:.3f} s; "
              f"served by {served_by}")
        assert served_by[half] != victim
        stream = tmp_path / "played.ts"
        stream.write_bytes(b"".join(segments))
        errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(stream), "-f", "null", "-"],
                                capture_output=True, text=True, timeout=60).stderr
        assert errors == ""
        duration = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                         "-of", "csv=p=0", str(stream)], capture_output=True, text=True,
                                        timeout=30).stdout)
        assert abs(duration - CLIP_SECONDS) < 0.5
        cluster.wait_serving(victim)  # supervisord started it again
        assert not any(run.exists() for run in dead_runs), "the restarted node left the dead runs' dirs"
        assert cluster.get(f"/api/v1/sessions/{token}")[0] in (200, 404)
    finally:
        cluster.stop()
    for name in NODES:
        assert tagged(cluster, name) == [], f"FFmpeg of {name} left running"


def fetch(cluster: Cluster, path: str, patience: float = 30.0) -> tuple[bytes, str]:
    """A segment as a player gets it: a 503 is retried after its Retry-After (capped)."""
    deadline = time.monotonic() + patience
    while True:
        status, headers, body = cluster.get(path)
        if status == 200:
            return body, headers.get("X-Hlsd-Node", "?")
        assert status == 503 and time.monotonic() < deadline, (status, body, cluster.logs())
        time.sleep(min(float(headers.get("Retry-After", 1)), 0.5))


def play(cluster: Cluster, media: str, into: dict[str, object]) -> None:
    """A player thread: opens a session and reads every segment at 4x real time."""
    try:
        status, _, body = cluster.get(f"/media/{media}/master.m3u8")
        assert status == 200, (status, body)
        variant = m3u8.loads(body.decode()).playlists[0].uri
        playlist = m3u8.loads(cluster.get(variant)[2].decode())
        segments = []
        for segment in playlist.segments:
            started = time.monotonic()
            segments.append(fetch(cluster, urllib.parse.urljoin(variant, segment.uri))[0])
            time.sleep(max(0.0, segment.duration / SPEED - (time.monotonic() - started)))
        into["stream"] = b"".join(segments)
    except BaseException as error:  # the test reports it
        into["error"] = error


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_rolling_restart_of_every_node_while_six_players_play(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    make_clip(media / "film.mp4", 60, width=320, height=180, gop=2)
    cluster = Cluster(tmp_path / "checkout", media)
    conf = cluster.root / "config/cluster/supervisord.conf"
    try:
        for name in NODES:
            cluster.wait_serving(name)
        results = [{} for _ in range(PLAYERS)]
        players = [threading.Thread(target=play, args=(cluster, "film.mp4", result), daemon=True)
                   for result in results]
        for player in players:
            player.start()
        time.sleep(2)
        for name in NODES:  # one after the other: SIGTERM, wait for the exit, start, RUNNING
            done = subprocess.run([str(BIN / "supervisorctl"), "-c", str(conf), "restart", f"node:{name}"],
                                  capture_output=True, text=True, timeout=40, env=server_env())
            assert "started" in done.stdout, (done.stdout, done.stderr)
        for player in players:
            player.join(60)
        assert not any(player.is_alive() for player in players)
        for result in results:
            assert "error" not in result, result.get("error")
            stream = tmp_path / "played.ts"
            stream.write_bytes(result["stream"])
            errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(stream), "-f", "null", "-"],
                                    capture_output=True, text=True, timeout=60).stderr
            assert errors == ""
    finally:
        cluster.stop()
    for name in NODES:
        assert tagged(cluster, name) == [], f"FFmpeg of {name} left running"
