"""Malformed requests get a clear 4xx, never a 500 or a traceback, and spawn nothing.

A path whose percent-escapes are not UTF-8 made Pyramid raise while matching routes, and
the catch-all exception view raised again (it read ``request.path``): waitress answered
its bare 500 and logged a traceback. Raw sockets to a real waitress, so that no client
library normalises the bytes; then random bytes at every route through WebTest.
"""
from __future__ import annotations

import json
import logging
import re
import socket
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote_to_bytes, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pyramid.interfaces import IRoutesMapper
from webob import Request
from webtest import TestApp

from tests.helpers.server import LOOPBACK, Server, ffmpeg_children, spawned, start_server
from web.routes import PAGE_ROUTES

pytestmark = pytest.mark.timeout(120)

READ_TIMEOUT = 10.0
MALFORMED = [
    b"/media/%ff%fe.mp4/master.m3u8",
    b"/hls/%ff/master.m3u8",
    b"/%ff",
    b"/watch/%c3",
    b"/watch/%ff%fe/x",
    b"/api/v1/sessions/%80",
    b"/hls/0123456789abcdef/%e9/index.m3u8",
    b"/static/%fe.css",
]
# Raw (unescaped) bytes above 0x7f in the request line: waitress refuses them itself
# ("Bad URI", its own text/plain 400) before any application sees the request.
RAW_BYTES = [b"/\xff\xfe", b"/watch/caf\xe9.mp4"]
PAGES = (b"/watch/",)


@pytest.fixture(scope="module")
def server(media_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    served = start_server(tmp_path_factory.mktemp("malformed"), media_root)
    try:
        yield served
    finally:
        served.stop()
    assert not spawned(served.work_dir)


def raw_request(server: Server, method: bytes, target: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request with the target's bytes exactly as given; (status, headers, body)."""
    address = urlsplit(server.url)
    head = (method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode())
    with socket.create_connection((address.hostname, address.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(head + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    header_block, _, content = response.partition(b"\r\n\r\n")
    status_line, *lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, content


@pytest.mark.parametrize("target", MALFORMED, ids=[t.decode("latin-1") for t in MALFORMED])
def test_a_path_that_is_not_utf8_is_a_400_with_a_clear_body(server, target):
    status, headers, body = raw_request(server, b"GET", target)
    assert status == 400, body[:300]
    assert b"Traceback" not in body
    if target.startswith(PAGES):
        assert headers["content-type"].startswith("text/html")
        assert b"<html" in body and b"not UTF-8" in body
    else:
        assert headers["content-type"].startswith("application/json")
        answer = json.loads(body)
        assert answer["error"] == "bad_request" and "not UTF-8" in answer["detail"]
    assert ffmpeg_children(server.pid) == []


@pytest.mark.parametrize("target", RAW_BYTES, ids=[t.decode("latin-1") for t in RAW_BYTES])
def test_raw_bytes_in_the_request_line_are_refused_by_waitress_with_a_400(server, target):
    status, headers, body = raw_request(server, b"GET", target)
    assert status == 400 and b"Bad URI" in body
    assert b"Traceback" not in body


@pytest.mark.parametrize("target", [b"/media/clip.mp4/master.m3u8?profile=%ff",
                                    b"/media/clip.mp4/master.m3u8?start=%c3", b"/api/v1/tree?format=%fe"])
def test_a_query_value_that_is_not_utf8_is_a_400_and_spawns_nothing(server, target):
    status, headers, body = raw_request(server, b"GET", target)
    assert status == 400, body[:300]
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"error": "bad_request", "detail": "the query string is not UTF-8"}
    assert ffmpeg_children(server.pid) == [] and not spawned(server.work_dir)


@pytest.mark.parametrize("method", [b"POST", b"DELETE", b"HEAD", b"OPTIONS"])
def test_any_method_on_an_undecodable_path_is_a_400(server, method):
    status, headers, body = raw_request(server, method, b"/api/v1/sessions/%ff", b'{"media": "clip.mp4"}')
    assert status == 400
    if method != b"HEAD":
        assert json.loads(body)["error"] == "bad_request"


def test_the_server_logged_no_traceback(server):
    for target in MALFORMED + RAW_BYTES:
        assert raw_request(server, b"GET", target)[0] == 400
    assert raw_request(server, b"GET", b"/healthz")[0] == 200  # still serving
    assert "Traceback" not in server.output()
    assert ffmpeg_children(server.pid) == [] and not spawned(server.work_dir)


# --- random bytes at every route ---------------------------------------------------------

TEMPLATES = [
    "/", "/watch/{}", "/media", "/media/{}/master.m3u8", "/hls/{}/master.m3u8",
    "/hls/{}/{}/index.m3u8", "/hls/{}/{}/{}.ts", "/api/v1/sessions", "/api/v1/sessions/{}",
    "/api/v1/sessions/{}/heartbeat", "/api/v1/sessions/{}/stop", "/api/v1/tree",
    "/api/v1/faults", "/metrics", "/healthz", "/static/{}", "/{}",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
escapes = st.builds(lambda n: f"%{n:02x}", st.integers(0, 255)) | st.builds(
    lambda n: f"%{n:02X}", st.integers(0, 255)) | st.sampled_from(["%", "%f", "%zz", "%%", "%c3%28"])
raw_chars = st.characters(min_codepoint=0x21, max_codepoint=0xFF, blacklist_characters="%?#")
# No real media or session id: what is generated must never start a transcoder.
parts = st.lists(escapes | raw_chars | st.sampled_from(["0", "copy", "0123456789abcdef", ".."]),
                 max_size=8).map("".join)
queries = st.lists(escapes | st.sampled_from(list("=&+;a0 ")) | raw_chars, max_size=12).map("".join)
bodies = st.binary(max_size=64) | st.sampled_from([b"{}", b'{"media": "%ff"}', b"[]", b"null",
                                                     b'{"media": "\xff"}', b'{"fault": 1}'])
content_types = st.sampled_from([None, "application/json", "application/x-www-form-urlencoded",
                                 "text/plain; charset=utf-8", "application/json; charset=latin-1"])


@st.composite
def requests(draw: Any) -> tuple[str, str, str, bytes, str | None]:
    template = draw(st.sampled_from(TEMPLATES))
    path = template.format(*(draw(parts) for _ in range(template.count("{}"))))
    return draw(st.sampled_from(METHODS)), path, draw(queries), draw(bodies), draw(content_types)


def as_wsgi(target: str) -> str:
    """The request target as waitress puts it in PATH_INFO: unquoted bytes, as latin-1."""
    return unquote_to_bytes(target.encode("latin-1")).decode("latin-1")


def is_page(app: TestApp, path_info: str, method: str) -> bool:
    """Whether Pyramid's route table sends this path to a page route (an HTML answer)."""
    if method not in ("GET", "HEAD"):
        return False
    raw = path_info.encode("latin-1")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.startswith(PAGES)
    mapper = app.app.registry.getUtility(IRoutesMapper)
    matched = next((route for route in mapper.get_routes() if route.match(decoded) is not None), None)
    return matched is not None and matched.name in PAGE_ROUTES


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests())
def test_random_requests_never_get_a_500_or_a_traceback(app, system, caplog, request):
    method, path, query, body, content_type = request
    environ = {**LOOPBACK, "REQUEST_METHOD": method, "PATH_INFO": as_wsgi(path),
               "QUERY_STRING": query, "CONTENT_LENGTH": str(len(body))}
    blank = Request.blank("/", environ=environ)
    blank.environ.update(environ)  # Request.blank would quote PATH_INFO
    blank.body = body
    if content_type is not None:
        blank.environ["CONTENT_TYPE"] = content_type
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        response = TestApp(app.app, lint=False).do_request(blank, status=None, expect_errors=True)
    where = f"{method} {path!r}?{query!r} {body!r}"
    assert response.status_int < 500, f"{where}: {response.status} {response.body[:300]!r}"
    assert b"Traceback" not in response.body and b'File "' not in response.body, where
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], where
    if response.status_int >= 400 and method != "HEAD":
        if is_page(app, environ["PATH_INFO"], method):
            assert response.content_type == "text/html", where
            assert re.search(rb"<html", response.body), where
        else:
            assert response.content_type == "application/json", where
            answer = response.json
            assert isinstance(answer.get("error"), str) and isinstance(answer.get("detail"), str), where
    assert ffmpeg_children() == [], where
    assert system.runtime.directory.ids() == [], where

