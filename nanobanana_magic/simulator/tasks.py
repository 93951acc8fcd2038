"""Task state machine and scheduler, computed lazily from a clock.

There is no ticker thread. A task's life is fixed when it is created::

    created_at ── queue_delay ──> ready_at ── (wait for a slot) ──> started_at
              ── run_time ──> finished_at   (ends "completed" or "failed")

Only ``started_at`` depends on other tasks: with a concurrency cap (``max_running``) a task
that is ready starts at the exact moment a slot frees (the end time of the task that held
it), strictly in submit order. :class:`TaskScheduler` assigns those start times whenever it
is asked to :meth:`~TaskScheduler.advance` to "now"; nothing here reads a real clock, so the
whole module is testable with plain numbers.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

#: Task phases (internal; the status *names* shown to clients are chosen by :func:`status_of`).
WAITING = "waiting"
RUNNING = "running"
DONE = "done"


@dataclass(frozen=True)
class TaskError:
    """Why a task failed, as shown in the task object's ``error`` field."""

    code: str
    message: str


@dataclass
class Task:
    """One generation task. Times are epoch seconds (floats)."""

    id: str
    owner: str
    model: str
    prompt: str
    size: str
    n: int
    resolution: str
    references: tuple[str, ...]
    created_at: float
    ready_at: float
    run_time: float
    error: TaskError | None = None  # set when the task is destined to fail
    started_at: float | None = None  # assigned by the scheduler
    polls: int = 0
    downloads: int = 0
    seen_done_at: float | None = None  # when a status query first found it done

    @property
    def finished_at(self) -> float | None:
        """When the task is (or will be) done; ``None`` until it has a start time."""
        if self.started_at is None:
            return None
        return self.started_at + self.run_time

    @property
    def fails(self) -> bool:
        return self.error is not None

    def phase(self, now: float) -> str:
        """WAITING, RUNNING or DONE at time ``now`` (after the scheduler advanced to it)."""
        if self.started_at is None or now < self.started_at:
            return WAITING
        if now < self.started_at + self.run_time:
            return RUNNING
        return DONE

    def fraction(self, now: float) -> float:
        """Share of the run time elapsed at ``now``, 0..1."""
        if self.started_at is None or now <= self.started_at:
            return 0.0
        if self.run_time <= 0:
            return 1.0
        return min(1.0, (now - self.started_at) / self.run_time)


class TaskScheduler:
    """Gives tasks their start times, first in first out, under an optional cap.

    Tasks are :meth:`add`-ed in submit order. :meth:`advance` starts every waiting task whose
    start moment is ``<= now``: the later of its ``ready_at``, the previous task's start (FIFO)
    and — when ``max_running`` is set — the moment enough running tasks have finished for a slot
    to be free. A task finishing at ``t`` frees its slot at exactly ``t``.
    """

    def __init__(self) -> None:
        self._waiting: deque[Task] = deque()
        self._finish_times: list[float] = []  # heap of finish times of started tasks
        self._last_start = -math.inf

    def add(self, task: Task) -> None:
        self._waiting.append(task)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def advance(self, now: float, max_running: int | None) -> None:
        """Assign start times to all tasks that have started by ``now``."""
        while self._waiting:
            head = self._waiting[0]
            start = max(head.ready_at, self._last_start)
            # Finish times at or before `start` can never block this or any later task.
            while self._finish_times and self._finish_times[0] <= start:
                heapq.heappop(self._finish_times)
            if max_running is not None and len(self._finish_times) >= max_running:
                # Wait until all but (max_running - 1) of the running tasks have finished.
                surplus = len(self._finish_times) - max_running
                start = max(start, heapq.nsmallest(surplus + 1, self._finish_times)[-1])
            if start > now:
                return
            self._waiting.popleft()
            head.started_at = start
            self._last_start = start
            heapq.heappush(self._finish_times, start + head.run_time)


def status_of(
    task: Task, now: float, *, initial_status: str = "queued", running_status: str = "in_progress"
) -> str:
    """The status string a client sees at ``now``."""
    phase = task.phase(now)
    if phase == WAITING:
        return initial_status
    if phase == RUNNING:
        return running_status
    return "failed" if task.fails else "completed"


def progress_of(task: Task, now: float, mode: str = "linear") -> int:
    """Integer progress 0..100 at ``now``.

    ``linear``: floor(100 × elapsed fraction), at most 99 until the task is done;
    ``coarse``: 0, then 50 from half time; ``none``: 0 until done. Completed tasks show 100,
    failed ones 0 (as in the documented failed example).
    """
    phase = task.phase(now)
    if phase == DONE:
        return 0 if task.fails else 100
    if phase == WAITING:
        return 0
    fraction = task.fraction(now)
    if mode == "linear":
        return min(99, int(math.floor(100 * fraction)))
    if mode == "coarse":
        return 50 if fraction >= 0.5 else 0
    return 0
