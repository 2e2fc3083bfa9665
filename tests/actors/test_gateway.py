"""Session-wide rules (``actors.gateway.SessionGateway``) and what operators reach
(``actors.operators``), in a real HlsSystem: tokens, ``max_sessions``, resuming from a
token and its checks, stops, saved positions; the tree and fault injection."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Iterator

import pytest

from actors import tokens
from actors.errors import Invalid, NotFound, Unavailable
from actors.system import HlsSystem
from tests.helpers.media import make_clip
from tests.helpers.runtime import leftover_runs, tagged_pids
from tests.helpers.settings import settings_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gateway") / "media"
    root.mkdir()
    make_clip(root / "movie.mp4", 12, width=320, height=240)
    return root


@pytest.fixture
def system(library: Path, tmp_path: Path) -> Iterator[HlsSystem]:
    started = HlsSystem(settings_for(library, tmp_path / "work", max_sessions=2,
                                     profiles="\n copy copy", scan="false")).start()
    try:
        yield started
    finally:
        started.stop()
        assert tagged_pids(tmp_path / "work") == [] and leftover_runs(tmp_path / "work") == []


def test_the_secret_is_resolved_once_and_kept_across_restarts(library, tmp_path):
    first = HlsSystem(settings_for(library, tmp_path / "work", scan="false"))
    again = HlsSystem(settings_for(library, tmp_path / "work", scan="false"))
    assert first.secret == again.secret == first.gateway.secret and len(first.secret) >= 16
    first.runtime.index.close()
    again.runtime.index.close()


def test_tokens_of_another_secret_altered_or_too_old_are_the_same_404(system):
    token = system.open_session("movie.mp4")["id"]
    claims = system.gateway.claims(token)
    assert claims.media == "movie.mp4"
    forged = [tokens.issue(claims, b"another secret of sixteen bytes!"),
              token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
              tokens.issue(dataclasses.replace(claims, created=int(time.time()) - 10**6), system.secret)]
    for bad in forged:
        with pytest.raises(NotFound, match="no such session"):
            system.gateway.claims(bad)


def test_at_most_max_sessions_and_a_stopped_one_frees_its_place(system):
    first, second = (system.open_session("movie.mp4")["id"] for _ in range(2))
    with pytest.raises(Unavailable, match="at most 2 sessions") as full:
        system.open_session("movie.mp4")
    assert full.value.retry_in > 0
    system.stop_session(first)
    assert system.open_session("movie.mp4")["id"] not in (first, second)


def test_a_token_this_node_does_not_run_is_resumed_once_if_the_media_still_plays_so(system):
    token = system.open_session("movie.mp4")["id"]
    system.stop_session(token)
    assert system.runtime.directory.lookup(token) is None
    ref = system.gateway.ref(token)  # resumed from its claims
    assert system.gateway.ref(token) is ref and len(system.runtime.directory) == 1
    claims = system.gateway.claims(token)
    changed = tokens.issue(dataclasses.replace(claims, renditions=("copy", "1080p")), system.secret)
    with pytest.raises(NotFound, match="the media changed"):
        system.gateway.ref(changed)
    assert system.gateway.ref(token, resume=True) is ref
    assert system.runtime.directory.lookup(changed) is None


def test_a_state_or_a_stop_never_recreates_a_session(system):
    token = system.open_session("movie.mp4")["id"]
    system.stop_session(token)
    with pytest.raises(NotFound):
        system.session_state(token)
    system.stop_session(token)  # stopped already: nothing to do, no error
    assert system.runtime.directory.lookup(token) is None


def test_a_heartbeat_with_a_position_is_saved_for_continue_watching(system):
    token = system.open_session("movie.mp4")["id"]
    system.heartbeat(token, position=7.5)
    assert system.runtime.index.position("movie.mp4") == pytest.approx(7.5)


def test_operators_see_the_tree_and_faults_are_checked(system):
    token = system.open_session("movie.mp4")["id"]
    tree = system.operators.tree()
    sessions = next(node for node in tree["children"] if node["name"] == "sessions")
    assert [node["session"] for node in sessions["children"]] == [tokens.short_id(token)]
    assert "session " + tokens.short_id(token) in system.operators.tree_text()
    with pytest.raises(Invalid, match="unknown fault"):
        system.operators.inject_fault("melt_cpu", token)
    assert system.operators.inject_fault("kill_ffmpeg", token)["did"] == "nothing: no transcoder running"
    system.stop_session(token)
    with pytest.raises(NotFound, match="no session to inject"):
        system.operators.inject_fault("kill_ffmpeg", None)
