"""Parameter sweeps: one prompt over several values of several parameters, side by side.

An axis is a request parameter (`size`, `n`, `resolution`, `model`, `ref`) or a `{name}`
used in the prompt. `plan_sweep` expands the axes (cartesian product, or position by
position with `zip=True`) into one validated request per grid cell, finds the cells the
cache already holds and prices the rest; it sends nothing. `asweep`/`sweep` refuse a
plan above the budget unless `yes=True`, then run every cell through the engine at once
(bounded, adaptive concurrency; one failed cell does not stop the others).

`SweepRun` is the labelled result: one Run per cell, keyed by the cell's axis values. It
renders as labelled grids (one axis: a row; two: rows × columns; more: one grid per
combination of the remaining axes), which fill in live as `apply(event)` is fed the
engine's events; it exports `records()`, `to_dataframe()` and `contact_sheet(path)`.

A `ref` value is one reference set: files (or URLs) joined by `+`, e.g.
`ref=cat.png+hat.png,dog.png`; `none` is the empty set (no references).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import _display as display
from ._api import make_engine
from ._defaults import DEFAULT_BUDGET
from ._engine import FINAL_EVENTS, Engine, Event, Listener
from ._errors import ValidationError
from ._limits import check_prices, check_setting
from ._pricing import format_usd, price_per_image
from ._request import ImageRequest, default_model, is_url
from ._run import Run, stored_image_address
from ._sync import blocking
from ._template import interpolate, placeholders

_zip = zip  # `zip` is also the name of a sweep option

PARAMETER_AXES = ("size", "n", "resolution", "model", "ref")
#: where a parameter axis goes in ImageRequest.create
_REQUEST_FIELD = {
    "size": "size",
    "n": "n",
    "resolution": "resolution",
    "model": "model",
    "ref": "reference_images",
}
MAX_CELLS = 1000
NO_REFS = "none"


class BudgetExceededError(ValidationError):
    """The estimated cost of a sweep is above its budget; nothing was sent."""

    title = "Over budget"


# -- axes --------------------------------------------------------------------------------------------
def parse_axis_values(key: str, values: Any) -> list:
    """One axis as a list: a Python list/tuple, or a comma-separated string.

    `n` values become integers; each `ref` value becomes a tuple of references (a string
    splits on `+`; `none` is the empty set).
    """
    if isinstance(values, str):
        items: list = [v.strip() for v in values.split(",") if v.strip()]
    elif isinstance(values, Iterable) and not isinstance(values, (bytes, Mapping)):
        items = list(values)
    else:
        items = [values]
    if not items:
        raise ValidationError(
            f"The sweep axis {key!r} has no values; give at least one, e.g. {key}=a,b."
        )
    if key == "n":
        items = [_whole_number(v) for v in items]
    elif key == "ref":
        items = [_reference_set(v) for v in items]
    seen = Counter(_label(key, v) if key == "ref" else repr(v) for v in items)
    repeated = [value for value, count in seen.items() if count > 1]
    if repeated:
        raise ValidationError(
            f"The sweep axis {key!r} lists {repeated[0]} twice; list each value once."
        )
    return items


def _whole_number(value) -> int:
    try:
        number = int(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValidationError(f"The sweep axis 'n' needs whole numbers like n=1,2, not {value!r}.")
    return number


def _reference_set(value) -> tuple:
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value).strip()
        if text.lower() == NO_REFS:
            return ()
        parts = [p.strip() for p in text.split("+")] if not is_url(text) else [text]
        if not all(parts):
            raise ValidationError(
                f"The reference set {text!r} has an empty part; join files with + like a.png+b.png."
            )
        return tuple(parts)
    if isinstance(value, Iterable):
        return tuple(os.fspath(p) if isinstance(p, os.PathLike) else p for p in value)
    raise ValidationError(
        f"A ref value must be a file, a URL, a+b for a set, or none; not {value!r}."
    )


def _label(key: str, value) -> str:
    """How an axis value is shown in headers and records."""
    if key == "ref":
        if not value:
            return "no refs"
        return " + ".join(_reference_label(p) for p in map(str, value))
    return str(value)


def _reference_label(reference: str) -> str:
    """A file's name, a URL's last part, or `RUN#i` for a stored image (short id)."""
    if is_url(reference):
        return reference.rsplit("/", 1)[-1]
    address = stored_image_address(reference)
    if address is not None:
        return f"{address.run_id[-6:]}#{address.index}"
    return Path(reference).name


def _cell_label(axes: Iterable[str], key: tuple) -> str:
    return " · ".join(f"{name} = {_label(name, value)}" for name, value in _zip(axes, key))


def sweep_common(
    defaults: Mapping[str, Any], explicit: Mapping[str, Any], axes: Iterable[str]
) -> dict:
    """Request options shared by every cell: defaults, overridden by explicit options,
    minus the swept parameters. An explicit option that is also swept is an error."""
    swept = {_REQUEST_FIELD[key] for key in axes if key in _REQUEST_FIELD}
    for key in axes:
        field = _REQUEST_FIELD.get(key)
        if field is not None and explicit.get(field) not in (None, (), []):
            option = "--ref" if key == "ref" else f"--{key}"
            raise ValidationError(
                f"{key} is swept and also given as {option}; drop one of the two."
            )
    return {k: v for k, v in {**defaults, **explicit}.items() if k not in swept}


# -- the plan -----------------------------------------------------------------------------------------
@dataclasses.dataclass
class SweepPlan:
    """The cells of a sweep, what they cost, and which of them the cache already holds.

    `cells` is a list of (key, request) in grid order, a key being the tuple of the
    cell's axis values in the order of `axes`. Nothing has been sent.
    """

    axes: dict[str, list]
    cells: list[tuple[tuple, ImageRequest]]
    cached: set[tuple]
    prices: Mapping[str, float] | None = None
    template: str = ""
    zipped: bool = False
    engine: Engine | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def to_send(self) -> list[ImageRequest]:
        return [request for key, request in self.cells if key not in self.cached]

    @property
    def images(self) -> int:
        """Images that will be paid for (cached cells excluded)."""
        return sum(request.n for request in self.to_send)

    @property
    def estimate(self) -> float:
        """Estimated dollars for the cells that are not cached."""
        return sum(
            count * price_per_image(resolution, self.prices)
            for resolution, count in self._images_by_resolution().items()
        )

    def _images_by_resolution(self) -> dict[str, int]:
        counts: Counter = Counter()
        for request in self.to_send:
            counts[request.resolution] += request.n
        return dict(counts)

    def over_budget(self, budget: float | None) -> bool:
        return budget is not None and self.estimate > budget + 1e-9

    def shape(self) -> str:
        joined = " × " if not self.zipped else " paired with "
        return joined.join(f"{len(values)} {name}" for name, values in self.axes.items())

    def describe(self, budget: float | None = None) -> str:
        """One paragraph: cells, tasks, images, the estimate and its prices, the budget."""
        sending = self.to_send
        prices = ", ".join(
            f"{count} × {resolution} at {format_usd(price_per_image(resolution, self.prices))}"
            for resolution, count in sorted(self._images_by_resolution().items())
        )
        text = (
            f"Sweep of {self.shape()}: {len(self.cells)} cell(s), {len(sending)} task(s) "
            f"to send for {self.images} image(s), estimated {format_usd(self.estimate)}"
            + (f" ({prices})" if prices else "")
        )
        if self.cached:
            text += f"; {len(self.cached)} cell(s) come from the cache for free"
        if budget is not None:
            text += (
                f"; above the {format_usd(budget)} budget"
                if self.over_budget(budget)
                else f"; budget {format_usd(budget)}"
            )
        return text + "."

    def payloads(self) -> list[dict]:
        """The JSON bodies that would be sent (a local reference shown as its upload)."""
        assert self.engine is not None, "plans come from plan_sweep"
        return [self.engine.preview_payload(request) for request in self.to_send]

    def __repr__(self) -> str:
        import json

        return self.describe() + "\n" + json.dumps(self.payloads(), indent=2)

    def _repr_html_(self) -> str:
        import json

        return display.output(
            display.note(self.describe() + " Nothing was sent.")
            + display.code_block(json.dumps(self.payloads(), indent=2), css_class="banana-payload")
        )


def plan_sweep(
    template: str,
    axes: Mapping[str, Any],
    *,
    engine: Engine,
    zip: bool = False,
    namespace: Mapping[str, object] | None = None,
    cache: bool = True,
    prices: Mapping[str, float] | None = None,
    **common,
) -> SweepPlan:
    """Expand the axes into validated requests and find the cached cells. Sends nothing.

    `common` are ImageRequest.create options shared by every cell; `namespace` supplies
    the prompt's `{name}`s that are not swept. Every problem is one ValidationError
    sentence, raised before anything could be sent.
    """
    if not axes:
        raise ValidationError("A sweep needs at least one axis, e.g. size=1:1,16:9.")
    names = placeholders(template)
    normalised: dict[str, list] = {}
    for key, values in axes.items():
        if not isinstance(key, str) or (key not in PARAMETER_AXES and key not in names):
            raise ValidationError(
                f"Cannot sweep over {key!r}: use a parameter ({', '.join(PARAMETER_AXES)}) "
                f"or a {{name}} that appears in the prompt."
            )
        field = _REQUEST_FIELD.get(key)
        if field is not None and common.get(field) not in (None, (), []):
            raise ValidationError(
                f"{key} is swept and also given as {field}=...; drop one of the two."
            )
        normalised[key] = parse_axis_values(key, values)
    lists = list(normalised.values())
    if zip:
        if len({len(v) for v in lists}) > 1:
            sizes = ", ".join(f"{k} has {len(v)}" for k, v in normalised.items())
            raise ValidationError(
                f"--zip pairs values position by position, so every axis "
                f"needs the same number of values ({sizes})."
            )
        combos = list(_zip(*lists))
    else:
        combos = list(itertools.product(*lists))
    if len(combos) > MAX_CELLS:
        raise ValidationError(
            f"The sweep has {len(combos)} cells; keep it to {MAX_CELLS} "
            "or fewer by listing fewer values."
        )
    shared = {k: v for k, v in common.items() if v is not None}
    shared.setdefault("model", default_model())
    base = dict(namespace or {})
    cells = []
    for combo in combos:
        values = dict(_zip(normalised, combo))
        words = {k: (_label(k, v) if k == "ref" else v) for k, v in values.items()}
        prompt = interpolate(template, {**base, **words})
        params = dict(shared)
        params.update({_REQUEST_FIELD[k]: v for k, v in values.items() if k in _REQUEST_FIELD})
        cells.append((tuple(combo), ImageRequest.create(prompt, **params)))
    cached = {
        key
        for key, request in cells
        if cache and engine.store.cached_run(engine.cache_key(request)) is not None
    }
    return SweepPlan(
        normalised, cells, cached, prices, template=template, zipped=zip, engine=engine
    )


def check_budget(plan: SweepPlan, budget: float | None, yes: bool) -> None:
    """Refuse (BudgetExceededError, nothing sent) a plan above the budget unless `yes`."""
    if budget is not None:
        check_setting("budget", budget)
    if plan.over_budget(budget) and not yes:
        raise BudgetExceededError(
            f"{plan.describe()} That is above the {format_usd(budget)} budget: pass --yes "
            "(yes=True) to go ahead, or raise --budget."
        )


# -- the result ---------------------------------------------------------------------------------------
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
        self.status: dict[tuple, str] = {key: "waiting" for key, _ in plan.cells}
        self.progress: dict[tuple, int] = {key: 0 for key, _ in plan.cells}
        self._requests: dict[tuple, ImageRequest] = dict(plan.cells)
        #: the status name the server last gave each cell (shown while it runs)
        self.server_status: dict[tuple, str] = {}

    # -- access ---------------------------------------------------------------------------------
    def __getitem__(self, key) -> Run | None:
        if not isinstance(key, tuple):
            key = (key,)
        if key not in self.runs:
            key = self._key_from_labels(key)
        return self.runs[key]

    def _key_from_labels(self, labels: tuple) -> tuple:
        for key in self.runs:
            if tuple(_label(n, v) for n, v in _zip(self.axes, key)) == tuple(map(str, labels)):
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
    def apply(self, event: Event) -> None:
        """Record one engine event (its index is the cell's position in the plan)."""
        key = self.plan.cells[event.index][0]
        if event.kind in FINAL_EVENTS and event.run is not None:
            self.runs[key] = event.run
        if event.kind == "progress":
            self.status[key] = (
                "queued"
                if (event.status or "").lower() in ("queued", "pending", "submitted")
                else "running"
            )
            self.server_status[key] = str(event.status or self.status[key])
            self.progress[key] = max(self.progress[key], event.progress or 0)
        else:
            self.status[key] = event.kind
            if event.kind in ("completed", "cached"):
                self.progress[key] = 100

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
                columns[name]: _label(name, value) if name == "ref" else value
                for name, value in _zip(self.axes, key)
            }
            base.update(
                prompt=request.prompt,
                model=request.model,
                size=request.size,
                n=request.n,
                resolution=request.resolution,
                refs=_label("ref", request.reference_images) if request.reference_images else "",
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
                        "status": self.status[key],
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
            subheading=self._summary(),
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
            labels=[_cell_label(self.axes, key) for key in keys],
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
            ({name: _label(name, value) for name, value in _zip(self.axes, key)}, run)
            for key, run in self.runs.items()
        ]
        return summarize(cells, list(self.axes), zipped=self.plan.zipped)

    def _rated(self) -> bool:
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
                _label(names[0], key[0]) if len(names) == 1 else _cell_label(names, key)
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
            fixed = dict(_zip(rest, extra))
            keys = [
                [key_of({rows_axis: r, cols_axis: c, **fixed}) for c in self.axes[cols_axis]]
                for r in self.axes[rows_axis]
            ]
            pages.append(
                SweepPage(
                    _cell_label(rest, extra),
                    rows_axis,
                    [_label(rows_axis, r) for r in self.axes[rows_axis]],
                    cols_axis,
                    [_label(cols_axis, c) for c in self.axes[cols_axis]],
                    keys,
                )
            )
        return pages

    def _summary(self) -> str:
        counts = Counter(self.status.values())
        if not any(status in FINAL_EVENTS for status in self.status.values()) and all(
            run is None for run in self.runs.values()
        ):
            return self.plan.describe()
        done = counts["completed"] + counts["cached"]
        parts = [f"{done} of {len(self.runs)} cell(s) done"]
        if counts["cached"]:
            parts.append(f"{counts['cached']} from the cache")
        for status in ("failed", "cancelled", "running", "queued", "submitted", "waiting"):
            if counts[status]:
                parts.append(f"{counts[status]} {status}")
        return (
            f"Sweep of {self.plan.shape()}: "
            + ", ".join(parts)
            + f"; {format_usd(self.spent)} spent (estimate {format_usd(self.plan.estimate)})."
        )

    # -- HTML ------------------------------------------------------------------------------------------
    def html(self) -> str:
        """The labelled grid(s), with the current state of every cell."""
        simulated = any(run.simulated for run in self.runs.values() if run is not None)
        head = (
            f"<div class='banana-sweep-summary' style='{display.NOTE_STYLE}'>"
            f"{display.esc(self._summary())}{display.SIM_BADGE if simulated else ''}</div>"
        )
        tables = "".join(self._page_html(page) for page in self.pages())
        stats = self.summary().html() if self._rated() else ""
        return f"<div class='banana-sweep'>{head}{tables}{stats}</div>"

    def _repr_html_(self) -> str:
        return display.output(self.html())

    def provenance(self) -> dict:
        return {
            "sweep": {
                name: [_label(name, v) for v in values] for name, values in self.axes.items()
            },
            "zip": self.plan.zipped,
            "template": self.plan.template,
            "runs": [run.provenance() for run in self.runs.values() if run is not None],
        }

    def _repr_mimebundle_(self, include=None, exclude=None):
        return (
            {"text/html": display.output(self.html()), "text/plain": self.text()},
            {display.PROVENANCE_MIME: self.provenance()},
        )

    def text(self) -> str:
        """The plain-text listing used where HTML cannot be shown."""
        lines = [self._summary()]
        for key, run in self.runs.items():
            label = _cell_label(self.axes, key)
            if run is None:
                lines.append(f"{label}: {self.status[key]}")
            elif run.ok:
                lines += [
                    f"{label}: " + ("cached " if run.cached else "") + str(image.path)
                    for image in run.images
                ]
            else:
                lines.append(f"{label}: {run.status}: {run.error}")
        return "\n".join(lines)

    def _page_html(self, page: SweepPage) -> str:
        esc = display.esc
        th = (
            "style='padding:4px 8px;text-align:left;vertical-align:bottom;"
            "font:600 12px system-ui,sans-serif;color:#24292f;border-bottom:1px solid "
            "#d0d7de;position:sticky;top:0;z-index:1;background:var(--jp-layout-color0,#fff)'"
        )
        axis_th = (
            "style='padding:2px 8px;text-align:left;font:12px system-ui,sans-serif;"
            "color:#57606a;white-space:nowrap'"
        )
        row_th = (
            "style='padding:4px 8px;text-align:left;vertical-align:middle;"
            "font:600 12px system-ui,sans-serif;color:#24292f;border-right:1px solid "
            "#d0d7de;position:sticky;left:0;background:var(--jp-layout-color0,#fff)'"
        )
        td = "style='padding:4px;vertical-align:top;width:220px;min-width:160px'"
        caption = (
            f"<caption style='text-align:left;font:600 13px system-ui,sans-serif;"
            f"padding:6px 0 2px'>{esc(page.title)}</caption>"
            if page.title
            else ""
        )
        corner = (
            f"<th {axis_th}>{esc(page.row_axis)} ↓</th>"
            if page.row_axis
            else f"<th {axis_th}></th>"
        )
        axis_row = (
            f"<tr>{corner}<th class='banana-sweep-axis' {axis_th} "
            f"colspan='{len(page.col_labels)}'>{esc(page.col_axis)} →</th></tr>"
        )
        header = (
            f"<tr><th {th}></th>"
            + "".join(
                f"<th class='banana-sweep-col' {th}>{esc(label)}</th>" for label in page.col_labels
            )
            + "</tr>"
        )
        body = "".join(
            f"<tr><th class='banana-sweep-row' {row_th}>{esc(label)}</th>"
            + "".join(f"<td {td}>{self._cell_html(key)}</td>" for key in keys)
            + "</tr>"
            for label, keys in _zip(page.row_labels, page.keys)
        )
        # labels stay visible while a large grid scrolls inside its frame
        return (
            f"<div class='banana-sweep-frame' style='overflow:auto;max-height:85vh'>"
            f"<table class='banana-sweep-grid' style='border-collapse:collapse;"
            f"margin:6px 0'>{caption}{axis_row}{header}{body}</table></div>"
        )

    def _cell_html(self, key: tuple) -> str:
        run = self.runs.get(key)
        if run is None:
            status = self.server_status.get(key) or self.status.get(key, "waiting")
            pct = self.progress.get(key, 0)
            return (
                f"<div class='banana-sweep-pending' style='{display.NOTE_STYLE}'>"
                f"{display.esc(status)} {pct}%<div style='background:#eaeef2;"
                f"border-radius:3px;height:6px;margin-top:3px'><div style='background:"
                f"#0969da;height:6px;border-radius:3px;width:{pct}%'></div></div></div>"
            )
        if not run.ok:
            return display.error_box(run.error or f"status {run.status}", label=run.status)
        cards = "".join(display.image_card(image, run) for image in run.images)
        note = display.note("from the cache, $0 spent") if run.cached else ""
        return cards + note

    def __repr__(self) -> str:
        done = sum(1 for run in self.runs.values() if run is not None and run.ok)
        return (
            f"<SweepRun {self.plan.shape()}: {done}/{len(self.runs)} cells done, "
            f"{format_usd(self.spent)} spent>"
        )


# -- running ---------------------------------------------------------------------------------------------
async def asweep(
    prompt: str,
    axes: Mapping[str, Any],
    *,
    zip: bool = False,
    concurrency: int | None = None,
    budget: float | None = DEFAULT_BUDGET,
    yes: bool = False,
    dry_run: bool = False,
    cache: bool = True,
    output_dir=None,
    api_key=None,
    base_url=None,
    namespace: Mapping[str, object] | None = None,
    listener: Listener | None = None,
    prices: Mapping[str, float] | None = None,
    engine: Engine | None = None,
    **common,
) -> SweepRun | SweepPlan:
    """Run `prompt` over every cell of `axes`; return the SweepRun when all are done.

    `axes` maps a parameter (size, n, resolution, model, ref) or a `{name}` of the prompt
    to its values (a list, or "a,b,c"). `zip=True` pairs values by position instead of
    taking every combination. `common` are request options shared by every cell
    (size=, n=, resolution=, model=, reference_images=, variant=, ...).

    The estimate (price table `prices`, default today's) is checked against `budget`
    dollars (None: no limit) before anything is sent: above it, BudgetExceededError,
    unless `yes=True`. `dry_run=True` returns the SweepPlan (cells, estimate, payloads)
    and sends nothing. At most `concurrency` tasks are in flight (default 8); the bound
    halves on a rate limit and grows back. A failed cell keeps its error in its Run.
    """
    check_prices(prices)
    if concurrency is not None:
        check_setting("concurrency", concurrency)
    if budget is not None:
        check_setting("budget", budget)
    if engine is None:
        engine = make_engine(
            output_dir=output_dir,
            api_key=api_key,
            base_url=base_url,
            prices=dict(prices) if prices else None,
            **({"concurrency": concurrency} if concurrency is not None else {}),
        )
    elif concurrency is not None:
        engine.concurrency = concurrency
    if "ref" in axes:  # stored images given as RUN#i or run.images[i]
        from ._carry_forward import resolve_ref_axis

        axes = {**axes, "ref": resolve_ref_axis(engine.store, axes["ref"])}
    plan = plan_sweep(
        prompt,
        axes,
        engine=engine,
        zip=zip,
        namespace=namespace,
        cache=cache,
        prices=prices or engine.prices,
        **common,
    )
    if dry_run:
        return plan
    check_budget(plan, budget, yes)
    result = SweepRun(plan)

    def on_event(event: Event) -> None:
        result.apply(event)
        if listener is not None:
            listener(event)

    await engine.run([request for _, request in plan.cells], listener=on_event, cache=cache)
    return result


sweep = blocking(asweep)
