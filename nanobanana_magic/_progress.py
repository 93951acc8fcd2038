"""The progress of a batch: the engine's events reduced to one row per task.

Every live view (the magics' progress table and sweep grid, the panel's progress rows,
the command line's table) reads these rows; none of them interprets events itself.

A row's `state` is one word of `ROW_STATES`: waiting (nothing sent yet), then submitted,
queued and running while the server has it (queued and running are the client's
normalised task states, `_answers.TASK_STATES`), then completed, cached, failed or
cancelled. `word` keeps the server's own status word while the task runs, for display
only; nothing decides anything by it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._engine import Event
    from ._run import Run

ROW_STATES = (
    "waiting",
    "submitted",
    "queued",
    "running",
    "completed",
    "cached",
    "failed",
    "cancelled",
)
#: row states after which a task has its final Run
FINISHED = ("completed", "cached", "failed", "cancelled")


@dataclasses.dataclass
class TaskProgress:
    """One task of a batch, as far as the events have told."""

    state: str = "waiting"
    progress: int = 0
    word: str = ""  # the server's own status word while the task is queued or running
    task_id: str = ""
    error: str = ""
    run: Run | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def shown(self) -> str:
        """The status to show: the server's word while it has the task, else the state."""
        return self.word if self.state in ("queued", "running") and self.word else self.state


class BatchProgress:
    """One `TaskProgress` per task of a batch (in request order), fed by `apply(event)`."""

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        self.rows = [TaskProgress() for _ in self.labels]
        self.started = time.monotonic()

    def apply(self, event: Event) -> TaskProgress:
        """Record one engine event on its task's row; returns that row."""
        row = self.rows[event.index]
        if event.kind == "progress":
            row.state = event.state if event.state in ("queued", "running") else "running"
            row.word = event.status or ""
        else:
            row.state = event.kind
        if event.run is not None:
            row.task_id = event.run.task_id or row.task_id
            if row.finished:
                row.run = event.run
        if event.kind in ("completed", "cached"):
            row.progress = 100
        elif event.progress is not None:
            row.progress = max(row.progress, max(0, min(100, int(event.progress))))
        if event.kind == "failed":
            row.error = str(event.error)[:200]
        return row

    def stop(self) -> None:
        """Polling stopped: every task not finished is cancelled."""
        for row in self.rows:
            if not row.finished:
                row.state = "cancelled"

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def counts(self) -> dict[str, int]:
        """How many tasks are in each state, in the order first seen."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts

    def summary(self) -> str:
        """e.g. '3 completed, 1 failed'."""
        return ", ".join(f"{n} {state}" for state, n in self.counts().items())
