"""``web.main`` and the served process: bad settings, stopping, signals."""
from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

import web
from tests.helpers.server import PSERVE, Server, server_env, spawned, start_server, write_ini
from tests.helpers.settings import app_settings

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize("key, value, named", [
    ("hls.segment_seconds", "four", "hls.segment_seconds"),
    ("hls.restart_intensity", "3", "hls.restart_intensity"),
    ("hls.ffmpeg", "/nonexistent/ffmpeg", "hls.ffmpeg"),
    ("hls.colour", "blue", "hls.colour"),
])
def test_bad_setting_stops_start_up_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  key: str, value: str, named: str) -> None:
    settings = {**app_settings(tmp_path / "media", tmp_path / "work"), key: value}
    with pytest.raises(SystemExit) as exited:
        web.main({}, **settings)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hlsd: ") and named in lines[0]
    assert not (tmp_path / "work").exists()


def test_unusable_work_dir_stops_start_up_with_one_line(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(SystemExit) as exited:
        web.main({}, **app_settings(tmp_path / "media", tmp_path / "file" / "work"))
    assert exited.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hlsd: cannot start: ")


def test_pserve_shows_a_bad_setting_cleanly(tmp_path: Path) -> None:
    settings = {**app_settings(tmp_path / "media", tmp_path / "work"), "hls.kill_grace": "-1"}
    ini = write_ini(tmp_path / "bad.ini", settings)
    done = subprocess.run([str(PSERVE), str(ini)], capture_output=True, text=True, timeout=30,
                          env=server_env())
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "hlsd: bad setting hls.kill_grace = '-1': must be a positive number"]
    assert "Traceback" not in done.stdout + done.stderr


def playing(server: Server, media: str = "long.mp4") -> str:
    """Open a session and fetch a segment, so its FFmpeg is running; its id."""
    status, headers, _ = server.get(f"/media/{media}/master.m3u8")
    assert status == 200
    session = headers["X-Session-Id"]
    assert server.get(f"/hls/{session}/copy/0.ts")[0] == 200
    assert server.ffmpeg(), "the session's FFmpeg should be running"
    return session


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_server_stops_everything(tmp_path: Path, server_media: Path, sig: signal.Signals) -> None:
    server = start_server(tmp_path, server_media)
    try:
        playing(server)
        ffmpeg = server.ffmpeg()
        started = time.monotonic()
        server.process.send_signal(sig)
        assert server.process.wait(10) == 0
        assert time.monotonic() - started < 5
        for process in ffmpeg:
            assert not process.is_running() or process.status() == "zombie"
        assert not spawned(server.work_dir)
        assert not (server.work_dir / server.instance).exists()
        assert "stopped" in server.output()
    finally:
        server.kill()


def test_sigusr1_logs_the_tree(tmp_path: Path, server_media: Path) -> None:
    server = start_server(tmp_path, server_media)
    try:
        server.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while "└─ sessions  supervisor dynamic" not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        assert server.get("/healthz")[0] == 200
    finally:
        assert server.stop() == 0


def test_ffmpeg_decodes_the_whole_file_over_http(tmp_path: Path, server_media: Path) -> None:
    server = start_server(tmp_path, server_media)
    try:
        done = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", f"{server.url}/media/clip.mp4/master.m3u8",
             "-f", "null", "-", "-progress", "pipe:1"],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stderr == ""
        decoded = [int(line.split("=")[1]) for line in done.stdout.splitlines()
                   if line.startswith("out_time_us=")]
        assert decoded[-1] / 1e6 == pytest.approx(12.0, abs=0.1)
    finally:
        assert server.stop() == 0
    assert not spawned(server.work_dir)


def test_a_client_dropping_mid_segment_costs_nothing(tmp_path: Path, server_media: Path) -> None:
    server = start_server(tmp_path, server_media)
    try:
        session = playing(server)
        host, port = server.url.removeprefix("http://").split(":")
        for _ in range(20):
            with socket.create_connection((host, int(port)), timeout=5) as client:
                client.sendall(f"GET /hls/{session}/copy/1.ts HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                assert client.recv(4096).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 5
        while open_segments(server):
            assert time.monotonic() < deadline, f"still open: {open_segments(server)}"
            time.sleep(0.05)
        assert server.get(f"/hls/{session}/copy/2.ts")[0] == 200
    finally:
        assert server.stop() == 0


def open_segments(server: Server) -> list[str]:
    return [f.path for f in psutil.Process(server.pid).open_files() if f.path.endswith(".ts")]
