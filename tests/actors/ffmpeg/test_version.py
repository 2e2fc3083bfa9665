"""FFmpeg's version line (``ffmpeg.ffmpeg_version``), part of every segment store shelf:
an upgrade (another file at the path) must change it."""
from __future__ import annotations

import os

from actors import ffmpeg
from tests.helpers.procs import FFMPEG


def test_the_version_line_is_ffmpegs_own():
    assert ffmpeg.ffmpeg_version(FFMPEG).startswith("ffmpeg version ")


def test_an_executable_that_does_not_answer_is_named_by_its_file_version(tmp_path):
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    before = ffmpeg.ffmpeg_version(str(fake))
    assert before.startswith(str(fake))
    stat = fake.stat()
    os.utime(fake, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # "upgraded"
    assert ffmpeg.ffmpeg_version(str(fake)) != before
