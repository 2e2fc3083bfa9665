"""Positioned reads from a seekable file with a hard cap on the bytes read.

Used by the container parsers so that a hostile or huge file can never make them read
more than the caller allowed: the read that would cross the cap raises
``ReadLimitExceeded`` before reading.
"""
from __future__ import annotations

import os
from typing import BinaryIO


class ReadLimitExceeded(Exception):
    """A parser asked for more bytes than its budget allows."""


class BoundedReader:
    """``read_at(offset, length)`` on ``file``; at most ``max_bytes`` in total."""

    def __init__(self, file: BinaryIO, max_bytes: int) -> None:
        self._file = file
        self._budget = max_bytes
        self.bytes_read = 0
        self.size = file.seek(0, os.SEEK_END)

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end of the file)."""
        length = max(0, min(length, self.size - offset))
        if self.bytes_read + length > self._budget:
            raise ReadLimitExceeded(f"reading {length} bytes at {offset} exceeds the cap")
        self._file.seek(offset)
        data = self._file.read(length)
        self.bytes_read += len(data)
        return data
