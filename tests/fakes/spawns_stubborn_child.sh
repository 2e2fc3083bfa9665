#!/bin/bash
# A fake FFmpeg whose own child ignores SIGTERM: only a group SIGKILL ends that child.
# The child lists "child PID" once its trap is set. The parent obeys SIGTERM.
# Usage: spawns_stubborn_child.sh PROGRESS_FD SEGMENT_LIST_FD
( trap '' TERM; echo "child $BASHPID" >&"$2"; exec sleep 600 ) &
wait
