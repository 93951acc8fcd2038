"""The one way a batch runs with a live view: blocking cells, `--background` cells,
`%banana resume` and the panel all go through `run_batch`.

`run_batch(start, view)` starts the engine's work (`engine.run` or `engine.resume`, given
the listener), feeds every event to the batch's one progress reducer (`BatchProgress`, or
the sweep's own) and tells the view what happened, and it ends the view in exactly one of
five ways: finished (the runs), failed (a BananaError: one clear sentence), crashed (a bug:
logged, shown, re-raised), stopped (an interrupt or a cancel: polling stopped, submitted
tasks stay resumable). The error is always re-raised; what a front end does with it is
its own business (a cell raises, a background cell and the panel have shown it already).

`LiveView` is the magics' view: one display updated in place (`_live.LiveStatus`).
`run_blocking` runs a batch until its images are shown (so "Run All" works top to bottom);
`run_in_background` returns at once and leaves the display filling in.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from . import _display as display
from . import _errors as errors
from ._live import LiveStatus
from ._pricing import format_usd
from ._progress import BatchProgress, TaskProgress
from ._wording import plural, wrapped

if TYPE_CHECKING:
    import asyncio

    from ._engine import Event, Listener
    from ._magics import Banana
    from ._plan import BatchPlan
    from ._run import Run
    from ._sweep_result import SweepRun

log = logging.getLogger("nanobanana_magic")

#: starts the engine's work for a batch, given the listener of its events
Start = Callable[["Listener"], Awaitable[list["Run"]]]

STOPPED_TEXT = (
    "Submitted tasks stay in the journal; %banana resume collects them without paying again."
)


def stopped_text(elapsed: float) -> str:
    return f"after {elapsed:.1f} s: polling stopped. {STOPPED_TEXT}"


class Interrupted(KeyboardInterrupt):
    """A kernel interrupt while tasks ran. Still a KeyboardInterrupt (so loops stop and
    "Run All" halts), but shown as one paragraph instead of a trip through asyncio."""

    def _render_traceback_(self) -> list[str]:
        # "Interrupted after 2.0 s: polling stopped. ...", wrapped at word boundaries
        return wrapped(f"Interrupted {self}").splitlines()


class BatchView:
    """What a front end shows of a running batch. Subclasses override the hooks they need.

    `progress` is the batch's reducer; with `sweep`, the sweep's own (so its grid and the
    view read the same rows).
    """

    def __init__(self, labels=(), *, sweep: SweepRun | None = None, progress=None):
        self.sweep = sweep
        if sweep is not None:
            progress = sweep.progress
        self.progress: BatchProgress = progress if progress is not None else BatchProgress(labels)

    def apply(self, event: Event) -> TaskProgress:
        return self.sweep.apply(event) if self.sweep is not None else self.progress.apply(event)

    async def around(self, work: Awaitable[list[Run]]) -> list[Run]:
        """Await the work (a view may animate meanwhile)."""
        return await work

    def changed(self, event: Event, row: TaskProgress) -> None:
        """An event was recorded on `row`."""

    def finished(self, runs: list[Run]) -> None:
        """Every task has its Run (some may have failed on their own)."""

    def failed(self, error: errors.BananaError) -> None:
        """The batch could not run (e.g. no key); nothing more happens."""

    def crashed(self, error: Exception) -> None:
        """A bug; it has been logged and will be re-raised."""

    def stopped(self) -> None:
        """Polling stopped (interrupt, cancel); unfinished rows are cancelled."""


async def run_batch(start: Start, view: BatchView) -> list[Run]:
    """Run a batch through `view` (see the module docstring); returns the runs."""
    import asyncio  # here, not at the top: the magic imports `Interrupted` at `%load_ext`

    def listener(event: Event) -> None:
        view.changed(event, view.apply(event))

    try:
        runs = await view.around(start(listener))
    except (asyncio.CancelledError, KeyboardInterrupt):
        view.progress.stop()
        if view.sweep is not None:  # the cells sent so far, for history and show
            view.sweep.record()
        view.stopped()
        raise
    except errors.BananaError as exc:
        view.failed(exc)
        raise
    except Exception as exc:
        log.exception("a batch failed unexpectedly")
        view.crashed(exc)
        raise
    if view.sweep is not None:  # one history entry; `%banana show` shows its grid again
        view.sweep.record()
    view.finished(runs)
    return runs


# -- the magics' live display ----------------------------------------------------------------
def runs_provenance(runs) -> dict:
    """Provenance of what a cell made: one run's own, or {"runs": [...]} for several."""
    items = [run.provenance() for run in runs if run is not None]
    return items[0] if len(items) == 1 else {"runs": items}


def batch_summary(runs, progress: BatchProgress) -> str:
    """One sentence on how a batch went; says so when everything came from the cache."""
    if runs and all(run.cached for run in runs):
        ids = ", ".join(run.run_id for run in runs[:3]) + (" …" if len(runs) > 3 else "")
        return (
            f"From the cache (run {ids}): nothing was sent and nothing spent; "
            "--no-cache or --variant LABEL makes new images."
        )
    cached = sum(1 for run in runs if run.cached)
    adopted = sum(1 for run in runs if run.adopted)
    spent = format_usd(sum(run.spent for run in runs))
    simulated = runs and all(run.simulated for run in runs)
    return (
        f"{plural(len(runs), 'task')}: {progress.summary()} in {progress.elapsed:.1f} s"
        + (f"; {cached} from the cache, nothing sent for them" if cached else "")
        + (
            f"; {adopted} already submitted by an interrupted run, collected without "
            "sending them again"
            if adopted
            else ""
        )
        + (
            f"; {spent} at ToAPIs prices (simulated: nothing paid)."
            if simulated
            else f"; {spent} spent."
        )
    )


class LiveView(BatchView):
    """The magics' view: a progress table (or the sweep's grid) updated in place, which
    ends as a one-line summary, or as the final grid with `show_result`. A `background`
    view says itself that polling stopped; otherwise the cell's `Interrupted` says it.

    The rows are the plan's (its labels); the header, like a sweep's, tells the state in
    words, the time elapsed and left, what was spent next to the plan's estimate, and the
    SIMULATED badge when the plan's engine is the simulator."""

    def __init__(
        self,
        shell,
        plan: BatchPlan,
        *,
        sweep: SweepRun | None = None,
        summary: Callable[[list[Run], BatchProgress], str] = batch_summary,
        show_result: bool = False,
        background: bool = False,
    ):
        simulated = plan.engine is not None and plan.engine.simulated
        board = display.ProgressBoard(plan.labels, estimate=plan.estimate, simulated=simulated)
        super().__init__(sweep=sweep, progress=board)
        self.summary, self.show_result, self.background = summary, show_result, background
        render = sweep.live_html if sweep is not None else board.html
        self.live = LiveStatus(shell, render).start(grid_slot=show_result)

    async def around(self, work):
        return await self.live.ticking(work)

    def changed(self, event, row) -> None:
        self.live.refresh(force=event.kind != "progress")

    def finished(self, runs) -> None:
        result_html = None
        subject = self.sweep if self.sweep is not None else (runs[0] if len(runs) == 1 else None)
        if self.show_result and subject is not None and self.live.finish_as_grid(subject):
            return  # a background cell's grid, with rating controls where widgets render
        if self.show_result:
            result_html = self.sweep.html() if self.sweep is not None else display.runs_html(runs)
        self.live.finish(
            self.summary(runs, self.progress),
            provenance=runs_provenance(runs),
            html_text=result_html,
        )

    def failed(self, error) -> None:  # e.g. no key: the board must not stay "waiting"
        self.live.finish(str(error), html_text=display.error_box(str(error)))

    def crashed(self, error) -> None:  # a bug: shown where the grid would be
        self.live.finish(repr(error), html_text=display.error_box(f"Unexpected error: {error!r}"))

    def stopped(self) -> None:
        if self.background:  # no cell error follows: the display says it
            self.live.finish(f"Interrupted {stopped_text(self.progress.elapsed)}")
        else:  # the cell's Interrupted says it once; the display keeps the stopped rows
            self.live.freeze()


def run_blocking(magic: Banana, view: LiveView, start: Start) -> list[Run]:
    """Run the batch to the end; a kernel interrupt becomes one clear `Interrupted`."""
    from ._sync import run_sync

    try:
        runs = run_sync(run_batch(start, view))
    except KeyboardInterrupt:
        raise Interrupted(stopped_text(view.progress.elapsed)) from None
    magic.note_spent(runs)
    return runs


def run_in_background(
    magic: Banana, view: LiveView, start: Start, done: Callable[[list[Run]], None]
) -> None:
    """Start the batch on the kernel's loop and return; `done(runs)` when it finished."""

    async def work() -> None:
        try:
            runs = await run_batch(start, view)
        except Exception:  # shown in the cell's display (and a bug logged) by the view
            return
        magic.note_spent(runs)
        done(runs)

    magic.keep_background(kernel_loop().create_task(work()))


def kernel_loop() -> asyncio.AbstractEventLoop:
    """The running loop of the kernel, which `--background` needs (checked before showing
    anything)."""
    import asyncio

    from IPython.core.error import UsageError

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise UsageError("--background needs a running Jupyter kernel; drop it here.") from None


def resumed_summary(runs, progress: BatchProgress) -> str:
    return f"Resumed {plural(len(runs), 'task')}: {progress.summary()}."
