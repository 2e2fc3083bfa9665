"""A stand-in hlsd for the link test: spawns three long FFmpeg runs, then waits to be killed.

Usage: python owner_of_three.py WORK_DIR INSTANCE FFMPEG
Prints one JSON line, {"pids": [...]}, once all three are running.
"""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from actors import ffmpeg
from tests.helpers.procs import segmenting_ffmpeg_args


def main() -> None:
    work_dir, instance, executable = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    ffmpeg.claim_instance_dir(work_dir, instance)
    pids = []
    for number in range(3):
        session, run = f"session{number}", f"run{number}"
        cwd = ffmpeg.run_dir(work_dir, instance, session, run)
        cwd.mkdir(parents=True)
        tag = ffmpeg.Tag.for_this_process(work_dir, instance, session, run)
        handle = ffmpeg.spawn(lambda p, s: segmenting_ffmpeg_args(p, s, realtime=True), tag, cwd, executable)
        pids.append(handle.pid)
    print(json.dumps({"pids": pids}), flush=True)
    threading.Event().wait(600)


if __name__ == "__main__":
    main()
