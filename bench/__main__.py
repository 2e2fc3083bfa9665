"""``python -m bench [--quick] [--rows 1,2,15a,...] [--repeat N]``: run the rows, print the
table, and write it with the machine's facts: a full run of every row to
``bench/RESULTS.md``, a quick or partial one to ``bench/out/RESULTS-partial.md``."""
from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import tempfile
import traceback
from pathlib import Path

from bench import clips
from bench.common import OUT, Bench, Line, become_subreaper, now, reap_strays
from bench.report import QUIET_LOAD, RESULTS, machine, row_order, table, write_results

# Row -> its module in bench/, or "module:function" for a row that is one of a module's.
ROWS = {str(number): name for number, name in enumerate((
    "first_segment", "seek", "stop", "idle", "orphans", "churn", "concurrency", "serving",
    "library", "long_film", "scan", "front", "tracks"), start=1)}
# A module that makes several rows runs once however many of them are asked.
ROWS.update({"14a": "formats", "14b": "formats", "14c": "formats",
             "14d": "trickplay", "14e": "trickplay",
             "15a": "shared:run_one_node", "15b": "shared:run_cluster",
             "15c": "press_play", "15d": "press_play"})


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="hlsd's benchmarks, side by side with FFmpeg alone and nginx. Rows: "
                    + ", ".join(f"{n} {name}" for n, name in ROWS.items()) + ".")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats, shorter runs (a 2-3 minute smoke test)")
    parser.add_argument("--rows", default=",".join(map(str, ROWS)),
                        help="comma-separated row numbers (default: all)")
    parser.add_argument("--repeat", type=int, help="repeats per measurement (overrides the mode's)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results file")
    args = parser.parse_args(argv)
    try:
        args.rows = sorted({r.strip() for r in args.rows.split(",") if r.strip()}, key=row_order)
    except ValueError:
        parser.error("--rows takes rows like 1,3,14d,15a")
    unknown = [r for r in args.rows if r not in ROWS]
    if unknown or not args.rows:
        parser.error(f"--rows: choose from {', '.join(map(str, ROWS))}")
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = ("python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)).strip()
    become_subreaper()
    facts = machine()
    print("\n".join(f"{key}: {value}" for key, value in facts.items()), flush=True)
    if float(facts["load average at start"].split()[0]) > QUIET_LOAD:
        print(f"warning: load average above {QUIET_LOAD}: numbers will be noisy", flush=True)
    media = clips.ensure((clips.SHORT, clips.LONG, clips.SMALL, clips.SERVE))
    started = now()
    lines: list[Line] = []
    errors: list[str] = []
    described: dict[str, str] = {}
    ran: set[str] = set()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=OUT) as scratch:
        bench = Bench(args.quick, args.repeat, Path(scratch), media)
        for number in args.rows:
            if ROWS[number] in ran:
                continue
            ran.add(ROWS[number])
            name, _, function = ROWS[number].partition(":")
            print(f"\n== row {number}: {ROWS[number]} ==", flush=True)
            row_started = now()
            try:
                module = importlib.import_module(f"bench.{name}")
                described[number] = " ".join((module.__doc__ or name).strip().split("\n\n")[0].split())
                found = getattr(module, function)(bench) if function else module.run(bench)
                found = [found] if isinstance(found, Line) else found
            except Exception as error:  # one broken row must not lose the others
                traceback.print_exc()
                errors.append(f"row {number} ({name}): {type(error).__name__}: {error}")
                found = []
            finally:
                strays = reap_strays()
                if strays:
                    print(f"warning: row {number} left processes {strays}; killed", flush=True)
            lines += found
            if found:
                print(table(found), flush=True)
            print(f"({now() - row_started:.0f} s)", flush=True)
    elapsed = now() - started
    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{table(lines)}\n\n{elapsed / 60:.1f} min", flush=True)
    for error in errors:
        print(f"FAILED: {error}", flush=True)
    if not args.no_write:
        complete = not args.quick and args.rows == sorted(ROWS, key=row_order)
        path = RESULTS if complete else OUT / "RESULTS-partial.md"
        print(f"wrote {write_results(lines, facts, command, elapsed, errors, described, path)}", flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
