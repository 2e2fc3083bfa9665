#!/bin/bash
# A fake FFmpeg stuck before its first output (a dead mount, an input that never answers).
# It still obeys SIGTERM. Usage: hangs_at_start.sh PROGRESS_FD SEGMENT_LIST_FD
exec sleep 600
