"""Parameter sweeps: one prompt over several values of several parameters, side by side.

An axis is a request parameter (`size`, `n`, `resolution`, `model`, `ref`) or a
`{name}` used in the prompt. `plan_sweep` expands the axes (cartesian product, or
position by position with `zip=True`) into one request per grid cell and prices the
cells that are not cached; `asweep` refuses a plan over budget unless `yes=True`, then
runs every cell through the engine at once. `SweepRun` is the labelled result.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from . import display
from ._sync import run_sync
from .api import default_model, make_engine
from .engine import Engine, Event, Listener
from .errors import ValidationError
from .pricing import estimate_cost, format_usd, price_per_image
from .request import ImageRequest
from .run import Run
from .template import interpolate, placeholders

_zip = zip  # `zip` is also the name of a sweep option

PARAMETER_AXES = ("size", "n", "resolution", "model", "ref")
DEFAULT_BUDGET = 1.00


class BudgetExceededError(ValidationError):
    title = "Over budget"


@dataclasses.dataclass
class SweepPlan:
    """The cells of a sweep, what they cost, and which of them are already cached."""

    axes: dict[str, list]
    cells: list[tuple[tuple, ImageRequest]]
    cached: set[tuple]
    prices: Mapping[str, float] | None = None

    @property
    def to_send(self) -> list[ImageRequest]:
        return [request for key, request in self.cells if key not in self.cached]

    @property
    def estimate(self) -> float:
        return estimate_cost(self.to_send, self.prices)

    def describe(self, budget: float | None = None) -> str:
        sending = self.to_send
        images = sum(r.n for r in sending)
        shape = " × ".join(f"{len(v)} {name}" for name, v in self.axes.items())
        text = (f"Sweep {shape}: {len(self.cells)} cells, {len(sending)} task(s) to send "
                f"for {images} image(s), estimated {format_usd(self.estimate)}")
        if self.cached:
            text += f"; {len(self.cached)} cell(s) come from the cache for free"
        if budget is not None:
            text += f" (budget {format_usd(budget)})"
        return text + "."

    def payloads(self) -> list[dict]:
        """The JSON bodies that would be sent (local references shown as file names)."""
        bodies = []
        for request in self.to_send:
            urls = [ref if "://" in ref else f"<upload of {Path(ref).name}>"
                    for ref in request.reference_images]
            bodies.append(request.to_payload(urls))
        return bodies


def parse_axis_values(key: str, values: Any) -> list:
    """Normalise one axis: a list, or a comma-separated string; refs split on '+'."""
    if isinstance(values, str):
        items: list = [v.strip() for v in values.split(",") if v.strip()]
    elif isinstance(values, Iterable):
        items = list(values)
    else:
        items = [values]
    if not items:
        raise ValidationError(f"The sweep axis {key!r} has no values; give at least one, "
                              f"e.g. {key}=a,b.")
    if key == "n":
        try:
            items = [int(v) if isinstance(v, str) else v for v in items]
        except ValueError:
            raise ValidationError(f"The sweep axis 'n' needs whole numbers, like n=1,2.") \
                from None
    if key == "ref":
        items = [tuple(p.strip() for p in v.split("+") if p.strip()) if isinstance(v, str)
                 else tuple(v) if isinstance(v, (list, tuple)) else (v,) for v in items]
    if len(set(map(repr, items))) != len(items):
        raise ValidationError(f"The sweep axis {key!r} repeats a value; list each value once.")
    return items


def _label(key: str, value) -> str:
    if key == "ref":
        return " + ".join(Path(str(p)).name for p in value) if value else "no refs"
    return str(value)


def plan_sweep(template: str, axes: Mapping[str, Any], *, engine: Engine, zip: bool = False,
               namespace: Mapping[str, object] | None = None, cache: bool = True,
               prices: Mapping[str, float] | None = None, **common) -> SweepPlan:
    """Expand axes into validated requests and find which are cached. Sends nothing."""
    if not axes:
        raise ValidationError("A sweep needs at least one axis, e.g. size=1:1,16:9.")
    names = placeholders(template)
    normalised: dict[str, list] = {}
    for key, values in axes.items():
        if key not in PARAMETER_AXES and key not in names:
            raise ValidationError(
                f"Cannot sweep over {key!r}: use a parameter ({', '.join(PARAMETER_AXES)}) "
                f"or a {{name}} that appears in the prompt.")
        normalised[key] = parse_axis_values(key, values)
    lists = list(normalised.values())
    if zip:
        if len({len(v) for v in lists}) > 1:
            sizes = ", ".join(f"{k}={len(v)}" for k, v in normalised.items())
            raise ValidationError(f"--zip pairs values position by position, so every axis "
                                  f"needs the same number of values (got {sizes}).")
        combos = list(_zip(*lists))
    else:
        combos = list(itertools.product(*lists))
    if len(combos) > 1000:
        raise ValidationError(f"The sweep has {len(combos)} cells; keep it under 1000 by "
                              "using fewer values.")
    base = dict(namespace or {})
    cells = []
    for combo in combos:
        values = dict(_zip(normalised, combo))
        prompt = interpolate(template, {**base, **{k: v for k, v in values.items()
                                                   if k not in PARAMETER_AXES}})
        params = dict(common)
        for key in ("size", "n", "resolution", "model"):
            if key in values:
                params[key] = values[key]
        if "ref" in values:
            params["reference_images"] = values["ref"]
        params.setdefault("model", default_model())
        cells.append((tuple(combo), ImageRequest.create(prompt, **params)))
    cached = {key for key, request in cells
              if cache and engine.store.cached_run(engine.cache_key(request)) is not None}
    return SweepPlan(normalised, cells, cached, prices)



class SweepRun:
    """The result of a sweep: one Run per grid cell, keyed by the axis values."""

    def __init__(self, plan: SweepPlan):
        self.plan = plan
        self.axes = plan.axes
        self.runs: dict[tuple, Run | None] = {key: None for key, _ in plan.cells}
        self.status: dict[tuple, str] = {key: "waiting" for key, _ in plan.cells}

    def __getitem__(self, key) -> Run | None:
        if not isinstance(key, tuple):
            key = (key,)
        return self.runs[key]

    def __iter__(self):
        return iter(self.runs.items())

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def cost(self) -> float:
        return sum(run.cost for run in self.runs.values() if run is not None)

    @property
    def spent(self) -> float:
        return sum(run.spent for run in self.runs.values() if run is not None)

    @property
    def failed(self) -> list[tuple]:
        return [key for key, run in self.runs.items() if run is not None and not run.ok]

    def apply(self, event: Event) -> None:
        key = self.plan.cells[event.index][0]
        if event.run is not None and event.kind in ("completed", "cached", "failed",
                                                     "cancelled"):
            self.runs[key] = event.run
        if event.kind == "progress":
            self.status[key] = f"{event.status} {event.progress or 0}%"
        else:
            self.status[key] = event.kind

    def records(self) -> list[dict]:
        """One dict per image: axis values, parameters, path, task id, elapsed, cost."""
        rows = []
        for key, run in self.runs.items():
            if run is None:
                continue
            axis_values = {name: _label(name, value) for name, value in _zip(self.axes, key)}
            base = {**axis_values, "run_id": run.run_id, "status": run.status,
                    "prompt": run.request.prompt, "model": run.request.model,
                    "size": run.request.size, "n": run.request.n,
                    "resolution": run.request.resolution, "task_id": run.task_id,
                    "elapsed": run.elapsed, "cached": run.cached, "error": run.error}
            if not run.images:
                rows.append({**base, "index": None, "path": None, "cost": 0.0})
            for image in run.images:
                rows.append({**base, "index": image.index, "path": str(image.path),
                             "cost": price_per_image(run.request.resolution)})
        return rows

    def to_dataframe(self):
        try:
            import pandas
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from None
        return pandas.DataFrame.from_records(self.records())

    # -- layout -----------------------------------------------------------------------------------
    def _pages(self):
        """(title, row axis values, column axis values, lookup) for each labelled grid."""
        names = list(self.axes)
        rows_axis = names[0]
        cols_axis = names[1] if len(names) > 1 else None
        rest = names[2:]
        for extra in itertools.product(*(self.axes[n] for n in rest)) if rest else [()]:
            title = " · ".join(f"{n} = {_label(n, v)}" for n, v in _zip(rest, extra))

            def lookup(r, c, extra=extra):
                key = (r,) + ((c,) if cols_axis else ()) + extra
                return key
            yield title, rows_axis, cols_axis, lookup

    def html(self) -> str:
        parts = [display.note(self.plan.describe())]
        for title, rows_axis, cols_axis, lookup in self._pages():
            parts.append(self._table_html(title, rows_axis, cols_axis, lookup))
        return "<div class='banana-sweep'>" + "".join(parts) + "</div>"

    _repr_html_ = html

    def provenance(self) -> dict:
        return {"sweep": {name: [_label(name, v) for v in values]
                          for name, values in self.axes.items()},
                "runs": [run.provenance() for run in self.runs.values() if run is not None]}

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = "\n".join(f"{key}: " + (display.run_text(run) if run else "not run")
                         for key, run in self.runs.items())
        return ({"text/html": self.html(), "text/plain": repr(self) + "\n" + text},
                {"application/vnd.nanobanana.provenance+json": self.provenance()})

    def _cell_html(self, key) -> str:
        run = self.runs.get(key)
        if run is None:
            return display.note(self.status.get(key, "waiting"))
        return "".join(display.run_cards(run)) + (display.note("cached") if run.cached else "")

    def _table_html(self, title, rows_axis, cols_axis, lookup) -> str:
        esc = display.esc
        th = "style='padding:4px 6px;text-align:left;font:600 12px system-ui;color:#24292f'"
        td = "style='padding:4px;vertical-align:top;width:220px;min-width:160px'"
        head = f"<caption style='text-align:left;font:600 13px system-ui'>{esc(title)}</caption>" \
            if title else ""
        if cols_axis is None:  # one axis: a single labelled row
            header = "".join(f"<th {th}>{esc(rows_axis)} = {esc(_label(rows_axis, v))}</th>"
                             for v in self.axes[rows_axis])
            cells = "".join(f"<td {td}>{self._cell_html(lookup(v, None))}</td>"
                            for v in self.axes[rows_axis])
            body = f"<tr>{header}</tr><tr>{cells}</tr>"
        else:
            header = f"<th {th}>{esc(rows_axis)} \\ {esc(cols_axis)}</th>" + "".join(
                f"<th {th}>{esc(_label(cols_axis, c))}</th>" for c in self.axes[cols_axis])
            body = f"<tr>{header}</tr>"
            for r in self.axes[rows_axis]:
                cells = "".join(f"<td {td}>{self._cell_html(lookup(r, c))}</td>"
                                for c in self.axes[cols_axis])
                body += f"<tr><th {th}>{esc(_label(rows_axis, r))}</th>{cells}</tr>"
        return (f"<table class='banana-sweep-grid' style='border-collapse:collapse;"
                f"margin:6px 0'>{head}{body}</table>")

    def contact_sheet(self, path: str | os.PathLike, *, cell: int = 256) -> Path:
        """Write one labelled PNG of the whole sweep (thumbnails with axis headers)."""
        from .contact_sheet import render_contact_sheet
        pages = []
        for title, rows_axis, cols_axis, lookup in self._pages():
            cols = self.axes[cols_axis] if cols_axis else [None]
            grid = [[self.runs.get(lookup(r, c)) for c in cols] for r in self.axes[rows_axis]]
            pages.append((title, [_label(rows_axis, r) for r in self.axes[rows_axis]],
                          [_label(cols_axis, c) for c in cols] if cols_axis else [""],
                          grid, rows_axis, cols_axis or ""))
        return render_contact_sheet(Path(path), pages, cell=cell)

    def __repr__(self) -> str:
        done = sum(1 for run in self.runs.values() if run is not None and run.ok)
        return (f"<SweepRun {' × '.join(f'{len(v)} {k}' for k, v in self.axes.items())}: "
                f"{done}/{len(self.runs)} cells done, {format_usd(self.spent)} spent>")


async def asweep(prompt: str, axes: Mapping[str, Any], *, zip: bool = False,
                 concurrency: int | None = None, budget: float | None = DEFAULT_BUDGET,
                 yes: bool = False, cache: bool = True, output_dir=None, api_key=None,
                 base_url=None, namespace: Mapping[str, object] | None = None,
                 listener: Listener | None = None, prices: Mapping[str, float] | None = None,
                 engine: Engine | None = None, **common) -> SweepRun:
    """Run a sweep; refuses a plan above `budget` dollars unless `yes=True`."""
    engine = engine or make_engine(output_dir=output_dir, api_key=api_key, base_url=base_url,
                                   prices=prices, **({"concurrency": concurrency}
                                                     if concurrency else {}))
    plan = plan_sweep(prompt, axes, engine=engine, zip=zip, namespace=namespace, cache=cache,
                      prices=prices, **common)
    check_budget(plan, budget, yes)
    result = SweepRun(plan)

    def on_event(event: Event) -> None:
        result.apply(event)
        if listener is not None:
            listener(event)

    await engine.run([request for _, request in plan.cells], listener=on_event, cache=cache)
    return result


def check_budget(plan: SweepPlan, budget: float | None, yes: bool) -> None:
    if budget is not None and not yes and plan.estimate > budget + 1e-9:
        raise BudgetExceededError(
            f"{plan.describe()} That is above the {format_usd(budget)} budget: pass --yes "
            "(yes=True) to go ahead, or raise --budget.")


def sweep(prompt: str, axes: Mapping[str, Any], **options) -> SweepRun:
    """Run a sweep and block until every cell is done. See `asweep`."""
    return run_sync(asweep(prompt, axes, **options))
