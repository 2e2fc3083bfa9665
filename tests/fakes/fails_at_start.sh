#!/bin/bash
# A fake FFmpeg that fails at once, as with a missing input file.
# Usage: fails_at_start.sh PROGRESS_FD SEGMENT_LIST_FD
echo "fake-ffmpeg: file:missing.mkv: No such file or directory" >&2
exit 1
