"""The scan's trick play FFmpeg when hlsd is SIGKILLed under it: it dies with hlsd (the
kernel link), and the next hlsd removes the partial folder and makes the files whole.

Served by ``pserve`` (``tests.helpers.server``); the FFmpeg is a fake only while
``HANG`` exists, and then only for the trick play pass (the poster is real), so the
kill surely lands while that pass runs; afterwards it is the real FFmpeg.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from actors import ffmpeg
from actors.media import trickplay
from actors.media.trickplay_files import PARTIAL
from actors.settings import TRICKPLAY_SUFFIX
from tests.faults.invariants import (
    KILLED_WITHIN,
    assert_invariants,
    kill_hlsd,
    take_baseline,
)
from tests.faults.players import HttpClient, wait_for
from tests.helpers.media import FFMPEG, make_clip
from tests.helpers.procs import reap_adopted

pytestmark = pytest.mark.timeout(120)


def fake_ffmpeg(tmp_path: Path) -> tuple[Path, Path]:
    """A fake FFmpeg whose trick play pass hangs while the marker file exists."""
    marker, fake = tmp_path / "hang", tmp_path / "ffmpeg-hanging-on-trickplay"
    fake.write_text("#!/bin/bash\n"
                    f'if [ -e "{marker}" ]; then case "$*" in *{trickplay.IFRAMES}*) '
                    "exec -a hlsd-ffmpeg sleep 600;; esac; fi\n"
                    f'exec -a hlsd-ffmpeg {FFMPEG} "$@"\n')
    fake.chmod(0o755)
    marker.touch()
    return marker, fake


def test_hlsd_killed_mid_trickplay_leaves_nothing_with_a_fake_ffmpeg_that_hangs(
        start_hlsd_server, tmp_path: Path) -> None:
    media = tmp_path / "trickplay-media"
    media.mkdir()
    make_clip(media / "film.mp4", 30, width=320, height=180, fps=25)
    marker, fake = fake_ffmpeg(tmp_path)
    first = start_hlsd_server(media, ffmpeg=str(fake))  # no start-up scan: it is asked for
    assert HttpClient(first.url).request("POST", "/api/v1/scan", {}).status == 200
    wait_for(lambda: [p for p in ffmpeg.find_tagged(first.work_dir)
                      if p.tag.run.startswith("trickplay")], 30, "the trick play FFmpeg")
    folder = first.work_dir / f"index{TRICKPLAY_SUFFIX}"
    assert [p.name for p in folder.iterdir()][0].startswith(PARTIAL)

    pids, took = kill_hlsd(first)
    assert len(pids) == 1 and took is not None, f"FFmpeg outlived hlsd by {KILLED_WITHIN} s"
    reap_adopted(set(pids))
    marker.unlink()

    second = start_hlsd_server(media, ffmpeg=str(fake), scan="true")  # waits for its pass
    made = list(folder.iterdir())
    assert len(made) == 1 and not made[0].name.startswith(PARTIAL)
    assert (made[0] / trickplay.MANIFEST).is_file() and (made[0] / "0.jpg").is_file()
    assert_invariants(second, second.work_dir, take_baseline(second))
