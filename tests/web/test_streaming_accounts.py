"""The streaming suite (tests/web/test_streaming.py) again with ``hls.auth = accounts``:
the same answers for a user signed in by the session cookie, whose every state-changing
request carries the CSRF token as the player page sends it."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from webtest import TestApp

from tests.helpers.server import LOOPBACK, web_app
from tests.web.test_streaming import *  # noqa: F401,F403 (the tests, collected here again)

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def app(media_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestApp]:
    with web_app(media_root, tmp_path_factory.mktemp("work"), auth="accounts") as built:
        built.app.registry.hls.accounts.add("viewer", PASSWORD)
        TestApp(built.app, extra_environ=LOOPBACK).get("/media", status=401)  # accounts are on
        signed_in = TestApp(built.app, extra_environ=LOOPBACK)
        csrf = signed_in.post_json("/api/v1/login", {"name": "viewer", "password": PASSWORD}).json["csrf"]
        signed_in.extra_environ = {**LOOPBACK, "HTTP_X_CSRF_TOKEN": csrf}
        yield signed_in
