"""``hlsctl users``, the console script, on the users file of a config: offline, and while
a real hlsd (pserve, hls.auth = accounts) serves from the same file."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.media import make_clip
from tests.helpers.server import server_env, start_server, write_ini
from tests.helpers.settings import app_settings

pytestmark = pytest.mark.timeout(90)

HLSCTL = Path(sys.executable).with_name("hlsctl")
PASSWORD = "a long enough password"


def hlsctl(config: Path, *argv: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """The console script (this checkout's code first, as the servers run it)."""
    return subprocess.run([str(HLSCTL), "users", *argv, "--config", str(config)], text=True,
                          input=None if password is None else password + "\n",
                          capture_output=True, timeout=30, env=server_env())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "media").mkdir()
    settings = app_settings(tmp_path / "media", tmp_path / "work", auth="accounts", scan="false")
    return write_ini(tmp_path / "hlsd.ini", settings)


def test_add_list_key_passwd_remove_offline(config, tmp_path):
    added = hlsctl(config, "add", "ann", "--folders", "shows,films/kids", "--max-sessions", "2",
                   password=PASSWORD)
    assert added.returncode == 0, added.stderr
    assert "ann (viewer, folders shows,films/kids, at most 2 sessions)" in added.stdout
    assert hlsctl(config, "add", "root", "--admin", password=PASSWORD).returncode == 0
    listed = json.loads(hlsctl(config, "list", "--json").stdout)
    assert [(u["name"], u["role"], u["folders"]) for u in listed] == [
        ("ann", "viewer", ["shows", "films/kids"]), ("root", "admin", None)]
    key = hlsctl(config, "key", "ann").stdout.strip()
    assert key.startswith("hlsd_") and len(key) > 40
    users_file = tmp_path / "work" / "users.sqlite3"
    assert key.encode() not in users_file.read_bytes() and PASSWORD.encode() not in users_file.read_bytes()
    assert hlsctl(config, "passwd", "ann", password="another long password").returncode == 0
    assert hlsctl(config, "remove", "ann").returncode == 0
    assert "ann" not in hlsctl(config, "list").stdout


@pytest.mark.parametrize("argv, password, fragment", [
    (("add", "../evil"), PASSWORD, "user name"),
    (("add", "nul\x01"), PASSWORD, "user name"),
    (("add", "ann"), "short", "password"),
    (("add", "ann", "--folders", "../etc"), PASSWORD, "bad folder"),
    (("remove", "nobody"), None, "no user nobody"),
    (("passwd", "nobody"), PASSWORD, "no user nobody"),
])
def test_refusals_are_one_line_and_a_nonzero_exit(config, argv, password, fragment):
    done = hlsctl(config, *argv, password=password)
    assert done.returncode in (1, 2)
    assert done.stderr.startswith("hlsctl: ") and fragment in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert password is None or password not in done.stderr


def sign_in(url: str, name: str, password: str) -> int:
    request = urllib.request.Request(f"{url}/api/v1/login", method="POST",
                                     data=json.dumps({"name": name, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def get_with_key(url: str, path: str, key: str) -> int:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_changes_reach_a_running_hlsd(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    make_clip(media / "clip.mp4", 2, width=320, height=240)
    server = start_server(tmp_path, media, auth="accounts", scan="false")
    try:
        assert sign_in(server.url, "ann", PASSWORD) == 401
        assert hlsctl(server.ini, "add", "ann", password=PASSWORD).returncode == 0
        assert sign_in(server.url, "ann", PASSWORD) == 200
        key = hlsctl(server.ini, "key", "ann").stdout.strip()
        assert get_with_key(server.url, "/media", key) == 200
        assert hlsctl(server.ini, "remove", "ann").returncode == 0
        assert get_with_key(server.url, "/media", key) == 401
        assert sign_in(server.url, "ann", PASSWORD) == 401
        assert PASSWORD not in server.output()
    finally:
        assert server.stop() == 0
