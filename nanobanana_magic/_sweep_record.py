"""A sweep on disk: its record, and the labelled grid shown again from it.

A sweep is recorded as one file, `sweeps/<sweep id>.json` in the output folder, written
atomically when the sweep ends (or stops): its prompt template, its axes and their
values, and per cell the axis values, the request, the run id holding its images and
whether the cache served it (nothing sent) or it was sent. A `sweep` journal line names
it, so the folder's index (`_index`) lists it in history; the file stays the source of
truth (deleting the index rebuilds it from the `sweeps/` folder).

Everything read back is untrusted: the sweep id must have the form `new_sweep_id` makes,
the file must lie inside `sweeps/` once links are followed, every run id must have the
store's form (runs are then loaded by `Store.load_run`, which keeps their files inside
their folders), and the shape of every field is checked. A record that fails any check
is unreadable: `load_sweep` says so in one sentence and history warns once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import BananaError, StorageError, ValidationError, redact_values
from ._run import Run, _request_from
from ._store import RECORD_PROBLEMS, RUN_ID, Store, unreadable

if TYPE_CHECKING:
    from ._engine import Engine
    from ._request import ImageRequest
    from ._sweep_plan import SweepPlan
    from ._sweep_result import SweepRun

log = logging.getLogger("nanobanana_magic")

SWEEPS = "sweeps"
#: sweep ids as `new_sweep_id` makes them; anything else read from the folder is refused
SWEEP_ID = re.compile(r"^sweep-\d{8}-\d{6}-[0-9a-f]{6}$")
_MAX_RECORD_BYTES = 32 * 1024 * 1024
_MAX_CELLS = 1000  # as `_sweep_plan.MAX_CELLS`; a record claiming more is not ours


def is_sweep_id(value: object) -> bool:
    return isinstance(value, str) and SWEEP_ID.match(value) is not None


def new_sweep_id(started: float) -> str:
    return time.strftime("sweep-%Y%m%d-%H%M%S-", time.localtime(started)) + secrets.token_hex(3)


class UnreadableSweepError(ValidationError):
    """A sweep record is not valid JSON of the expected shape, lies outside the folder's
    `sweeps/`, or names runs by ids of another form."""


@dataclasses.dataclass(frozen=True)
class CellRecord:
    """One cell of a recorded sweep: its axis values (in axis order), its request, the run
    holding its images (None: never sent) and whether the cache served it."""

    key: tuple
    request: ImageRequest
    run_id: str | None
    cached: bool


@dataclasses.dataclass(frozen=True)
class SweepRecord:
    sweep_id: str
    created_at: float
    template: str
    axes: dict[str, list]
    zipped: bool
    cells: list[CellRecord]
    prices: dict[str, float] | None = None

    def shape(self) -> str:
        """'2×3' (rows × columns ...) or '3 paired' for a zipped sweep."""
        counts = [str(len(values)) for values in self.axes.values()]
        return f"{counts[0]} paired" if self.zipped else "×".join(counts)

    def axes_text(self) -> str:
        return (", " if self.zipped else " × ").join(self.axes)

    def describe(self) -> str:
        """e.g. 'sweep 2×3: size × resolution'."""
        return f"sweep {self.shape()}: {self.axes_text()}"


# -- writing -------------------------------------------------------------------------------------
def _value_json(axis: str, value: Any) -> Any:
    """An axis value as it is recorded: n as a number, a reference set as a list of
    texts, anything else as its label (what the grid shows)."""
    from ._sweep_plan import axis_label

    if axis == "n" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if axis == "ref":
        return [str(part) for part in value]
    return axis_label(axis, value)


def record_of(result: SweepRun, sweep_id: str) -> dict[str, Any]:
    plan = result.plan
    axes = list(result.axes)
    cells = []
    for key, request in plan.cells:
        run = result.runs.get(key)
        cells.append(
            {
                "values": [_value_json(name, value) for name, value in zip(axes, key)],
                "request": request.to_dict(),
                "run_id": run.run_id if run is not None else result.run_ids.get(key),
                "cached": bool(run is not None and run.cached),
            }
        )
    return {
        "sweep_id": sweep_id,
        "created_at": result.created_at,
        "template": plan.template,
        "axes": {
            name: [_value_json(name, v) for v in values] for name, values in plan.axes.items()
        },
        "zipped": plan.zipped,
        "prices": dict(plan.prices) if plan.prices else None,
        "cells": cells,
    }


def save_sweep(store: Store, result: SweepRun) -> str:
    """Write (or rewrite) the record of `result`, then name it in the journal; returns
    the sweep id."""
    store.ensure()
    if result.sweep_id is None:  # a sweep the cache served whole, made before: the same one
        result.sweep_id = _recorded_already(store, result)
        if result.sweep_id is not None:
            return result.sweep_id
    sweep_id = result.sweep_id or new_sweep_id(result.created_at)
    folder = store.root / SWEEPS
    folder.mkdir(exist_ok=True)
    if folder.resolve() != store.root.resolve() / SWEEPS:
        raise StorageError(f"{folder} leads outside the output folder; nothing is written there.")
    text = json.dumps(redact_values(record_of(result, sweep_id)), ensure_ascii=False)
    store._write_atomic(folder / f"{sweep_id}.json", text)
    result.sweep_id = sweep_id
    store.journal("sweep", sweep_id=sweep_id)
    return sweep_id


def _recorded_already(store: Store, result: SweepRun) -> str | None:
    """The id of a recorded sweep with the same template, axes and cell runs, when the
    cache served every cell of `result` (run again, e.g. by Run All: history keeps one
    entry, as it does for a run served from the cache)."""
    runs = [result.runs.get(key) for key in result.plan.keys]
    if not runs or not all(run is not None and run.cached for run in runs):
        return None
    mine = _parse(json.loads(json.dumps(record_of(result, "sweep-0"))), "sweep-0")
    index = store.index()
    for sweep_id in index.sweeps_starting_with(mine.cells[0].run_id or ""):
        try:
            theirs = read_sweep_record(store, sweep_id)
        except ValidationError:
            continue
        if _signature(theirs) == _signature(mine):
            return sweep_id
    return None


def _signature(record: SweepRecord) -> tuple:
    cells = [(cell.key, cell.run_id) for cell in record.cells]
    return record.template, record.zipped, record.axes, cells


def record_sweep(result: SweepRun) -> None:
    """Record a sweep that ended or stopped in its engine's folder; a folder that cannot
    take it loses only the record (the cells' runs are stored already), with a warning."""
    engine = result.plan.engine
    if engine is None:
        return
    try:
        save_sweep(engine.store, result)
    except (OSError, BananaError) as exc:
        log.warning(
            "The sweep could not be recorded in %s (%s); its runs are stored.",
            engine.store.root,
            exc,
        )


# -- reading -------------------------------------------------------------------------------------
def record_path(root: Path, sweep_id: str) -> Path:
    return Path(root) / SWEEPS / f"{sweep_id}.json"


def read_sweep_record(store: Store, sweep_id: str) -> SweepRecord:
    """The record of `sweep_id`. ValidationError for an id of another form or an unknown
    one; UnreadableSweepError for a record that is corrupt, tampered or outside `sweeps/`."""
    if not is_sweep_id(sweep_id):
        raise ValidationError(
            f"{str(sweep_id)[:60]!r} is not a sweep id of the form this folder uses "
            f"(like sweep-20260101-120000-a1b2c3); `%banana history` lists the sweeps in "
            f"{str(store.root)!r}."
        )
    path = record_path(store.root, sweep_id)
    try:
        inside = path.resolve().is_relative_to(store.root.resolve() / SWEEPS)
        with open(path, "rb") as handle:
            data = handle.read(_MAX_RECORD_BYTES + 1)
    except OSError:
        raise ValidationError(
            f"Unknown sweep id {sweep_id!r}; `%banana history` lists the sweeps in "
            f"{str(store.root)!r}."
        ) from None
    try:
        if not inside:
            raise ValueError("it leads outside the folder's sweeps/")
        if len(data) > _MAX_RECORD_BYTES:
            raise ValueError("it is too large")
        return _parse(json.loads(data.decode("utf-8")), sweep_id)
    except RECORD_PROBLEMS as exc:
        raise unreadable(
            UnreadableSweepError,
            f"The record of sweep {sweep_id} ({path})",
            exc,
            "restore that file or delete it (its runs stay listed on their own).",
        ) from None


def _parse(data: object, sweep_id: str) -> SweepRecord:
    if not isinstance(data, dict):
        raise ValueError("it is not a JSON object")
    if data.get("sweep_id") != sweep_id:
        raise ValueError(f"it names sweep {str(data.get('sweep_id'))[:40]!r}")
    template, zipped, created = data.get("template"), data.get("zipped"), data.get("created_at")
    if not isinstance(template, str) or not isinstance(zipped, bool):
        raise ValueError("its template or zip flag has the wrong type")
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        raise ValueError("its created_at is not a number")
    axes = _axes(data.get("axes"))
    cells_data = data.get("cells")
    if not isinstance(cells_data, list) or not 0 < len(cells_data) <= _MAX_CELLS:
        raise ValueError("its cells are not a list of 1 to 1000 cells")
    cells, seen = [], set()
    for item in cells_data:
        cell = _cell(item, axes)
        if cell.key in seen:
            raise ValueError("it lists a cell twice")
        seen.add(cell.key)
        cells.append(cell)
    prices = data.get("prices")
    if prices is not None and not (
        isinstance(prices, dict)
        and all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in prices.items()
        )
    ):
        raise ValueError("its prices are not a table of numbers")
    return SweepRecord(sweep_id, float(created), template, axes, zipped, cells, prices)


def _axes(data: object) -> dict[str, list]:
    if not isinstance(data, dict) or not data:
        raise ValueError("its axes are not a table of names and values")
    axes: dict[str, list] = {}
    for name, values in data.items():
        if not isinstance(values, list) or not 0 < len(values) <= _MAX_CELLS:
            raise ValueError(f"its axis {str(name)[:40]!r} has no list of values")
        axes[name] = [_value(name, value) for value in values]
    return axes


def _value(axis: str, value: object) -> Any:
    """A recorded axis value back in the form the plan uses (checked)."""
    if axis == "n" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if axis == "ref" and isinstance(value, list) and all(isinstance(p, str) for p in value):
        return tuple(value)
    if axis not in ("n", "ref") and isinstance(value, str):
        return value
    raise ValueError(f"its axis {axis[:40]!r} has the value {str(value)[:40]!r}")


def _cell(item: object, axes: Mapping[str, list]) -> CellRecord:
    if not isinstance(item, dict):
        raise ValueError("a cell is not a JSON object")
    values = item.get("values")
    if not isinstance(values, list) or len(values) != len(axes):
        raise ValueError("a cell does not give one value per axis")
    key = tuple(_value(name, value) for name, value in zip(axes, values))
    if any(value not in axes[name] for name, value in zip(axes, key)):
        raise ValueError("a cell has a value its axis does not list")
    run_id, cached = item.get("run_id"), item.get("cached")
    if run_id is not None and (not isinstance(run_id, str) or not RUN_ID.match(run_id)):
        raise ValueError(f"a cell names the run {str(run_id)[:40]!r}")
    if not isinstance(cached, bool):
        raise ValueError("a cell's cached flag is not true or false")
    return CellRecord(key, _request_from(item.get("request")), run_id, cached)


# -- history's entry -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SweepEntry:
    """A recorded sweep as `%banana history` lists it (from the index: no file is read).
    `show` (or `load_sweep`) gives the whole sweep."""

    sweep_id: str
    created_at: float
    template: str
    description: str  # 'sweep 2×3: size × resolution'
    cells: int
    cached: int  # cells the cache served (nothing sent)
    images: int
    cost: float  # what its sent cells cost
    simulated: bool
    statuses: dict[str, int]  # cells per run status (cells never sent are not counted)
    best_rating: int | None = None
    picks: int = 0

    @classmethod
    def from_facts(cls, sweep_id: str, facts: Mapping[str, Any]) -> SweepEntry:
        return cls(sweep_id, **facts)

    def status(self) -> str:
        """'completed' when every cell completed, else the cells per status."""
        counts = dict(self.statuses)
        missing = self.cells - sum(counts.values())
        if missing:
            counts["not run"] = missing
        if set(counts) == {"completed"}:
            return "completed"
        return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))

    def marks(self) -> str:
        parts = [f"★{self.best_rating}"] if self.best_rating else []
        if self.picks:
            parts.append(f"{self.picks} picked")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"<SweepEntry {self.sweep_id} {self.description}, {self.cells} cells>"


# -- showing again -------------------------------------------------------------------------------
def load_sweep(store: Store, sweep_id: str) -> SweepRun:
    """The recorded sweep as a `SweepRun` (the same grid, summary and records as when it
    ran), read from disk; nothing is sent. A cell whose run is gone or unreadable shows
    as not run; the folder's warning names unreadable runs."""
    from ._sweep_result import SweepRun

    record = read_sweep_record(store, sweep_id)
    result = SweepRun(plan_of(record))
    result.sweep_id, result.created_at = record.sweep_id, record.created_at
    for cell, row in zip(record.cells, result.progress.rows):
        run = _cell_run(store, cell)
        if cell.run_id is not None:
            result.run_ids[cell.key] = cell.run_id
        if run is None or run.status not in ("completed", "failed", "cancelled"):
            row.state = "submitted" if run is not None else "cancelled"  # pending: resumable
            continue
        run.cached, run.spent = cell.cached, 0.0 if cell.cached else run.cost
        row.state = "cached" if cell.cached else run.status
        row.progress = 100 if run.ok else row.progress
        row.run = run
        result.runs[cell.key] = run
    store.warn_unreadable()
    return result


def plan_of(
    record: SweepRecord,
    engine: Engine | None = None,
    *,
    cache: bool = True,
    prices: Mapping[str, float] | None = None,
) -> SweepPlan:
    """The plan of a recorded sweep. Without an engine: as it ran (its cached cells as
    the cache hits); with one: to run it again there, every request checked first (the
    record is untrusted) and the cache looked up afresh."""
    from ._plan import cache_hits
    from ._sweep_plan import SweepPlan, cell_label

    requests = [cell.request for cell in record.cells]
    if engine is None:
        hits = {i for i, cell in enumerate(record.cells) if cell.cached}
    else:
        for request in requests:
            request.validate()
        hits = cache_hits(engine, requests, cache)
    return SweepPlan(
        requests,
        [cell_label(record.axes, cell.key) for cell in record.cells],
        hits,
        prices if prices is not None else record.prices,
        engine,
        axes=record.axes,
        keys=[cell.key for cell in record.cells],
        template=record.template,
        zipped=record.zipped,
    )


def _cell_run(store: Store, cell: CellRecord) -> Run | None:
    if cell.run_id is None:
        return None
    try:
        return store.load_run(cell.run_id)
    except ValidationError:  # gone, or unreadable (the folder's warning names it)
        return None


def load_entry(store: Store, text: str) -> Run | SweepRun:
    """What `%banana show TEXT` shows: a stored run (marked as shown from disk) or a
    recorded sweep, by id, unique part, `last` or `-N` (history's entries)."""
    found = store.resolve_run_id(text, sweeps=True)
    if is_sweep_id(found):
        return load_sweep(store, found)
    run = store.load_run(found)
    run.cached = True  # shown from disk: nothing sent, nothing spent
    return run
