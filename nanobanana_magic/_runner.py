"""Running a batch of requests with a live display, for the magics.

`run_blocking` runs until the images are shown (so "Run All" works top to bottom);
`run_in_background` returns at once and fills the display in as tasks finish;
`resume_batch` collects tasks the journal says were never collected.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from . import _display as display
from . import _errors as errors
from ._displayables import Runs
from ._live import LiveStatus
from ._pricing import format_usd

if TYPE_CHECKING:
    from ._cell_options import CellCommand
    from ._engine import Engine, Event
    from ._magics import Banana

log = logging.getLogger("nanobanana_magic")


class Interrupted(KeyboardInterrupt):
    """A kernel interrupt while tasks ran. Still a KeyboardInterrupt (so loops stop and
    "Run All" halts), but shown as one paragraph instead of a trip through asyncio."""

    def _render_traceback_(self) -> list[str]:
        return [f"Interrupted: {self}"]


def runs_provenance(runs) -> dict:
    """Provenance of what a cell made: one run's own, or {"runs": [...]} for several."""
    items = [run.provenance() for run in runs if run is not None]
    return items[0] if len(items) == 1 else {"runs": items}


def batch_summary(runs, board: display.ProgressBoard) -> str:
    """One sentence on how a batch went; says so when everything came from the cache."""
    if runs and all(run.cached for run in runs):
        ids = ", ".join(run.run_id for run in runs[:3]) + (" …" if len(runs) > 3 else "")
        return (
            f"From the cache (run {ids}): nothing was sent and nothing spent; "
            "--no-cache or --variant LABEL makes new images."
        )
    cached = sum(1 for run in runs if run.cached)
    spent = format_usd(sum(run.spent for run in runs))
    simulated = runs and all(run.simulated for run in runs)
    return (
        f"{len(runs)} task(s): {board.summary()} in "
        f"{time.monotonic() - board.started:.1f} s"
        + (f"; {cached} from the cache, nothing sent for them" if cached else "")
        + (
            f"; {spent} at ToAPIs prices (simulated: nothing paid)."
            if simulated
            else f"; {spent} spent."
        )
    )


def run_blocking(
    magic: Banana,
    engine: Engine,
    requests,
    cmd: CellCommand | None,
    labels,
    on_event=None,
    render=None,
):
    from ._sync import run_sync

    board = display.ProgressBoard(labels)
    live = LiveStatus(magic.shell, render or board.html).start()

    def listener(event: Event) -> None:
        board.apply(event)
        if on_event is not None:
            on_event(event)
        live.refresh(force=event.kind != "progress")

    try:
        runs = run_sync(
            live.ticking(engine.run(requests, listener=listener, cache=cmd.cache if cmd else True))
        )
    except KeyboardInterrupt:
        live.finish(f"Interrupted after {time.monotonic() - board.started:.1f} s: polling stopped.")
        raise Interrupted(
            "polling stopped. Submitted tasks stay in the journal; "
            "`%banana resume` collects them without paying again."
        ) from None
    except errors.BananaError as exc:  # e.g. no key: the board must not stay "waiting"
        live.finish(str(exc), html_text=display.error_box(str(exc)))
        raise
    magic.note_spent(runs)
    live.finish(batch_summary(runs, board), provenance=runs_provenance(runs))
    return runs


def run_in_background(magic: Banana, engine: Engine, requests, cmd: CellCommand, sweep=None):
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise UsageError("--background needs a running Jupyter kernel; drop it here.") from None
    labels = [r.summary() for r in requests]
    board = display.ProgressBoard(labels)
    live = LiveStatus(magic.shell, (sweep.html if sweep else board.html)).start()

    def listener(event: Event) -> None:
        board.apply(event)
        if sweep is not None:
            sweep.apply(event)
        live.refresh(force=event.kind != "progress")

    async def work():
        try:
            runs = await engine.run(requests, listener=listener, cache=cmd.cache)
        except asyncio.CancelledError:
            live.finish("Cancelled; `%banana resume` collects submitted tasks.")
            raise
        except errors.BananaError as exc:
            live.finish(str(exc), html_text=display.error_box(str(exc)))
            return
        except Exception as exc:  # a bug: show it where the grid would be, and log it
            log.exception("background generation failed")
            live.finish(repr(exc), html_text=display.error_box(f"Unexpected error: {exc!r}"))
            return
        magic.note_spent(runs)
        result = sweep if sweep is not None else runs[0]
        magic.bind(cmd, result)
        live.finish(
            batch_summary(runs, board),
            provenance=runs_provenance(runs),
            html_text=sweep.html() if sweep is not None else display.runs_html(runs),
        )

    magic.keep_background(loop.create_task(work()))
    return None


def resume_batch(magic: Banana):
    engine = magic.engine()
    pending = engine.pending_tasks()
    elsewhere = len(engine.store.pending_tasks()) - len(pending)
    if elsewhere:
        print(
            f"{elsewhere} uncollected task(s) in this folder were sent to another "
            f"backend; `%banana use` that backend to resume them."
        )
    if not pending:
        print(
            f"Nothing to resume: every task sent to {engine.base_url} from "
            f"{engine.store.root} was collected."
        )
        return None
    board = display.ProgressBoard([f"task {e['task_id']}" for e in pending])
    live = LiveStatus(magic.shell, board.html).start()

    def listener(event):
        board.apply(event)
        live.refresh(force=event.kind != "progress")

    from ._sync import run_sync

    runs = run_sync(live.ticking(engine.resume(listener=listener)))
    magic.note_spent(runs)
    live.finish(
        f"Resumed {len(runs)} task(s): {board.summary()}.", provenance=runs_provenance(runs)
    )
    return Runs(runs)
