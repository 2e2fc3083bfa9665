#!/bin/bash
# A fake FFmpeg that writes megabytes to stderr (far beyond a pipe's 64 KiB), then
# lists one segment and reports progress=end. Blocks forever if nobody drains stderr.
# Usage: floods_stderr.sh PROGRESS_FD SEGMENT_LIST_FD
yes "fake-ffmpeg: frame=1 fps=25 noise noise noise" | head -n 100000 >&2
printf 'frame=1\nprogress=end\n' >&"$1"
echo "seg000.ts,0.000000,1.000000" >&"$2"
