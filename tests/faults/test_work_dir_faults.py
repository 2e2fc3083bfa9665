"""The work dir misbehaving under a running FFmpeg: its run dir removed, its session dir
unwritable (a file in its place, a read-only mount, mode bits), the disk full.

The mount scenarios need root (``mount``); elsewhere they are skipped, and the fake
``ffmpeg-disk-full`` (test_ffmpeg_faults) stands in for a full disk. The mode-bits
scenario needs the opposite: root writes through mode bits, so as root that case runs
again in a pytest of its own as ``nobody`` (``setpriv``), hlsd and its FFmpeg included.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.faults.players import answer_bound, decode_errors, gone, restarted
from tests.faults.scenarios import CONDITIONS, SEGMENTS, Scenario

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]
UNPRIVILEGED = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
AS_NOBODY_TIMEOUT = 150.0  # the case run as nobody, in its own pytest; its outer case waits longer


def mount(*args: str) -> bool:
    """``mount ARGS``; False if this machine does not let the test mount (not root)."""
    try:
        return subprocess.run(["mount", *args], check=False, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=False, capture_output=True, timeout=10)
    if os.path.ismount(path):
        subprocess.run(["umount", "--lazy", str(path)], check=False, capture_output=True, timeout=10)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_a_run_dir_removed_under_ffmpeg_makes_the_transcoder_restart(start_hlsd, tmp_path, condition):
    scenario = Scenario(start_hlsd, condition)
    client, session = scenario.client, scenario.session
    for run_dir in scenario.session_dir().iterdir():
        shutil.rmtree(run_dir)

    restarted(client, session, scenario.pid, timeout=10)
    player = scenario.play()
    assert player.error is None, f"playback broke: {player.error} ({player.statuses})"
    assert sorted(player.segments) == list(SEGMENTS)
    assert decode_errors(player.stream(), tmp_path) == ""
    scenario.finish_cleanly(tmp_path)


def make_unwritable(how: str, session_dir: Path) -> Path | None:
    """Make ``session_dir`` unwritable; return a mount point to undo, if any."""
    if how == "file in its place":
        shutil.rmtree(session_dir)
        session_dir.write_text("not a directory\n")
        return None
    if how == "read-only mount":
        if not mount("--bind", str(session_dir), str(session_dir)):
            pytest.skip("cannot mount here (needs root)")
        assert mount("-o", "remount,bind,ro", str(session_dir))
        return session_dir
    assert os.geteuid() != 0, "root writes through mode bits: run this case as_nobody"
    chmod_dirs(session_dir, 0o500)  # its run dirs too, as a read-only mount would
    return None


def chmod_dirs(top: Path, mode: int) -> None:
    """``top`` and every directory under it."""
    for directory in [top, *(p for p in top.rglob("*") if p.is_dir())]:
        directory.chmod(mode)


def as_nobody(nodeid: str) -> subprocess.CompletedProcess[str]:
    """The test case ``nodeid`` run by a pytest of its own as ``nobody``, in a temporary
    home (its base temp dir) that ``nobody`` owns; removed after."""
    home = Path(tempfile.mkdtemp(prefix="hlsd-as-nobody-"))
    nobody = pwd.getpwnam("nobody")
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    try:
        return subprocess.run(
            [*UNPRIVILEGED, sys.executable, "-m", "pytest", nodeid, "-q", "-p", "no:cacheprovider",
             f"--basetemp={home / 'pytest'}"],
            cwd=REPO, env={**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO)},
            capture_output=True, text=True, timeout=AS_NOBODY_TIMEOUT, check=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def make_writable(how: str, session_dir: Path, mounted: Path | None) -> None:
    if mounted is not None:
        umount(mounted)
    elif how == "file in its place":
        session_dir.unlink()  # the test's own file: not hlsd's to remove
    else:
        chmod_dirs(session_dir, 0o755)


@pytest.mark.parametrize("condition", CONDITIONS)
@pytest.mark.parametrize("how", ["file in its place", "read-only mount",
                                 pytest.param("mode bits", marks=pytest.mark.timeout(AS_NOBODY_TIMEOUT + 30))])
def test_an_unwritable_session_dir_ends_the_session_with_an_error(request, tmp_path, how, condition):
    if how == "mode bits" and os.geteuid() == 0:
        ran = as_nobody(request.node.nodeid)
        assert ran.returncode == 0 and "1 passed" in ran.stdout, ran.stdout[-4000:] + ran.stderr[-2000:]
        return
    # reap_interval: what a read-only dir kept, the reaper removes once it is writable again.
    scenario = Scenario(request.getfixturevalue("start_hlsd"), condition, restart_intensity="2/30",
                        reap_interval=1)
    session_dir, settings = scenario.session_dir(), scenario.settings
    mounted = make_unwritable(how, session_dir)
    try:
        gone(scenario.client, scenario.session, timeout=settings.kill_grace + 10)
        player = scenario.play(settings.segment_wait + 5)
    finally:
        make_writable(how, session_dir, mounted)
    assert player.error is not None and player.error.clear_error, player.error
    assert player.error.status in (404, 502)
    assert player.longest <= answer_bound(settings.segment_wait)
    scenario.finish_cleanly(tmp_path)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/work`` on a tmpfs with room for about two segments (request it before
    ``start_hlsd``, so hlsd has stopped when it is unmounted)."""
    work = tmp_path / "work"
    work.mkdir()
    if not mount("-t", "tmpfs", "-o", "size=96k,mode=0755", "tmpfs", str(work)):
        pytest.skip("cannot mount a tmpfs here (needs root); fake-ffmpeg-disk-full stands in")
    try:
        yield work
    finally:
        umount(work)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_a_full_disk_ends_the_session_with_an_error_and_freeing_it_recovers(small_disk, start_hlsd,
                                                                           tmp_path, condition):
    scenario = Scenario(start_hlsd, condition)
    settings = scenario.settings
    gone(scenario.client, scenario.session, timeout=settings.kill_grace + 15)
    player = scenario.play(settings.segment_wait + 5)
    assert player.error is not None and player.error.clear_error, player.error
    assert player.error.status in (404, 502)
    assert player.longest <= answer_bound(settings.segment_wait)

    assert mount("-o", "remount,size=64m", str(small_disk))  # the operator frees space
    scenario.finish_cleanly(tmp_path)
