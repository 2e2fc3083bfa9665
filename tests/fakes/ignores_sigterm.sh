#!/bin/bash
# A fake FFmpeg that ignores SIGTERM, so only SIGKILL ends it.
# Usage: ignores_sigterm.sh PROGRESS_FD SEGMENT_LIST_FD
trap '' TERM
echo ready >&"$2"
exec sleep 600
