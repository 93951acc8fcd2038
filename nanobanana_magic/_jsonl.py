"""Append-only JSON-lines files shared by several processes (the journal, annotations).

Each entry is one line written with a single `write` under an exclusive `flock`, so
concurrent writers neither interleave nor lose entries; a reader skips a torn last line
left by a killed writer and anything that is not a JSON object.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import json
import os
import queue
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def append_json_line(path: Path, entry: dict, *, durable: bool = True) -> None:
    """Append `entry` as one JSON line, safely across processes; `durable=False` skips
    the `fsync` (for derived files, where losing the last line to a power cut is fine)."""
    data = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
    _append_locked(path, data, durable=durable)


def _append_locked(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Append `data` with one `write` (and one `fsync`) under an exclusive `flock`."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        if durable:
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
    return json_objects(raw.splitlines())


def json_objects(lines: Iterable[bytes]) -> list[dict]:
    """The lines that are JSON objects, in order; a torn line left by a killed writer, or
    anything else, is skipped."""
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


class GroupCommitWriter:
    """Appends entries to one JSON-lines file from a background thread.

    Entries submitted while a write is under way go out together, in one `write` and one
    `fsync` under the same `flock` as `append_json_line` (a group commit): the event loop
    never waits on the disk, and a thousand tasks do not pay a thousand fsyncs. `submit`
    returns a future that is done once the entry is on disk. An entry is written even if
    whoever waits for it is cancelled (a submitted task must stay in the journal). The
    thread stops when idle and starts again on the next entry.
    """

    _IDLE_SECONDS = 2.0

    def __init__(self, path: Path):
        self.path = Path(path)
        self._queue: queue.SimpleQueue[tuple[bytes, concurrent.futures.Future[None]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.commits = 0  # writes made (each holding one or more entries)

    def submit(self, entry: dict[str, Any]) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
        self._queue.put((line, future))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="nanobanana-journal", daemon=True
                )
                self._thread.start()
        return future

    async def append(self, entry: dict[str, Any]) -> None:
        """Append `entry`; return once it is on disk, without blocking the event loop."""
        import asyncio

        await asyncio.shield(asyncio.wrap_future(self.submit(entry)))

    def _work(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=self._IDLE_SECONDS)]
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(b"".join(line for line, _ in batch))
                outcome: BaseException | None = None
            except OSError as exc:
                outcome = exc
            for _, future in batch:
                if future.cancelled():
                    continue
                try:
                    if outcome is None:
                        future.set_result(None)
                    else:
                        future.set_exception(outcome)
                except concurrent.futures.InvalidStateError:
                    pass

    def _write(self, data: bytes) -> None:
        _append_locked(self.path, data)
        self.commits += 1
