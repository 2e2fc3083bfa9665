"""Sessions that survive restarts (SPEC "Sessions that survive restarts and nodes"), and
signed session tokens as the web layer sees them.

A real ``pserve`` is stopped (SIGTERM) or killed (SIGKILL) and started again with the
same ini: the player's next segment request answers 200 and splices with the segments
before it (decoded together with FFmpeg: no errors, timestamps continue). Altered,
foreign, expired and wrong-media tokens are a 404 and spawn nothing.
"""
from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from webtest import TestApp

from actors import tokens
from tests.actors.test_tokens import recorded_work
from tests.helpers.front import free_port
from tests.helpers.media import make_clip
from tests.helpers.server import Server, ffmpeg_children, spawned, start_again, start_server, web_app

PROFILE = "copy"
BEFORE = 3  # segments read before the restart; the next one is read after it


@pytest.fixture(scope="module")
def resume_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("resume-media")
    # Long enough that FFmpeg is still there (paused ahead of the player) at the restart.
    make_clip(root / "clip.mp4", 80, width=320, height=180, gop=2)
    return root


def first_pts(path: Path) -> tuple[float, float]:
    """(first, last) video packet pts of a segment, in seconds."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    times = sorted(float(line.strip(",")) for line in out.split() if line.strip(","))
    return times[0], times[-1]


def splices(tmp_path: Path, before: bytes, after: bytes) -> None:
    """Segments k-1 and k decode as one stream, with no error and no gap in time."""
    joined, first, second = tmp_path / "joined.ts", tmp_path / "k-1.ts", tmp_path / "k.ts"
    first.write_bytes(before)
    second.write_bytes(after)
    joined.write_bytes(before + after)
    errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(joined), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=60).stderr
    assert errors == ""
    (_, last), (start, _) = first_pts(first), first_pts(second)
    assert 0 < start - last < 0.1, f"segment k starts at {start}, k-1 ends at {last}"


def wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in pids):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_session_survives_an_hlsd_restart(tmp_path: Path, resume_media: Path, how: signal.Signals) -> None:
    server = start_server(tmp_path, resume_media, server={"port": free_port()})
    again: Server | None = None
    try:
        status, headers, _ = server.get("/media/clip.mp4/master.m3u8")
        assert status == 200
        token = headers["X-Session-Id"]
        segments = {}
        for number in range(BEFORE):
            status, _, segments[number] = server.get(f"/hls/{token}/{PROFILE}/{number}.ts")
            assert status == 200
        pids = [p.pid for p in server.ffmpeg()]
        assert pids, "the session's FFmpeg should be running"
        if how is signal.SIGTERM:
            server.stop()
        else:
            server.process.kill()
            server.process.wait(5)
        assert wait_gone(pids, 1.0), "FFmpeg outlived hlsd by more than 1 s"

        again = start_again(server)
        assert again.url == server.url
        assert not spawned(again.work_dir), "the start-up sweep leaves nothing behind"
        started = time.monotonic()
        status, _, segments[BEFORE] = again.get(f"/hls/{token}/{PROFILE}/{BEFORE}.ts")
        gap = time.monotonic() - started
        assert status == 200, segments[BEFORE]
        print(f"resume gap after {how.name}: {gap:.3f} s")
        splices(tmp_path, segments[BEFORE - 1], segments[BEFORE])
        assert again.get(f"/hls/{token}/{PROFILE}/index.m3u8")[0] == 200
        assert again.get(f"/hls/{token}/master.m3u8")[0] == 200
        session = json.loads(again.get(f"/api/v1/sessions/{token}")[2])
        # Resumed by a run of its own, or from the segment store, which outlives hlsd.
        assert session["id"] == token
        assert session["run"] is not None or session["shared"]["from_store"] > 0
    finally:
        for running in (again, server):
            if running is not None and running.process.poll() is None:
                running.stop()
    assert not ffmpeg_children(), "an FFmpeg outlived the test"


# --- tokens through the web layer ------------------------------------------------------------

@pytest.fixture
def app(resume_media: Path, tmp_path: Path):
    with web_app(resume_media, tmp_path / "work", resume_window=600) as test_app:
        yield test_app


def claims(**changes) -> tokens.SessionClaims:
    base = dict(media="clip.mp4", profile="copy", renditions=("copy", "240p"), audio=None,
                subtitles=None, burn=None, start=0, created=int(time.time()), nonce=bytes(8))
    return tokens.SessionClaims(**{**base, **changes})


def nothing_spawned(app: TestApp) -> None:
    system = app.app.registry.hls
    assert system.runtime.directory.ids() == []
    assert not spawned(system.settings.work_dir) and not ffmpeg_children()


def test_bad_tokens_are_404_and_spawn_nothing(app: TestApp) -> None:
    system = app.app.registry.hls
    good = app.get("/media/clip.mp4/master.m3u8").headers["X-Session-Id"]
    renditions = system.runtime.directory.plan(good).names
    app.delete(f"/api/v1/sessions/{good}", status=204)
    nothing_spawned(app)
    raw = bytearray(good.encode())
    altered = []
    for at in (0, len(raw) // 2, len(raw) - 1):  # a byte of the payload, and of the MAC
        copy = raw.copy()
        copy[at] = ord("A") if copy[at] != ord("A") else ord("B")
        altered.append(copy.decode())
    bad = [*altered,
           tokens.issue(claims(renditions=renditions), bytes(range(1, 33))),  # another secret
           tokens.issue(claims(renditions=renditions, created=int(time.time()) - 700), system.secret),
           tokens.issue(claims(renditions=renditions, media="missing.mp4"), system.secret),
           tokens.issue(claims(renditions=("copy", "1080p")), system.secret),  # the file changed
           tokens.issue(claims(renditions=renditions, start=10_000), system.secret)]
    for token in bad:
        for path in (f"/hls/{token}/master.m3u8", f"/hls/{token}/copy/index.m3u8",
                     f"/hls/{token}/copy/0.ts", f"/api/v1/sessions/{token}"):
            assert app.get(path, status=404).json["error"] == "not_found", (token, path)
        app.post_json(f"/api/v1/sessions/{token}/heartbeat", {}, status=404)
        nothing_spawned(app)


def test_a_valid_token_this_node_never_ran_is_resumed_where_asked(app: TestApp) -> None:
    system = app.app.registry.hls
    renditions = app.get("/media/clip.mp4/master.m3u8").headers["X-Session-Id"]
    renditions = system.runtime.directory.plan(renditions).names
    token = tokens.issue(claims(renditions=renditions), system.secret)
    app.get(f"/hls/{token}/master.m3u8", status=200)  # a playlist: re-created, waiting
    assert system.session_state(token)["run"] is None and not ffmpeg_children()
    segment = app.get(f"/hls/{token}/copy/4.ts", status=200).body
    assert segment[:1] == b"G" and len(segment) > 10_000
    assert min(system.session_state(token)["segments_ready"]) == 4
    assert system.runtime.metrics.sessions_resumed._value.get() == 1


def test_a_forged_token_costs_one_hmac_and_one_compare_whatever_byte_is_wrong(
        app: TestApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """How far a forged MAC is right does not change the work the web layer does for it
    (one HMAC over the whole payload and a constant-time compare of two 16-byte MACs,
    nothing parsed before), and a valid token costs at most one HMAC, then none: it is
    remembered. Counted, not timed: the work is the guarantee, a clock only a symptom."""
    good = app.get("/media/clip.mp4/master.m3u8").headers["X-Session-Id"]
    key, _, body = good.partition(".")  # the media key, then the signed body
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))

    def forged(at: int) -> str:
        copy = bytearray(raw)
        copy[at] ^= 0x01
        return f"{key}." + base64.urlsafe_b64encode(bytes(copy)).rstrip(b"=").decode()

    work = recorded_work(monkeypatch)
    payload = len(tokens.KEYED_CONTEXT) + len(key) + len(raw) - tokens.MAC_SIZE
    for at in (0, len(raw) - tokens.MAC_SIZE, len(raw) - 1):  # version byte, first and last MAC byte
        app.get(f"/hls/{forged(at)}/master.m3u8", status=404)
        assert work == [("hmac", payload), ("compare", tokens.MAC_SIZE, tokens.MAC_SIZE)], at
        work.clear()
    for _ in range(3):
        app.get(f"/hls/{good}/master.m3u8", status=200)
    assert work.count(("hmac", payload)) <= 1, work  # none once remembered
