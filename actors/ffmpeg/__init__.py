"""The only code that starts or signals a process: FFmpeg runs, ffprobe, the sample clip.

It implements the three layers of "no orphaned FFmpeg" (DESIGN.md) and knows nothing of
actors; tests swap in fake FFmpeg scripts that misbehave on purpose while the rest of
hlsd uses the real thing.

- ``tags``: ``Tag`` (argv[0] marker and ``HLSD_*`` environment), ``owner_alive``.
- ``spawn``: ``spawn(build_argv, tag, cwd, executable) -> ProcessHandle`` (layer 2: the
  death signal tied to the spawning thread). Call it on the owning actor's thread.
  ``raise_open_files_limit`` at start-up.
- ``stop``: ``stop_process_group(handle, grace) -> StopReport`` (layer 1), ``suspend``,
  ``resume``. On the owner's thread.
- ``watcher``: ``ProcessWatcher`` (one thread for every process) and its events
  ``ProgressReported``, ``SegmentListed``, ``ProcessExited``.
- ``sweep``: ``find_tagged``, ``terminate_tagged``, ``sweep(...) -> SweepReport`` (layer 3).
- ``workdirs``: ``work_dir/<instance>/owner.json`` and ``.../<session>/<run>/``.
- ``probe``: ``run_ffprobe``, ``write_poster`` (the scan's, at low priority), ``ffmpeg_version``,
  ``run_ffmpeg_output`` (fMP4 init segments); ``sample``: ``write_sample``.
"""
from actors.ffmpeg.probe import (DEMUXERS, ProbeFailed, ProbeTimedOut, ffmpeg_version,
                                 run_ffmpeg_output, run_ffprobe, write_poster)
from actors.ffmpeg.spawn import (KILL_WAIT, STDERR_TAIL_LINES, ProcessHandle, raise_open_files_limit,
                                 spawn)
from actors.ffmpeg.stop import StopReport, resume, stop_process_group, suspend
from actors.ffmpeg.sweep import SweepReport, TaggedProcess, find_tagged, sweep, terminate_tagged
from actors.ffmpeg.tags import (
    ARGV0_MARKER,
    ENV_INSTANCE,
    ENV_OWNER_PID,
    ENV_OWNER_START,
    ENV_RUN,
    ENV_SESSION,
    ENV_WORK_DIR,
    Tag,
    owner_alive,
)
from actors.ffmpeg.watcher import (
    ProcessEvent,
    ProcessExited,
    ProcessWatcher,
    ProgressReported,
    SegmentListed,
)
from actors.ffmpeg.workdirs import (
    OWNER_FILE,
    STORE_DIR,
    claim_instance_dir,
    instance_dir,
    release_instance_dir,
    remove_run_dir,
    run_dir,
)

__all__ = [
    "ARGV0_MARKER", "DEMUXERS", "ENV_INSTANCE", "ENV_OWNER_PID", "ENV_OWNER_START", "ENV_RUN",
    "ENV_SESSION", "ENV_WORK_DIR", "KILL_WAIT", "OWNER_FILE", "STDERR_TAIL_LINES", "STORE_DIR",
    "ProbeFailed", "ProbeTimedOut", "ProcessEvent", "ProcessExited", "ProcessHandle",
    "ProcessWatcher", "ProgressReported", "SegmentListed", "StopReport", "SweepReport", "Tag",
    "TaggedProcess",
    "claim_instance_dir", "ffmpeg_version", "find_tagged", "instance_dir", "owner_alive",
    "release_instance_dir", "raise_open_files_limit", "remove_run_dir", "resume", "run_dir",
    "run_ffmpeg_output", "run_ffprobe", "spawn",
    "stop_process_group",
    "suspend", "sweep", "terminate_tagged", "write_poster",
]
