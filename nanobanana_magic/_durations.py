"""Learned running times, kept in the output folder so that a new kernel starts warm.

`durations.jsonl` holds one line per finished task: the backend, model and resolution,
its estimated running time (queueing excluded), whether it reported progress and in what
steps (`step`: 1 for whole percents, 25 or 50; either absent when it could not tell). Like the
journal it is append-only with `flock`ed single-line writes, so several kernels may learn
at once; it is derived (deleting it only makes the next batch start cold), and read back
as untrusted input: lines that are not what we write are skipped.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from ._jsonl import append_json_line, json_objects, read_json_lines
from ._polling import DurationPrior

log = logging.getLogger("nanobanana_magic")

DURATIONS_FILE = "durations.jsonl"
STEPS = (1, 25, 50)
_KEEP = 50  # the most recent samples of a kind that a new prior starts from
_TAIL_BYTES = 256_000  # only the end of a long file is read


def _valid(entry: dict) -> bool:
    seconds = entry.get("seconds")
    return (
        isinstance(seconds, (int, float))
        and not isinstance(seconds, bool)
        and math.isfinite(seconds)
        and 0 < seconds < 3600
        and (entry.get("progress") is None or isinstance(entry["progress"], bool))
        and (entry.get("step") is None or (type(entry["step"]) is int and entry["step"] in STEPS))
    )


def load_prior(root: Path, backend: str, model: str, resolution: str) -> DurationPrior:
    """A prior for tasks of this backend, model and resolution, from what earlier kernels
    learned in this output folder; each new running time it learns is appended there."""
    path = Path(root) / DURATIONS_FILE
    kind = {"backend": backend, "model": model, "resolution": resolution}
    entries = [
        entry
        for entry in _tail(path)
        if all(entry.get(k) == v for k, v in kind.items()) and _valid(entry)
    ][-_KEEP:]

    def record(seconds: float, reported_progress: bool | None, step: int | None) -> None:
        line: dict[str, object] = {**kind, "seconds": round(seconds, 3)}
        if reported_progress is not None:
            line["progress"] = reported_progress
        if step is not None:
            line["step"] = step
        try:
            # derived data: no fsync, which would stall the event loop once per task
            append_json_line(path, line, durable=False)
        except OSError as exc:  # learning is an optimisation: never fail a run over it
            log.warning("could not record a learned running time in %s: %s", path, exc)

    return DurationPrior(
        [entry["seconds"] for entry in entries],
        reports_progress=next(
            (e["progress"] for e in reversed(entries) if e.get("progress") is not None), None
        ),
        progress_step=min((e["step"] for e in entries if e.get("step")), default=None),
        on_learn=record,
    )


def _tail(path: Path) -> list[dict]:
    """The JSON lines of the file's last `_TAIL_BYTES` (the first, partial line dropped)."""
    try:
        size = path.stat().st_size
    except OSError:
        return []
    if size <= _TAIL_BYTES:
        return read_json_lines(path)
    with open(path, "rb") as handle:
        handle.seek(size - _TAIL_BYTES)
        lines = handle.read().splitlines()[1:]
    return json_objects(lines)
