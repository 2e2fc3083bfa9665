"""``bench/report.py``: ``RESULTS.md`` is written whole from the run's lines; its notes
quote only figures of those lines, and its static prose quotes none."""
from __future__ import annotations

import re
from pathlib import Path

from bench.churn import LEAK_TARGET
from bench.common import Line, Stats, Target
from bench.report import READING, write_results

FACTS = {"date": "2026-12-01 12:00 UTC", "cores": "2", "load average at start": "0.10 0.10 0.10"}
ROW_NAMES = re.compile(r"\brows?\s+\d{1,2}\b|\b\d{1,2}[a-e]\b", re.IGNORECASE)  # "row 4", "7c"


def _lines() -> list[Line]:
    ratio = Target("p50", 1.05, text="ratio p50 ≤ 1.05")
    return [
        Line("1a", "first segment, copy", "s", Stats((0.1423,)), Stats((0.1234,)),
             "FFmpeg alone", ratio, note="hlsd p50 phases (ms): open 3.4"),
        Line("6e", "after all sessions deleted, vs before", "count", hlsd=Stats((2,)),
             target=LEAK_TARGET, value="threads 40→41, fds 14→15"),
        Line("8b", "playlist", "req/s", Stats((1599.0,)), Stats((22283.0,)), "nginx"),
        Line("8c", "bare WSGI app", "req/s", Stats((2870.0,)), Stats((23150.0,)), "nginx"),
    ]


def _written(tmp_path: Path, lines: list[Line]) -> str:
    path = write_results(lines, dict(FACTS), "python -m bench", 60.0, [], {1: "Row 1: x"},
                         tmp_path / "RESULTS.md")
    return path.read_text()


def test_the_reading_prose_quotes_no_figure():
    prose = ROW_NAMES.sub("", READING)
    assert not re.search(r"\d", prose), re.findall(r".{20}\d.{20}", prose)


def test_nothing_of_an_earlier_file_is_kept(tmp_path):
    (tmp_path / "RESULTS.md").write_text(
        "old table\n<!-- notes: everything below this line is hand-written and kept by "
        "`python -m bench` -->\n3b: 168.6 ms in an earlier run\n")
    text = _written(tmp_path, _lines())
    assert "168.6" not in text and "hand-written" not in text


def test_a_miss_is_noted_with_its_measured_figure_and_target(tmp_path):
    text = _written(tmp_path, _lines())
    notes = text.partition("## Notes (generated from this run)")[2]
    assert "- 1a (first segment, copy): ratio p50 1.15 against ratio p50 ≤ 1.05" in notes
    assert "hlsd 142.3 ms / FFmpeg alone 123.4 ms" in notes
    assert "- 1a: hlsd p50 phases (ms): open 3.4" in notes
    assert "- 6e (after all sessions deleted, vs before): hlsd max 2 count against 0 threads, " \
           "0 fds more than before (threads 40→41, fds 14→15)" in notes


def test_threads_or_fds_left_over_miss_6e():
    leaked, clean = _lines()[1], Line("6e", "x", "count", hlsd=Stats((0,)), target=LEAK_TARGET)
    assert (leaked.verdict, clean.verdict) == ("MISS", "PASS")


def test_rows_read_against_each_other_are_computed_from_both(tmp_path):
    text = _written(tmp_path, _lines())
    assert "- 8b against 8c" in text
    assert "hlsd p50 1,599 req/s is 0.56 of 8c's 2,870 req/s; ratio p50 to their baselines 0.07 and 0.12" in text


def test_a_comparison_is_left_out_when_a_row_did_not_run(tmp_path):
    text = _written(tmp_path, [line for line in _lines() if line.row != "8c"])
    assert "8b against 8c" not in text
