"""The result of a sweep: one Run per grid cell, keyed by the cell's axis values.

`SweepRun` renders as labelled grids (one axis: a row; two: rows × columns; more: one
grid per combination of the remaining axes; the HTML is in `_sweep_html`), which fill in
live as `apply(event)` is fed the engine's events; it exports `records()`,
`to_dataframe()` and `contact_sheet(path)`.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from . import _display as display
from ._engine import Event
from ._errors import ValidationError
from ._pricing import format_usd, spent_text
from ._progress import BatchProgress, TaskProgress
from ._request import ImageRequest
from ._run import Run
from ._sweep_plan import PARAMETER_AXES, SweepPlan, axis_label, cell_label
from ._wording import plural

#: a running sweep of more cells than this is shown as counts, a bar and its latest images
#: (redrawing a thousand-cell grid a few times a second would swamp the kernel and the
#: browser); the labelled grid comes when it ends
LIVE_GRID_CELLS = 64
_LIVE_LATEST = 6


@dataclasses.dataclass
class SweepPage:
    """One labelled grid: rows × columns of cell keys, with a title naming fixed values."""

    title: str
    row_axis: str
    row_labels: list[str]
    col_axis: str
    col_labels: list[str]
    keys: list[list[tuple]]


class SweepRun:
    """The result of a sweep: one Run per grid cell, keyed by the tuple of its axis values.

    `sweep_run["16:9", "fox"]` (values in axis order) or `sweep_run.cell(size="16:9",
    animal="fox")` give a cell's Run (None until it finished). While a sweep runs,
    `apply(event)` records the engine's events so `html()` shows the cells filling in.
    """

    def __init__(self, plan: SweepPlan):
        self.plan = plan
        self.axes = plan.axes
        self.runs: dict[tuple, Run | None] = {key: None for key, _ in plan.cells}
        self._requests: dict[tuple, ImageRequest] = dict(plan.cells)
        #: the live state of every cell, in plan order (fed by `apply`)
        self.progress = BatchProgress([cell_label(self.axes, key) for key, _ in plan.cells])
        self._position = {key: i for i, (key, _) in enumerate(plan.cells)}
        #: the cells that finished last (what a big sweep's live view shows)
        self.latest: collections.deque[tuple] = collections.deque(maxlen=_LIVE_LATEST)
        self.created_at = time.time()
        #: the id of its record in the output folder, once recorded (`record`)
        self.sweep_id: str | None = None
        #: the run id of every cell the engine started, finished or not
        self.run_ids: dict[tuple, str] = {}

    # -- access ---------------------------------------------------------------------------------
    def __getitem__(self, key) -> Run | None:
        if not isinstance(key, tuple):
            key = (key,)
        if key not in self.runs:
            key = self._key_from_labels(key)
        return self.runs[key]

    def _key_from_labels(self, labels: tuple) -> tuple:
        for key in self.runs:
            if tuple(axis_label(n, v) for n, v in zip(self.axes, key)) == tuple(map(str, labels)):
                return key
        raise KeyError(
            f"No cell {labels!r}; cells are keyed by the axis values in the order "
            f"{', '.join(self.axes)}."
        )

    def cell(self, **values) -> Run | None:
        """The Run of the cell with these axis values, e.g. cell(size="16:9", style="ink")."""
        if set(values) != set(self.axes):
            raise KeyError(f"Name every axis once: {', '.join(self.axes)}.")
        return self[tuple(values[name] for name in self.axes)]

    def __iter__(self) -> Iterator[tuple[tuple, Run | None]]:
        return iter(self.runs.items())

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def cost(self) -> float:
        """What the images of every cell cost when they were made (cached ones included)."""
        return sum(run.cost for run in self.runs.values() if run is not None)

    @property
    def spent(self) -> float:
        """What this sweep paid (cached cells cost nothing)."""
        return sum(run.spent for run in self.runs.values() if run is not None)

    @property
    def failed(self) -> list[tuple]:
        return [key for key, run in self.runs.items() if run is not None and not run.ok]

    # -- live updates -------------------------------------------------------------------------------
    def apply(self, event: Event) -> TaskProgress:
        """Record one engine event (its index is the cell's position in the plan); returns
        the cell's row."""
        row = self.progress.apply(event)
        if event.run is not None:
            self.run_ids[self.plan.keys[event.index]] = event.run.run_id
        if row.finished and event.run is not None:
            key = self.plan.keys[event.index]
            self.runs[key] = event.run
            if event.run.ok:
                self.latest.append(key)
        return row

    def record(self) -> None:
        """Record the sweep in its output folder (axes, and the run of every cell), so that
        history lists it as one entry and `%banana show` shows this grid again; done by
        the runner when the sweep ends or stops."""
        from ._sweep_record import record_sweep

        record_sweep(self)

    def row(self, key: tuple) -> TaskProgress:
        """The live state of a cell: waiting, submitted, queued, running, completed, ..."""
        return self.progress.rows[self._position[key]]

    # -- export ---------------------------------------------------------------------------------------
    def records(self) -> list[dict]:
        """One dict per image: the axis values, the request's parameters, the file, the
        task id, seconds taken and the cost. A cell without images (failed, not run)
        gives one row with `path` None and its error."""
        fixed = (
            "prompt",
            "model",
            "size",
            "n",
            "resolution",
            "refs",
            "index",
            "path",
            "thumbnail",
            "task_id",
            "run_id",
            "status",
            "cached",
            "elapsed",
            "cost",
            "spent",
            "error",
            "rating",
            "picked",
            "size_ok",
        )
        columns = {
            name: name if name in PARAMETER_AXES or name not in fixed else f"axis_{name}"
            for name in self.axes
        }
        rows = []
        for key, run in self.runs.items():
            request = run.request if run is not None else self._requests[key]
            base = {
                columns[name]: axis_label(name, value) if name == "ref" else value
                for name, value in zip(self.axes, key)
            }
            base.update(
                prompt=request.prompt,
                model=request.model,
                size=request.size,
                n=request.n,
                resolution=request.resolution,
                refs=axis_label("ref", request.reference_images)
                if request.reference_images
                else "",
            )
            if run is None:
                rows.append(
                    {
                        **base,
                        "index": None,
                        "path": None,
                        "thumbnail": None,
                        "task_id": None,
                        "run_id": None,
                        "status": self.row(key).state,
                        "cached": False,
                        "elapsed": None,
                        "cost": 0.0,
                        "spent": 0.0,
                        "error": None,
                        "rating": None,
                        "picked": False,
                        "size_ok": None,
                    }
                )
                continue
            common = {
                "task_id": run.task_id,
                "run_id": run.run_id,
                "status": run.status,
                "cached": run.cached,
                "elapsed": run.elapsed,
                "error": run.error,
            }
            if not run.images:
                rows.append(
                    {
                        **base,
                        "index": None,
                        "path": None,
                        "thumbnail": None,
                        **common,
                        "cost": 0.0,
                        "spent": 0.0,
                        "rating": None,
                        "picked": False,
                        "size_ok": None,
                    }
                )
            share = 1 / max(1, len(run.images))
            for image in run.images:
                rows.append(
                    {
                        **base,
                        "index": image.index,
                        "path": str(image.path),
                        "thumbnail": str(image.thumbnail),
                        **common,
                        "cost": round(run.cost * share, 6),
                        "spent": round(run.spent * share, 6),
                        "rating": image.rating,
                        "picked": image.picked,
                        "size_ok": image.size_ok,
                    }
                )
        return rows

    def to_dataframe(self):
        """`records()` as a pandas DataFrame (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from None
        return pandas.DataFrame.from_records(self.records())

    def contact_sheet(self, path: str | os.PathLike, *, cell: int = 256) -> Path:
        """Write one labelled PNG of the whole sweep: a grid per page, headers on the
        rows and columns, a tile per cell (its images, or its error). Returns the path.
        A path ending in .jpg gives a JPEG instead, a fraction of the size."""
        from ._contact_sheet import render_contact_sheet

        pages = [
            (page, [[self.runs.get(key) for key in row] for row in page.keys])
            for page in self.pages()
        ]
        simulated = any(run.simulated for run in self.runs.values() if run is not None)
        heading = self.plan.template.strip() or "sweep"
        return render_contact_sheet(
            Path(path),
            pages,
            heading=heading,
            subheading=self.status_line(),
            simulated=simulated,
            cell=cell,
        )

    def controls(self):
        """Every cell's images as a widget, labelled with the cell's values, each with
        rating stars and Pick underneath."""
        from ._image_controls import tiles

        keys = list(self.runs)
        return tiles(
            [self.runs[key] for key in keys],
            labels=[cell_label(self.axes, key) for key in keys],
        )

    def view(self, rows: str | None = None, cols: str | None = None):
        """A widget over the grid: choose the row and column axes; with three or more
        axes the others become a selector of one grid at a time."""
        from ._sweep_view import SweepView

        return SweepView(self, rows=rows, cols=cols)

    # -- which value wins -----------------------------------------------------------------------
    def summary(self):
        """Per axis and value: images, rated, mean rating, picks, cost, mean seconds; the
        best value of each axis marked; with two axes, mean rating per row × column."""
        from ._summary import summarize

        cells = [
            ({name: axis_label(name, value) for name, value in zip(self.axes, key)}, run)
            for key, run in self.runs.items()
        ]
        return summarize(cells, list(self.axes), zipped=self.plan.zipped)

    def rated(self) -> bool:
        """True once an image of the sweep has a rating or a pick."""
        return any(
            image.rating or image.picked
            for run in self.runs.values()
            if run is not None
            for image in run.images
        )

    # -- layout ------------------------------------------------------------------------------------------
    def pages(self, rows: str | None = None, cols: str | None = None) -> list[SweepPage]:
        """The labelled grids: one axis (or a zipped sweep) → one row; two axes → rows ×
        columns; more → one grid per combination of the other axes. `rows` and `cols`
        choose the axes of rows and columns (default: the first two)."""
        names = list(self.axes)
        if self.plan.zipped or len(names) == 1:
            keys = [key for key, _ in self.plan.cells]
            labels = [
                axis_label(names[0], key[0]) if len(names) == 1 else cell_label(names, key)
                for key in keys
            ]
            axis = names[0] if len(names) == 1 else " · ".join(names)
            return [SweepPage("", "", [""], axis, labels, [keys])]
        rows_axis = rows or (names[0] if cols != names[0] else names[1])
        cols_axis = cols or next(n for n in names if n != rows_axis)
        if rows_axis == cols_axis or not {rows_axis, cols_axis} <= set(names):
            raise ValidationError(
                f"Rows and columns need two different axes of this sweep ({', '.join(names)})."
            )
        rest = [n for n in names if n not in (rows_axis, cols_axis)]
        position = {name: i for i, name in enumerate(names)}

        def key_of(values: dict) -> tuple:
            return tuple(values[name] for name in sorted(values, key=position.__getitem__))

        pages = []
        for extra in itertools.product(*(self.axes[n] for n in rest)):
            fixed = dict(zip(rest, extra))
            grid = [
                [key_of({rows_axis: r, cols_axis: c, **fixed}) for c in self.axes[cols_axis]]
                for r in self.axes[rows_axis]
            ]
            pages.append(
                SweepPage(
                    cell_label(rest, extra),
                    rows_axis,
                    [axis_label(rows_axis, r) for r in self.axes[rows_axis]],
                    cols_axis,
                    [axis_label(cols_axis, c) for c in self.axes[cols_axis]],
                    grid,
                )
            )
        return pages

    @property
    def simulated(self) -> bool:
        """True when the images are (or will be) simulated placeholders."""
        engine = self.plan.engine
        return (engine is not None and engine.simulated) or any(
            run.simulated for run in self.runs.values() if run is not None
        )

    def status_line(self, *, live: bool = False) -> str:
        """The sweep's header: its cells at each step in the user's words (`_progress.WORDS`)
        and what it spent next to the estimate; `live` adds the time elapsed and left."""
        timing = f" {self.progress.timing()}." if live else ""
        rows = self.progress.rows
        sent = live and any(row.state != "waiting" for row in rows)
        if (
            not sent
            and not any(row.finished for row in rows)
            and all(run is None for run in self.runs.values())
        ):
            return self.plan.describe() + timing  # before anything is sent: the plan
        words = Counter(self.progress.counts())
        cached = sum(1 for row in self.progress.rows if row.state == "cached")
        parts = [f"{words['done']} of {plural(len(self.runs), 'cell')} done"]
        if cached:
            parts.append(f"{cached} from the cache")
        for word in ("failed", "stopped", "downloading", "generating", "queued"):
            if words[word]:
                parts.append(f"{words[word]} {word}")
        return (
            f"Sweep over {self.plan.shape()}: "
            + ", ".join(parts)
            + f"; {spent_text(self.spent, self.plan.estimate)}."
            + timing
            + (f" Recorded as {self.sweep_id}." if self.sweep_id else "")
        )

    # -- HTML ------------------------------------------------------------------------------------------

    # -- display -------------------------------------------------------------------------------------
    def html(self, *, live: bool = False) -> str:
        """The labelled grids, with the current state of every cell (`live`: with the
        time elapsed and left in the header)."""
        from ._sweep_html import sweep_html

        return sweep_html(self, live=live)

    def live_html(self) -> str:
        """What a live display shows while the sweep runs: the grid for a small sweep; for a
        big one (more than LIVE_GRID_CELLS), the status line, a bar and the latest finished
        images, cheap to redraw whatever the number of cells."""
        if len(self.runs) <= LIVE_GRID_CELLS:
            return self.html(live=True)
        from ._sweep_html import live_summary_html

        return live_summary_html(self)

    def _repr_html_(self) -> str:
        return display.output(self.html())

    def provenance(self) -> dict:
        return {
            "sweep": {
                name: [axis_label(name, v) for v in values] for name, values in self.axes.items()
            },
            "zip": self.plan.zipped,
            "template": self.plan.template,
            "runs": [run.provenance() for run in self.runs.values() if run is not None],
        }

    def _ipython_display_(self) -> None:
        """In a Jupyter kernel: the grid as a widget with rating stars and Pick under every
        thumbnail, the static grid its fallback (`_rating_grid`); elsewhere (or over
        LIVE_GRID_CELLS cells) IPython falls back to `_repr_mimebundle_`."""
        from ._rating_grid import display_grid

        display_grid(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return (
            {"text/html": display.output(self.html()), "text/plain": self.text()},
            {display.PROVENANCE_MIME: self.provenance()},
        )

    def text(self) -> str:
        """The plain-text listing used where HTML cannot be shown."""
        lines = [self.status_line()]
        for key, run in self.runs.items():
            label = cell_label(self.axes, key)
            if run is None:
                lines.append(f"{label}: {self.row(key).state}")
            elif run.ok:
                lines += [
                    f"{label}: " + ("cached " if run.cached else "") + str(image.path)
                    for image in run.images
                ]
            else:
                lines.append(f"{label}: {run.status}: {run.error}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        done = sum(1 for run in self.runs.values() if run is not None and run.ok)
        return (
            f"<SweepRun {self.plan.shape()}: {done}/{len(self.runs)} cells done, "
            f"{format_usd(self.spent)} spent>"
        )
