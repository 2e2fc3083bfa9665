"""The faults an operator or a test may inject (SPEC "Faults that can be injected").

Each is a message handled by the actor it hits: ``Crash`` (any linked actor), or
``SignalFfmpeg`` (a transcoder); ``Session._inject`` and ``HlsSystem.inject_fault`` route
them. A new fault is a handler in the actor it hits and one line here.
"""
from __future__ import annotations

import signal

# Faults aimed at one session's FFmpeg: the signal its transcoder sends.
FFMPEG_SIGNALS = {
    "kill_ffmpeg": signal.SIGKILL,
    "term_ffmpeg": signal.SIGTERM,
    "stop_ffmpeg": signal.SIGSTOP,  # a hang: FFmpeg stops making progress
}
SESSION_FAULTS = (*FFMPEG_SIGNALS, "crash_transcoder", "crash_session")
FAULTS = (*SESSION_FAULTS, "crash_supervisor")
