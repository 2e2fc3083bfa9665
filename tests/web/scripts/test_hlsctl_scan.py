"""``hlsctl scan`` against a real hlsd (pserve): a progress bar, and JSON for scripts."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers.media import make_clip
from tests.helpers.server import Server, start_server
from web.scripts.hlsctl import EXIT_OK, main


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("scan")
    media = base / "media"
    (media / "a").mkdir(parents=True)
    for name, seconds in (("one.mp4", 2), ("a/two.mp4", 3), ("a/three.mkv", 2)):
        make_clip(media / name, seconds, width=160, height=90, fps=10)
    started = start_server(base, media)
    try:
        yield started
    finally:
        started.stop()


def test_scan_json_reports_the_pass_it_started(server: Server, capsys) -> None:
    before = server.wait_for_scan()
    assert before["done"] == before["total"] == 3
    assert main(["--url", server.url, "scan", "--json", "--wait", "60"]) == EXIT_OK
    final = json.loads(capsys.readouterr().out)
    assert final["running"] is False and final["pass"] == before["pass"] + 1
    assert final["done"] == final["total"] == 3 and final["errors"] == 0
    sizes = sum(p.stat().st_size for p in Path(server.ini.parent / "media").rglob("*.m*"))
    assert final["bytes_done"] == final["bytes_total"] == sizes and final["fraction"] == 1.0


def test_scan_draws_a_progress_bar(server: Server, capsys) -> None:
    assert main(["--url", server.url, "scan"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert out.startswith("scanned 3 files: 0 indexed, 0 errors")
    assert "scan: 100%" in err and "3/3 files" in err  # tqdm's bar, on stderr
