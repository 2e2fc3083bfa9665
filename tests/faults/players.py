"""Clients of an hlsd under test, in the test process or over HTTP, and a player thread.

Both clients answer every call with an ``Answer`` (status, body, seconds taken) instead
of raising, so a scenario reads the same whichever way it talks to hlsd:

- ``InProcessClient(system)`` calls ``HlsSystem`` directly; an ``HlsError`` becomes the
  status the web layer would send. Anything else propagates:
  that is a bug, and the test shows its traceback.
- ``HttpClient(url)`` sends real requests to 127.0.0.1, each with a timeout. No answer in
  time is status ``TIMED_OUT`` (0); a refused or broken connection is ``NO_CONNECTION``;
  a chunked body that ends without its last chunk is ``CUT_SHORT``.

``Player`` is a thread that reads segments in order as a player does (a 503 is retried
after its ``Retry-After``, capped, and a body cut short at once; a 404 or 502 ends
playback with that error);
``plays_normally`` opens a new session and decodes its first segments with FFmpeg.
"""
from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol
from urllib.parse import quote

import psutil

from actors.errors import HlsError
from actors.system import HlsSystem
from actors.media import RenditionKey
from web.views.errors import retry_after, status_of

TIMED_OUT = 0
NO_CONNECTION = -1
# A chunked body that ended without its last chunk: hlsd aborted a segment it was sending
# as FFmpeg wrote it (the run stopped before the segment was whole). Players retry it.
CUT_SHORT = -2
RETRIED = frozenset({503, CUT_SHORT})
# What a client may get from hlsd when something went wrong: a clear, documented answer.
CLEAR_ERRORS = frozenset({400, 404, 409, 415, 422, 502, 503})
RETRY_CAP = 0.25  # tests retry sooner than Retry-After asks; hlsd must cope with eager clients


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None  # bytes of a segment, parsed JSON, or None
    elapsed: float = 0.0
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def clear_error(self) -> bool:
        """An error status with hlsd's ``{"error", "detail"}`` body."""
        return (self.status in CLEAR_ERRORS and isinstance(self.body, dict)
                and {"error", "detail"} <= set(self.body))

    def json(self) -> dict[str, Any]:
        assert isinstance(self.body, dict), f"not JSON: {self}"
        return self.body


class Client(Protocol):
    def open(self, media: str, profile: str | None = None, start: float = 0.0) -> Answer: ...
    def segment(self, session: str, profile: str, number: int) -> Answer: ...
    def heartbeat(self, session: str, position: float | None = None,
                  paused: bool | None = None) -> Answer: ...
    def state(self, session: str) -> Answer: ...
    def stop(self, session: str) -> Answer: ...
    def fault(self, fault: str, session: str | None = None) -> Answer: ...


class InProcessClient:
    """``HlsSystem`` called on the caller's thread, as a waitress thread would."""

    def __init__(self, system: HlsSystem) -> None:
        self.system = system

    def open(self, media: str, profile: str | None = None, start: float = 0.0) -> Answer:
        return _call(lambda: self.system.open_session(media, profile, start))

    def segment(self, session: str, profile: str, number: int) -> Answer:
        def read() -> bytes:
            with self.system.segment(session, RenditionKey.video(profile), number) as opened:
                return opened.read()
        return _call(read)

    def heartbeat(self, session: str, position: float | None = None,
                  paused: bool | None = None) -> Answer:
        return _call(lambda: self.system.heartbeat(session, position, paused))

    def state(self, session: str) -> Answer:
        return _call(lambda: self.system.session_state(session))

    def stop(self, session: str) -> Answer:
        return _call(lambda: self.system.stop_session(session))

    def fault(self, fault: str, session: str | None = None) -> Answer:
        return _call(lambda: self.system.operators.inject_fault(fault, session))


def _call(work: Callable[[], Any]) -> Answer:
    started = time.monotonic()
    try:
        body = work()
    except HlsError as error:
        retry = retry_after(error)
        return Answer(status_of(error), {"error": error.code, "detail": error.detail},
                      time.monotonic() - started, retry)
    return Answer(200, body, time.monotonic() - started)


class HttpClient:
    """Real HTTP to a served hlsd; a new connection per request, each with a timeout."""

    def __init__(self, url: str, timeout: float = 30.0, key: str = "") -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.timeout = timeout
        self.key = key  # with hls.auth = accounts: a user's API key, sent as a bearer

    def open(self, media: str, profile: str | None = None, start: float = 0.0) -> Answer:
        body = {"media": media, "start": start, **({"profile": profile} if profile else {})}
        answer = self.request("POST", "/api/v1/sessions", body)
        return answer

    def segment(self, session: str, profile: str, number: int) -> Answer:
        return self.request("GET", f"/hls/{session}/{quote(profile)}/{number}.ts")

    def heartbeat(self, session: str, position: float | None = None,
                  paused: bool | None = None) -> Answer:
        body = {key: value for key, value in (("position", position), ("paused", paused))
                if value is not None}
        return self.request("POST", f"/api/v1/sessions/{session}/heartbeat", body)

    def state(self, session: str) -> Answer:
        return self.request("GET", f"/api/v1/sessions/{session}")

    def stop(self, session: str) -> Answer:
        return self.request("DELETE", f"/api/v1/sessions/{session}")

    def fault(self, fault: str, session: str | None = None) -> Answer:
        return self.request("POST", "/api/v1/faults",
                            {"fault": fault, **({"session": session} if session else {})})

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                timeout: float | None = None) -> Answer:
        started = time.monotonic()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        try:
            connection.request(method, path, json.dumps(body) if body is not None else None, headers)
            response = connection.getresponse()
            data = response.read()
        except TimeoutError:
            return Answer(TIMED_OUT, f"{method} {path}: no answer", time.monotonic() - started)
        except http.client.IncompleteRead:
            return Answer(CUT_SHORT, f"{method} {path}: body cut short", time.monotonic() - started)
        except OSError as error:
            return Answer(NO_CONNECTION, f"{method} {path}: {error}", time.monotonic() - started)
        finally:
            connection.close()
        retry = response.getheader("Retry-After")
        return Answer(response.status, _parse(response.getheader("Content-Type", ""), data),
                      time.monotonic() - started, float(retry) if retry else None)


def _parse(content_type: str, data: bytes) -> Any:
    if content_type.startswith("application/json"):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data if data else None


class Player(threading.Thread):
    """Reads ``numbers`` of one session in order, like hls.js: a 503 or a body cut short
    is retried (for at most ``patience`` s per segment); any other error ends playback
    with that answer.

    ``reading`` is set once ``ready_after`` segments have been read, so a test can fire
    its fault while this player is in the middle of playing."""

    def __init__(self, client: Client, session: str, profile: str, numbers: Iterable[int],
                 patience: float = 30.0, ready_after: int = 2) -> None:
        super().__init__(name=f"player-{session[:6]}", daemon=True)
        self.client, self.session, self.profile = client, session, profile
        self.numbers, self.patience, self.ready_after = numbers, patience, ready_after
        self.segments: dict[int, bytes] = {}
        self.statuses: Counter[int] = Counter()
        self.error: Answer | None = None
        self.longest = 0.0
        self.reading = threading.Event()
        self.quit = threading.Event()

    def run(self) -> None:
        try:
            for number in self.numbers:
                if not self._read(number):
                    return
                if len(self.segments) >= self.ready_after:
                    self.reading.set()
        finally:
            self.reading.set()

    def _read(self, number: int) -> bool:
        deadline = time.monotonic() + self.patience
        while not self.quit.is_set():
            answer = self.client.segment(self.session, self.profile, number)
            self.statuses[answer.status] += 1
            self.longest = max(self.longest, answer.elapsed)
            if answer.status == 200:
                self.segments[number] = answer.body
                return True
            if answer.status not in RETRIED or time.monotonic() > deadline:
                self.error = answer
                return False
            self.quit.wait(min(answer.retry_after or RETRY_CAP, RETRY_CAP))
        return False

    def finish(self, timeout: float) -> Player:
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} still reading after {timeout} s: {self.statuses}"
        return self

    def stream(self) -> bytes:
        return b"".join(self.segments[n] for n in sorted(self.segments))


def decode_errors(stream: bytes, work: Path) -> str:
    """What FFmpeg reports decoding ``stream`` as a player would (empty: it plays)."""
    path = work / f"decode-{time.monotonic_ns()}.ts"
    path.write_bytes(stream)
    try:
        return subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
                              check=False, capture_output=True, text=True, timeout=60).stderr
    finally:
        path.unlink()


def plays_normally(client: Client, media: str, profile: str, work: Path, count: int = 3,
                   patience: float = 30.0) -> None:
    """A new session of ``media`` serves segments 0..count-1, they decode cleanly, and it
    stops with 204 (the "after recovery" check of every scenario)."""
    opened = client.open(media, profile)
    assert opened.status in (200, 201), f"cannot open a new session after the fault: {opened}"
    session = opened.json()["id"]
    player = Player(client, session, profile, range(count), patience=patience)
    player.start()
    player.finish(patience * count + 5)
    assert player.error is None, f"a new session does not play after the fault: {player.error}"
    assert decode_errors(player.stream(), work) == ""
    stopped = client.stop(session)
    assert stopped.status in (200, 204), stopped


def session_state(client: Client, session: str) -> dict[str, Any] | None:
    """The session's state, or None while it restarts (503) or once it is gone (404)."""
    answer = client.state(session)
    return answer.json() if answer.ok else None


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Re-evaluate ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        pause.wait(0.02)


def first_request(client: Client, session: str) -> threading.Thread:
    """A session starts no FFmpeg until a segment is asked for (lazy start): ask for its
    first segment from a thread, answer ignored (bounded by the client's own deadline),
    so a test can watch the FFmpeg that request starts."""
    state = session_state(client, session) or {}
    profile = state.get("profile") or "copy"
    asking = threading.Thread(target=client.segment, args=(session, profile, 0),
                              name=f"first-request-{session[:8]}", daemon=True)
    asking.start()
    return asking


def ffmpeg_running(client: Client, session: str, timeout: float = 15.0) -> int:
    """The pid of the session's FFmpeg once it runs (not stopped by hlsd's pacing); asks
    for the first segment when nothing runs yet."""
    if (session_state(client, session) or {}).get("run") is None:
        first_request(client, session)

    def running() -> int | None:
        state = session_state(client, session)
        pid = state and state["transcoder_pid"]
        try:
            return pid if pid and psutil.Process(pid).status() != psutil.STATUS_STOPPED else None
        except psutil.NoSuchProcess:
            return None
    return wait_for(running, timeout, f"FFmpeg of session {session} running")


def restarted(client: Client, session: str, old_pid: int, timeout: float) -> dict[str, Any]:
    """The session's state once its transcoder was restarted with a new FFmpeg."""
    def new_run() -> dict[str, Any] | None:
        state = session_state(client, session)
        if state and state["restarts"] >= 1 and state["transcoder_pid"] not in (None, old_pid):
            return state
        return None
    return wait_for(new_run, timeout, f"session {session} restarted its transcoder")


def gone(client: Client, session: str, timeout: float) -> None:
    wait_for(lambda: client.state(session).status == 404, timeout, f"session {session} ended")


def answer_bound(segment_wait: float) -> float:
    """Invariant 5 for a segment request: hlsd answers within ``segment_wait`` + 1 s (its
    own deadline), plus a second for the transport and a busy machine."""
    return segment_wait + 2.0
