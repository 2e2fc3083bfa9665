"""Accounts behind the shipped nginx config (config/nginx-single.conf and config/nginx/,
only ports rewritten) in front of a real hlsd with production.ini's trusted proxy: the
sign-in throttle keys on the real client address, not nginx's 127.0.0.1, and the session
cookie is ``Secure`` exactly when nginx says the client came over https."""
from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from actors import accounts
from actors.accounts import Accounts
from tests.helpers.front import CONFIG, Front, free_port, nginx_command
from tests.helpers.server import Server, ffmpeg_children, start_server

pytestmark = pytest.mark.timeout(120)

PASSWORD = "a long enough password"
TRUSTED_PROXY = {"trusted_proxy": "127.0.0.1", "trusted_proxy_count": "1",
                 "trusted_proxy_headers": "x-forwarded-for x-forwarded-proto",
                 "clear_untrusted_proxy_headers": "true"}
ATTACKER, NEIGHBOUR = "127.0.0.5", "127.0.0.6"  # loopback routing, distinct client addresses


@pytest.fixture
def hlsd(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "media").mkdir()
    store = Accounts(tmp_path / "hlsd" / "work" / "users.sqlite3")
    for name in ("ann", "bob"):
        store.add(name, PASSWORD)
    store.close()
    server = start_server(tmp_path / "hlsd", tmp_path / "media", server=TRUSTED_PROXY,
                          auth="accounts", scan="false")
    yield server
    assert server.stop() == 0
    assert not ffmpeg_children()


@pytest.fixture
def front(tmp_path: Path, hlsd: Server) -> Iterator[Front]:
    prefix = tmp_path / "front"
    (prefix / "var").mkdir(parents=True)
    started = Front.start(prefix, "nginx-single.conf", [hlsd.url.removeprefix("http://")])
    yield started
    started.stop()


@pytest.fixture
def tls_front(tmp_path: Path, hlsd: Server) -> Iterator[Front]:
    """The shipped http settings and routes (config/nginx/) in a server block that
    listens with TLS (a self-signed certificate made here)."""
    prefix = tmp_path / "tls"
    (prefix / "var" / "nginx").mkdir(parents=True)
    shutil.copytree(CONFIG / "nginx", prefix / "config" / "nginx")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(prefix / "key.pem"),
                    "-out", str(prefix / "cert.pem")], check=True, capture_output=True, timeout=60)
    port, upstream = free_port(), hlsd.url.removeprefix("http://")
    (prefix / "config" / "tls.conf").write_text(f"""
include nginx/main.conf;
http {{
    include nginx/http.conf;
    upstream hlsd_sessions {{ server {upstream}; }}
    upstream hlsd_new {{ server {upstream}; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {prefix}/cert.pem;
        ssl_certificate_key {prefix}/key.pem;
        include nginx/routes.conf;
    }}
}}
""")
    log = (prefix / "nginx.stderr").open("wb")
    process = subprocess.Popen(nginx_command(prefix, "config/tls.conf"), stdout=log, stderr=log)
    log.close()
    started = Front(prefix, port, process)
    try:
        assert started.wait_listening(), started.errors()
        yield started
    finally:
        started.stop()


def login(front: Front, name: str, password: str, source: str = "127.0.0.1",
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    answer = front.request("POST", "/api/v1/login", source=source,
                           headers={"Content-Type": "application/json", **(headers or {})},
                           body=json.dumps({"name": name, "password": password}).encode())
    return answer.status, answer.headers


def test_the_throttle_keys_on_the_real_client_address(front: Front, hlsd: Server) -> None:
    for attempt in range(accounts.MAX_FAILURES):  # one address guessing many names
        assert login(front, f"guess{attempt}", "wrong password", ATTACKER)[0] == 401
    status, headers = login(front, "bob", PASSWORD, ATTACKER)
    assert status == 429 and 0 < int(headers["Retry-After"]) <= accounts.FAILURE_WINDOW
    # Every request reaches hlsd from nginx's 127.0.0.1: another client is not held back.
    assert login(front, "bob", PASSWORD, NEIGHBOUR)[0] == 200
    assert ATTACKER in hlsd.output() and "wrong password" not in hlsd.output()


def test_the_cookie_is_secure_when_nginx_says_https(tls_front: Front, front: Front) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", tls_front.port, timeout=30, context=context)
    try:
        connection.request("POST", "/api/v1/login", json.dumps({"name": "ann", "password": PASSWORD}),
                           {"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        cookie = answer.getheader("Set-Cookie")
    finally:
        connection.close()
    assert answer.status == 200 and "; secure" in cookie.lower() and "httponly" in cookie.lower()
    # Over plain http a client claiming https is not believed: nginx sets the header.
    status, headers = login(front, "ann", PASSWORD, headers={"X-Forwarded-Proto": "https"})
    assert status == 200 and "secure" not in headers["Set-Cookie"].lower()
