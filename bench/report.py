"""The results table (printed and written to ``bench/RESULTS.md``) and the machine facts.

``RESULTS.md`` is written whole by every run, nothing in it by hand: every figure in it
was measured in that run. Its notes are each line's own note (the row's phases and
profile figures), what each miss measured against its target, comparisons between rows
of the run, and ``READING``: how to read the rows, prose without figures that cites rows.
"""
from __future__ import annotations

import datetime
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import psutil

from bench.common import Line, Stats

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
QUIET_LOAD = 0.5  # load average under which a run counts as quiet
HEADER = ("row", "what", "hlsd p50 / p95", "baseline p50 / p95", "ratio p50 / p95",
          "target", "result")


def machine() -> dict[str, str]:
    """Facts about this machine and its tools, and the load at the start."""
    memory = psutil.virtual_memory().total / 2**30
    model = _cpu_model()
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cores": f"{os.cpu_count()}{f' ({model})' if model else ''}",
        "memory": f"{memory:.1f} GiB",
        "kernel": platform.release(),
        "FFmpeg": _first_line(["ffmpeg", "-version"]).removeprefix("ffmpeg version ").split(" Copyright")[0],
        "Python": platform.python_version(),
        "nginx": _first_line(["nginx", "-v"]).removeprefix("nginx version: "),
        "wrk": _first_line(["wrk", "--version"]).split(" [")[0].removeprefix("wrk "),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else ""


def _first_line(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return "not installed"
    result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    return (result.stdout or result.stderr).strip().splitlines()[0] if (result.stdout or result.stderr) else "?"


# --- formatting -----------------------------------------------------------------------

def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:,.0f} {unit}" if abs(value) >= 100 else f"{value:.3g} {unit}"


def _pair(stats: Stats | None, unit: str) -> str:
    if stats is None:
        return "—"
    return f"{fmt(stats.p50, unit)} / {fmt(stats.p95, unit)}"


def _ratios(line: Line) -> str:
    if line.hlsd is None or line.baseline is None:
        return "—"
    return f"{line.hlsd.p50 / line.baseline.p50:.2f} / {line.hlsd.p95 / line.baseline.p95:.2f}"


def cells(line: Line) -> tuple[str, ...]:
    hlsd = line.value or _pair(line.hlsd, line.unit)
    if line.hlsd is not None and not line.value:
        hlsd += f" (n={line.hlsd.n})"
    baseline = _pair(line.baseline, line.unit)
    if line.baseline is not None and line.baseline_name:
        baseline = f"{line.baseline_name}: {baseline}"
    target = line.target.text if line.target is not None else "—"
    verdict = line.verdict
    if line.errors:
        verdict += f" ({line.errors} errors)"
    return (line.row, line.what, hlsd, baseline, _ratios(line), target, verdict)


def table(lines: list[Line], notes: bool = True) -> str:
    """The table, and each line's note under it (``notes``)."""
    rows = [HEADER, *(cells(line) for line in lines)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]

    def render(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    below = [f"- {line.row}: {line.note}" for line in lines if line.note] if notes else []
    return "\n".join([render(rows[0]), rule, *(render(row) for row in rows[1:]),
                      *([""] + below if below else [])])


# --- RESULTS.md -----------------------------------------------------------------------

# Pairs of rows where the first is best read against the second, both from the same run:
# row, the row it is read against, what that row is.
COMPARED = (
    ("8b", "8c", "the same bytes from a bare WSGI app under the same waitress: the ceiling of any app there"),
    ("12a", "8a", "hlsd sending the same segment itself, no nginx in front"),
)

# How to read the rows. No figure may appear here (only row names): every figure is
# in the table or the notes generated from the same run (tests/bench/test_report.py).
READING = """\
- Compare ratios between runs, not absolute times: hlsd and its baseline are measured side
  by side, alternating, so the machine's load hits both alike.
- 1a, 1b, 2a, 2b: the phases in the notes split a player's wait into what FFmpeg alone
  never does (HTTP: open, playlist, transfer) and FFmpeg's own time inside hlsd (spawned
  until its segment is listed), the figure to set beside the baseline.
- 3a, 3b: hlsd's own share of a stop is in the note (each DELETE minus its FFmpeg's
  SIGTERM until reaped); the rest is FFmpeg flushing and exiting, as FFmpeg alone does.
- Row 4: the idle timer's delay and FFmpeg's exit after SIGTERM, which the note gives apart.
- 6e: threads and fds left in hlsd after every session ended, against before; RSS is
  shown but not judged (the allocator keeps freed memory).
- 7a: the note splits the slowest percent into the wait for the headers (the segment was
  not made yet: FFmpeg starting while sessions ramp up, see 7b) and the body.
- 7c: hlsd's CPU includes waitress sending every segment itself; behind nginx with
  accel-redirect (see 12a) nginx sends the bytes.
- 8b: read it against 8c (see the rows read against each other): 8c is the bench's
  measure of waitress's ceiling, a bare WSGI app answering the same bytes there.
- 7a, 7c, 1a (what py-spy showed while this round's rows ran): the slowest percent of 7a
  are waits for headers on the first segments after the ramp, while every FFmpeg remuxes
  at full speed on the two cores; 7c's CPU is waitress and Pyramid handling each request
  and waitress's event loop (it grows with open connections), the actors a small part;
  1a's hlsd share is thread starts and three HTTP round trips around FFmpeg's own time.
  What would remove them: FFmpeg at a lower priority than hlsd (7a), nginx sending the
  segments and playlists without waitress (7c, see 12a and 8b).
- 12a, 8b: every request still passes through waitress (12a only for the redirect):
  waitress's per-request cost, not the bytes, sets the ceiling (8c). What would remove
  it: nginx answering from the segment store's files and the shared playlist bytes
  itself, hearing hlsd only to check the token (cached briefly) — not built yet.
- 14b: the passthrough variant copies the video and encodes no frame: its CPU is FFmpeg
  demuxing and muxing. 14c: the passthrough's first segment, like 1a, waits on FFmpeg's
  start; the init is made once per file version and is not part of the cold path after
  the first session.
- 15a, 15b: FFmpeg CPU of all viewers against one viewer's: with the segment store, later
  viewers read what the first viewer's run made; through nginx, 15b's viewers meet on the
  node their film's media key hashes to.
- 15c: hls.js appends a segment while it is still being written (progressive), so the
  first frame does not wait for the whole first segment. 15d: every waiting request holds
  a waitress thread, so threads are sized from hls.max_sessions.
- 12b: the player retries as hls.js does by default (its policy is in the note), not as
  Retry-After asks: the gap is what a viewer of hlsd's player waits.
"""


def row_order(row: str) -> tuple[int, str]:
    """Rows in their order: ``"2"`` before ``"13"``, ``"15a"`` before ``"15b"``; anything
    but a number with an optional letter is a ValueError."""
    text = str(row)
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    return int(number), text[len(number):]


def write_results(lines: list[Line], facts: dict[str, str], command: str, elapsed: float,
                  errors: list[str], rows: dict[str, str], path: Path = RESULTS) -> Path:
    """``rows``: row -> what it measures (its module's first docstring paragraph)."""
    misses = [line for line in lines if line.verdict.startswith("MISS")]
    parts = [
        "# hlsd benchmark results",
        "",
        (f"`{command}` on {facts['date']}, {elapsed / 60:.1f} min. Written whole by the run, "
         "notes included: every figure here was measured in it. Ratios are hlsd / baseline, "
         "both measured side by side; p50 / p95 over repeated runs (n below). PASS/MISS judge "
         "the statistic the target names."),
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in facts.items() if key != "date"),
        "",
        table(lines, notes=False),
        "",
        *(f"{text}  " for _, text in sorted(rows.items(), key=lambda item: row_order(item[0]))),  # two spaces: a Markdown line break
        "",
    ]
    if float(facts["load average at start"].split()[0]) > QUIET_LOAD:
        parts += [(f"**Noisy:** the load average was above {QUIET_LOAD} at the start; other "
                   "work shared the cores."), ""]
    if misses:
        parts += ["Misses: " + ", ".join(f"row {line.row} ({line.what})" for line in misses)
                  + " — see the notes below.", ""]
    if errors:
        parts += ["Rows that failed to run:", "", *(f"- {error}" for error in errors), ""]
    parts += notes(lines)
    path.write_text("\n".join(parts))
    return path


def notes(lines: list[Line]) -> list[str]:
    """The notes section, generated from ``lines`` alone."""
    parts = ["## Notes (generated from this run)", ""]
    misses = [miss_note(line) for line in lines if line.verdict.startswith("MISS")]
    if misses:
        parts += ["### What each miss measured", "", *misses, ""]
    compared = comparison_notes(lines)
    if compared:
        parts += ["### Rows read against each other", "", *compared, ""]
    own = [f"- {line.row}: {line.note}" for line in lines if line.note]
    if own:
        parts += ["### Each row's own measurements", "", *own, ""]
    return parts + ["### How to read the rows", "", READING]


def miss_note(line: Line) -> str:
    """``- row: the judged figure against its target``, from the line alone."""
    said = []
    target = line.target
    value = target.value(line) if target is not None else None
    if target is not None and value is not None and target.met(line) is False and not line.errors:
        shown = f"{value:.2f}" if target.subject == "ratio" else fmt(value, line.unit)
        said.append(f"{target.subject} {target.statistic} {shown} against {target.text}"
                    + (f" ({line.value})" if line.value else ""))
        if target.subject == "ratio" and line.hlsd is not None and line.baseline is not None:
            stat = target.statistic
            said.append(f"hlsd {fmt(getattr(line.hlsd, stat), line.unit)} / {line.baseline_name or 'baseline'} "
                        f"{fmt(getattr(line.baseline, stat), line.unit)}")
    if line.errors:
        said.append(f"{line.errors} errors (a line with errors misses whatever its figures)")
    return f"- {line.row} ({line.what}): " + "; ".join(said)


def comparison_notes(lines: list[Line]) -> list[str]:
    """One note per ``COMPARED`` pair whose rows both ran: the first's hlsd p50 as a share
    of the second's, and their ratios to their baselines."""
    by_row = {line.row: line for line in lines}
    found = []
    for row, other, what in COMPARED:
        line, against = by_row.get(row), by_row.get(other)
        if line is None or against is None or line.hlsd is None or against.hlsd is None:
            continue
        share = line.hlsd.p50 / against.hlsd.p50
        found.append(f"- {row} against {other} ({what}): hlsd p50 {fmt(line.hlsd.p50, line.unit)} is "
                     f"{share:.2f} of {other}'s {fmt(against.hlsd.p50, against.unit)}; ratio p50 to "
                     f"their baselines {_ratio_p50(line)} and {_ratio_p50(against)}")
    return found


def _ratio_p50(line: Line) -> str:
    if line.hlsd is None or line.baseline is None:
        return "—"
    return f"{line.hlsd.p50 / line.baseline.p50:.2f}"
