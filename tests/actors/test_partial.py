"""actors.partial: which file is the segment being written, and a growing body never
ends looking whole unless it is the complete segment."""
from __future__ import annotations

import time
from pathlib import Path

import pykka
import pytest

from actors.errors import Unavailable
from actors.partial import GrowingSegment, SegmentAbandoned, wait_or_follow, writing

pytestmark = pytest.mark.timeout(30)


def run_dir(session: Path, run: str, *numbers: int) -> Path:
    path = session / run
    path.mkdir(parents=True)
    for number in numbers:
        (path / f"{number}.ts").write_bytes(b"G")
    return path


def test_the_one_live_video_run_writing_the_number_is_found(tmp_path: Path) -> None:
    run_dir(tmp_path, "s1-1", 3)
    run_dir(tmp_path, "s1-a1", 3)  # an audio run writes its own 3.ts
    run_dir(tmp_path, "s1-0", 3)  # a run that ended (not live)
    assert writing(tmp_path, {"s1-1", "s1-a1"}, 3, None) == tmp_path / "s1-1" / "3.ts"
    assert writing(tmp_path, {"s1-1"}, 4, None) is None


def test_two_live_video_runs_or_another_runs_dir_find_nothing(tmp_path: Path) -> None:
    run_dir(tmp_path, "s1-1", 3)
    run_dir(tmp_path, "s1-2r1", 3)
    assert writing(tmp_path, {"s1-1", "s1-2r1"}, 3, None) is None  # a seek or a switch
    assert writing(tmp_path, {"s1-2r1"}, 3, str(tmp_path / "s1-1")) is None
    assert writing(tmp_path / "gone", {"s1-1"}, 3, None) is None


def growing(tmp_path: Path, sent: bytes, deadline: float = 10.0) -> tuple[GrowingSegment, pykka.ThreadingFuture]:
    path = tmp_path / "0.ts"
    path.write_bytes(sent)
    reply: pykka.ThreadingFuture = pykka.ThreadingFuture()
    return GrowingSegment(open(path, "rb"), reply, time.monotonic() + deadline), reply


def complete(tmp_path: Path, data: bytes):
    path = tmp_path / "complete.ts"
    path.write_bytes(data)
    return open(path, "rb")


def test_the_rest_comes_from_the_complete_segment(tmp_path: Path) -> None:
    body, reply = growing(tmp_path, b"abc")
    done = complete(tmp_path, b"abcdef")
    reply.set(done)
    assert b"".join(body) == b"abcdef"
    closed: list[bool] = []
    body.on_close.append(lambda: closed.append(True))
    body.close()
    assert done.closed and closed == [True]


@pytest.mark.parametrize("answer", ["other bytes", "an error", "a shorter file"])
def test_anything_but_the_complete_segment_aborts_the_body(tmp_path: Path, answer: str) -> None:
    body, reply = growing(tmp_path, b"abc")
    if answer == "an error":
        reply.set_exception((Unavailable, Unavailable("gone"), None))
    else:
        reply.set(complete(tmp_path, b"xbcdef" if answer == "other bytes" else b"ab"))
    chunks = iter(body)
    assert next(chunks) == b"abc"
    with pytest.raises(SegmentAbandoned):
        next(chunks)
    body.close()


def test_a_segment_not_completed_by_the_deadline_aborts_the_body(tmp_path: Path) -> None:
    body, _ = growing(tmp_path, b"abc", deadline=0.05)
    chunks = iter(body)
    assert next(chunks) == b"abc"
    with pytest.raises(SegmentAbandoned):
        next(chunks)
    body.close()


def test_an_empty_file_is_not_followed_so_an_error_before_any_byte_is_the_sessions(tmp_path: Path) -> None:
    """A body that starts before its first byte would have its 200 sent by the server with
    that byte; an error then could only reach the player as a cut body (or, before any
    byte, as the server's own 500). Until the file holds bytes the session's answer is
    awaited, and its error raised as itself."""
    empty = tmp_path / "0.ts"
    empty.write_bytes(b"")
    reply: pykka.ThreadingFuture = pykka.ThreadingFuture()
    looked: list[int] = []

    def find() -> Path:
        looked.append(1)
        if len(looked) == 3:  # the session's answer comes while the file is still empty
            reply.set_exception((Unavailable, Unavailable("session is restarting"), None))
        return empty

    with pytest.raises(Unavailable):
        wait_or_follow(reply, time.monotonic() + 5, find)
    assert len(looked) >= 3
    empty.write_bytes(b"G")
    body = wait_or_follow(pykka.ThreadingFuture(), time.monotonic() + 5, lambda: empty)
    assert isinstance(body, GrowingSegment) and next(iter(body)) == b"G"
    body.close()
