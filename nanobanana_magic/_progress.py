"""The progress of a batch: the engine's events reduced to one row per task, in the
user's words.

Every live view (the magics' progress table and sweep grid, the panel's progress rows,
the command line's lines and table) reads these rows; none of them interprets events
itself, and all of them show the same words (`WORDS`): queued, generating, downloading,
done, failed, stopped. The server's own status words ("in_progress", "submitted") and
task ids are never shown.

A row's `state` is one word of `ROW_STATES`: waiting (nothing sent yet), then submitted,
queued and running while the server has it (queued and running are the client's
normalised task states, `_answers.TASK_STATES`), downloading while its images are fetched,
then completed, cached, failed or cancelled. While the server has a task, the poll
planner's prediction of its end (`Event.seconds_left`) gives the time left.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._wording import plural

#: the engine's status of a progress event sent when a task's images start downloading
DOWNLOADING = "downloading"

if TYPE_CHECKING:
    from ._engine import Event
    from ._request import ImageRequest
    from ._run import Run

ROW_STATES = (
    "waiting",
    "submitted",
    "queued",
    "running",
    "downloading",
    "completed",
    "cached",
    "failed",
    "cancelled",
)
#: row states after which a task has its final Run
FINISHED = ("completed", "cached", "failed", "cancelled")

#: what each row state is called where a user sees it (one vocabulary for every view)
WORDS = {
    "waiting": "queued",
    "submitted": "queued",
    "queued": "queued",
    "running": "generating",
    "downloading": "downloading",
    "completed": "done",
    "cached": "done",
    "failed": "failed",
    "cancelled": "stopped",
}


def task_label(request: ImageRequest, width: int = 40) -> str:
    """A row's label naming a task by its prompt (cut between words) and parameters, e.g.
    'a red fox in the snow · 1:1 · 1K · n=1'."""
    prompt = " ".join(request.prompt.split())
    if len(prompt) > width:
        prompt = (prompt[:width].rsplit(" ", 1)[0] or prompt[:width]) + "…"
    return f"{prompt} · {request.summary()}"


def row_error(message: str, task_id: str = "", width: int = 200) -> str:
    """An error as a row shows it: the task called "the task" rather than by its id, cut
    between words to `width` characters."""
    import textwrap

    if task_id:
        for named, plain in ((f"Task {task_id}", "The task"), (task_id, "the task")):
            message = message.replace(named, plain)
    return textwrap.shorten(message, width, placeholder=" …")


def time_text(seconds: float) -> str:
    """A duration as a user reads it: "4.2 s", "2 min 05 s"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def time_left_text(seconds: float) -> str:
    """The time left as a user reads it: "about 8 s left", "about 3 min left"."""
    if seconds < 1:
        return "almost done"
    if seconds < 60:
        return f"about {seconds:.0f} s left"
    return f"about {round(seconds / 60)} min left"


@dataclasses.dataclass
class TaskProgress:
    """One task of a batch, as far as the events have told."""

    state: str = "waiting"
    progress: int = 0
    task_id: str = ""  # for the journal's and the panel's cancel note; never shown in a row
    error: str = ""
    run: Run | None = None
    #: when the task should finish (wall clock, `time.time()`), as the poll planner
    #: predicted at its last answer; None until it is known
    finish_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def shown(self) -> str:
        """The state in the user's words (`WORDS`)."""
        return WORDS.get(self.state, self.state)

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds until the predicted end, while the server has the task and an end is
        predicted; 0 while its images download; None otherwise."""
        if self.state == "downloading":
            return 0.0
        if self.state in ("queued", "running") and self.finish_at is not None:
            return max(0.0, self.finish_at - (time.time() if now is None else now))
        return None

    def describe(self, now: float | None = None) -> str:
        """The row's status text: "generating · about 4 s left", "failed: <why>"."""
        left = self.seconds_left(now) if self.state in ("queued", "running") else None
        return (
            self.shown
            + (f" · {time_left_text(left)}" if left is not None else "")
            + (f": {self.error}" if self.error else "")
        )


class BatchProgress:
    """One `TaskProgress` per task of a batch (in request order), fed by `apply(event)`."""

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        self.rows = [TaskProgress() for _ in self.labels]
        self.started = time.monotonic()

    def apply(self, event: Event) -> TaskProgress:
        """Record one engine event on its task's row; returns that row."""
        row = self.rows[event.index]
        if event.kind == "progress" and event.status == DOWNLOADING:
            row.state = "downloading"
        elif event.kind == "progress":
            row.state = event.state if event.state in ("queued", "running") else "running"
        else:
            row.state = event.kind
        if event.seconds_left is not None:
            row.finish_at = event.at + event.seconds_left
        if event.run is not None:
            row.task_id = event.run.task_id or row.task_id
            if row.finished:
                row.run = event.run
        if event.kind in ("completed", "cached"):
            row.progress = 100
        elif event.progress is not None:
            row.progress = max(row.progress, max(0, min(100, int(event.progress))))
        if event.kind == "failed":
            row.error = row_error(str(event.error), row.task_id)
        return row

    def stop(self) -> None:
        """Polling stopped: every task not finished is cancelled."""
        for row in self.rows:
            if not row.finished:
                row.state = "cancelled"

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds until the last unfinished task should end, once every unfinished task
        has a predicted end (None before that, and when nothing is left to wait for)."""
        now = time.time() if now is None else now
        lefts = [row.seconds_left(now) for row in self.rows if not row.finished]
        if not lefts or any(left is None for left in lefts):
            return None
        return max(left for left in lefts if left is not None)

    def timing(self) -> str:
        """e.g. "3.2 s elapsed · about 8 s left" (the time left once it is known)."""
        left = self.seconds_left()
        return f"{time_text(self.elapsed)} elapsed" + (
            f" · {time_left_text(left)}" if left is not None else ""
        )

    def counts(self) -> dict[str, int]:
        """How many tasks are at each step, in the user's words, in the order first seen."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.shown] = counts.get(row.shown, 0) + 1
        return counts

    def summary(self) -> str:
        """e.g. '3 done, 1 failed'."""
        return ", ".join(f"{n} {word}" for word, n in self.counts().items())

    def status_line(self) -> str:
        """The live header of a batch: e.g. '1 task: 1 generating · 3.2 s elapsed ·
        about 8 s left'."""
        return f"{plural(len(self.rows), 'task')}: {self.summary()} · {self.timing()}"
