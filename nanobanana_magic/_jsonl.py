"""Append-only JSON-lines files shared by several processes (the journal, annotations).

Each entry is one line written with a single `write` under an exclusive `flock`, so
concurrent writers neither interleave nor lose entries; a reader skips a torn last line
left by a killed writer and anything that is not a JSON object.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path


def append_json_line(path: Path, entry: dict) -> None:
    """Append `entry` as one JSON line, safely across processes."""
    line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_json_lines(path: Path) -> list[dict]:
    """The JSON objects of the file, in the order they were written."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    entries = []
    for line in raw.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn line left by a killed writer
        if isinstance(entry, dict):
            entries.append(entry)
    return entries
