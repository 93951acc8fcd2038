"""What each `nanobanana` command does, given its parsed options (see `_cli`).

The commands compose the same pieces as the magic: the cell options become a
`CellCommand` (`command_from_args`), stored images are carried forward the same way,
requests and sweep plans are built and checked before anything is sent, and one
`Engine` runs them. Results go to stdout (plain text, or JSON with `--json`); progress
and notes go to stderr.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from . import _display as display
from ._cell_options import CellCommand, command_from_args
from ._cli_progress import progress_for
from ._defaults import DEFAULT_CONCURRENCY
from ._engine import Engine
from ._pricing import format_usd
from ._progress import task_label
from ._request import ImageRequest, default_model
from ._run import Run
from ._runner import run_batch as run_with_view
from ._settings import Secret
from ._store import Store
from ._sync import run_sync
from ._wording import plural


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def emit(args, data, text: str) -> None:
    """The result: JSON with --json, else the text."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    elif text:
        print(text)


def store_of(args) -> Store:
    return Store(getattr(args, "out", None) or None)


@contextlib.contextmanager
def engine_for(args, *, concurrency: int | None = None) -> Iterator[Engine]:
    """The engine these options ask for; `--sim` starts the built-in simulator for the
    length of the command (its images are labelled simulated, nothing is paid)."""
    simulator = None
    base_url, api_key = args.base_url, None
    if args.sim:
        from .simulator import Simulator

        simulator = Simulator().start()
        base_url, api_key = simulator.base_url, Secret(simulator.api_key)
        note(f"Using the built-in simulator at {base_url}: images are SIMULATED, nothing is paid.")
    try:
        yield Engine(
            store=store_of(args),
            api_key=api_key,
            base_url=base_url,
            concurrency=concurrency or DEFAULT_CONCURRENCY,
            fanout=args.fanout,
        )
    finally:
        if simulator is not None:
            simulator.stop()


def run_json(run) -> dict:
    manifest = run.to_manifest()
    manifest["cached"] = run.cached
    manifest["paths"] = [str(path) for path in run.paths]
    return manifest


def run_lines(run) -> str:
    if not run.ok:
        return f"run {run.run_id} {run.status}: {run.error}"
    origin = f"from the cache (run {run.run_id})" if run.cached else f"run {run.run_id}"
    return "\n".join([f"{plural(len(run.images), 'image')}, {origin}:", *map(str, run.paths)])


def run_batch(engine: Engine, requests, labels, *, cache: bool = True):
    """Run the requests with live progress on stderr; the Runs, in order."""
    with progress_for(labels) as view:
        runs = run_sync(
            run_with_view(lambda on: engine.run(requests, listener=on, cache=cache), view)
        )
    spent = sum(run.spent for run in runs)
    if spent:
        note(
            f"{format_usd(spent)} at ToAPIs prices"
            + (" (simulated: nothing paid)." if engine.simulated else " spent.")
        )
    return runs


def exit_status(runs) -> int:
    return 0 if all(run is not None and run.ok for run in runs) else 1


def write_page(store: Store, name: str, title: str, body: str) -> Path:
    """A self-contained HTML page (thumbnails inlined) in the output folder's pages/."""
    folder = store.root / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"{name}.html"
    page.write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{display.esc(title)}</title>"
        "<meta name='color-scheme' content='light dark'></head>"
        f"<body style='font-family:system-ui,sans-serif;margin:24px'>{body}</body></html>",
        encoding="utf-8",
    )
    return page


# -- generate and sweep ------------------------------------------------------------------------
def _cell_command(args) -> CellCommand:
    return command_from_args(args, {})


def _dry_run(args, engine: Engine, requests, cache: bool) -> int:
    from ._plan import plan_batch

    plan = plan_batch(engine, requests, cache=cache)
    payloads = plan.payloads()
    emit(
        args,
        {"dry_run": True, "estimate": plan.estimate, "payloads": payloads},
        plan.dry_run_text() + "\n" + json.dumps(payloads, indent=2, ensure_ascii=False),
    )
    return 0


def generate(args) -> int:
    from ._carry_forward import carry_forward, tag_results

    cmd = _cell_command(args)
    store = store_of(args)
    defaults = carry_forward(store, cmd, {"model": default_model()})
    request = ImageRequest.create(args.prompt, **{**defaults, **cmd.request_options()})
    with engine_for(args, concurrency=cmd.concurrency) as engine:
        if cmd.dry_run:
            return _dry_run(args, engine, [request], cmd.cache)
        (run,) = run_batch(engine, [request], [request.summary()], cache=cmd.cache)
    tag_results(cmd, run)
    emit(args, run_json(run), run_lines(run))
    return exit_status([run])


def sweep(args) -> int:
    from ._carry_forward import carry_forward
    from ._defaults import DEFAULT_BUDGET
    from ._sweep_plan import plan_sweep, sweep_common

    prompt, cmd = _sweep_command(args)
    store = store_of(args)
    defaults = carry_forward(store, cmd, {"model": default_model()})
    budget = cmd.budget if cmd.budget is not None else DEFAULT_BUDGET
    with engine_for(args, concurrency=cmd.concurrency) as engine:
        common = sweep_common(defaults, cmd.request_options(), cmd.sweep)
        plan = plan_sweep(prompt, cmd.sweep, engine=engine, zip=cmd.zip, cache=cmd.cache, **common)
        if cmd.dry_run:
            description = plan.describe(budget) + " Nothing was sent."
            emit(
                args,
                {
                    "dry_run": True,
                    "description": description,
                    "estimate": plan.estimate,
                    "payloads": plan.payloads(),
                },
                description + "\n" + json.dumps(plan.payloads(), indent=2, ensure_ascii=False),
            )
            return 0
        return _run_sweep(args, store, engine, plan, cmd, budget)


def _run_sweep(args, store: Store, engine: Engine, plan, cmd: CellCommand, budget) -> int:
    """Run a planned sweep (`sweep`, `rerun SWEEP`) after the budget check: progress on
    stderr, the grid as an HTML page, the cells on stdout."""
    from ._carry_forward import tag_results
    from ._sweep_plan import check_budget
    from ._sweep_result import SweepRun

    check_budget(plan, budget, cmd.yes)
    note(plan.describe(budget))
    result = SweepRun(plan)
    with progress_for(plan.labels, sweep=result) as view:
        runs = run_sync(
            run_with_view(lambda on: engine.run(plan.requests, listener=on, cache=cmd.cache), view)
        )
    tag_results(cmd, result)
    page = write_page(store, time.strftime("sweep-%Y%m%d-%H%M%S"), plan.shape(), result.html())
    cells = [
        {"values": dict(zip(plan.axes, key)), **run_json(run)}
        for key, run in result
        if run is not None
    ]
    text = "\n".join(
        f"{', '.join(map(str, key))}: " + (run_lines(run).replace("\n", "\n  "))
        for key, run in result
        if run is not None
    )
    emit(
        args,
        {
            "description": plan.describe(budget),
            "sweep_id": result.sweep_id,
            "page": str(page),
            "cells": cells,
        },
        f"{text}\nGrid page: {page}\nSweep: {result.sweep_id}",
    )
    return exit_status(runs)


def _sweep_command(args) -> tuple[str, CellCommand]:
    """The prompt and options of a sweep: from the command line, or a TOML plan file
    (whose options `_cli` has parsed already, and whose axes are lists)."""
    from ._errors import ValidationError

    cmd = _cell_command(args)
    plan = getattr(args, "plan", None)
    if plan is None:
        if not cmd.sweep:
            raise ValidationError(
                "A sweep needs at least one --sweep KEY=V1,V2 (or a plan file ending in .toml)."
            )
        return args.prompt_or_plan, cmd
    prompt, axes = plan
    for key, values in axes.items():
        if key in cmd.sweep:
            raise ValidationError(f"--sweep {key} is in the plan too; give it in one place.")
        cmd.sweep[key] = values
    return prompt, cmd


# -- stored runs -------------------------------------------------------------------------------
def _load(store: Store, text: str):
    return store.load_run(store.resolve_run_id(text))


def rerun(args) -> int:
    from ._defaults import DEFAULT_BUDGET
    from ._sweep_record import is_sweep_id, plan_of, read_sweep_record

    store = store_of(args)
    found = store.resolve_run_id(args.run, sweeps=True)
    if is_sweep_id(found):  # every cell again: from the cache, or within the budget
        record = read_sweep_record(store, found)
        cmd = CellCommand(cache=not args.no_cache, yes=args.yes, budget=args.budget)
        budget = cmd.budget if cmd.budget is not None else DEFAULT_BUDGET
        with engine_for(args) as engine:
            plan = plan_of(record, engine, cache=cmd.cache)
            return _run_sweep(args, store, engine, plan, cmd, budget)
    run = store.load_run(found)
    run.request.validate()
    with engine_for(args) as engine:
        (new,) = run_batch(engine, [run.request], [run.request.summary()], cache=not args.no_cache)
    emit(args, run_json(new), run_lines(new))
    return exit_status([new])


def resume(args) -> int:
    with engine_for(args) as engine:
        pending = engine.pending_tasks()
        if not pending:
            note(f"Nothing to resume: every task sent to {engine.base_url} was collected.")
            emit(args, {"runs": []}, "")
            return 0
        tasks = engine.resumable()  # the rows name each run's prompt and parameters
        with progress_for([task_label(run.request) for run, _ in tasks]) as view:
            runs = run_sync(run_with_view(lambda on: engine.resume(listener=on, tasks=tasks), view))
    emit(args, {"runs": [run_json(run) for run in runs]}, "\n".join(map(run_lines, runs)))
    return exit_status(runs)


def history(args) -> int:
    from ._explore_commands import recent_history, run_filter

    history = recent_history(store_of(args), args.count, run_filter(args))
    data = [
        _sweep_json(entry) if hasattr(entry, "sweep_id") else _history_run_json(entry, history)
        for entry in history
    ]
    emit(args, data, repr(history))
    return 0


def _history_run_json(run, history) -> dict:
    return {
        "run_id": run.run_id,
        "created_at": run.created_at,
        "status": run.status,
        "request": run.request.to_dict(),
        "images": len(run.images),
        "cost": run.cost,
        "simulated": run.simulated,
        "reused": history.reuse[run.run_id],
    }


def _sweep_json(sweep) -> dict:
    return {
        "sweep_id": sweep.sweep_id,
        "created_at": sweep.created_at,
        "status": sweep.status(),
        "template": sweep.template,
        "sweep": sweep.description,
        "cells": sweep.cells,
        "cached": sweep.cached,
        "images": sweep.images,
        "cost": sweep.cost,
        "simulated": sweep.simulated,
    }


def show(args) -> int:
    """One HTML page of the stored runs and sweeps named (a sweep as its labelled grid)."""
    from ._sweep_record import load_entry

    store = store_of(args)
    shown = [load_entry(store, text) for text in args.runs]
    ids = [item.run_id if isinstance(item, Run) else str(item.sweep_id) for item in shown]
    body = "".join(
        display.runs_html([item]) if isinstance(item, Run) else item.html() for item in shown
    )
    name = ids[0] if len(ids) == 1 else time.strftime("runs-%Y%m%d-%H%M%S")
    page = write_page(store, name, ", ".join(ids), body)
    emit(args, {"page": str(page), "runs": ids}, str(page))
    return 0


def export(args) -> int:
    from ._export import export_request

    store = store_of(args)
    text = export_request(_load(store, args.run), store, args.as_kind)
    emit(args, {"as": args.as_kind, "text": text}, text)
    return 0


def cost(args) -> int:
    store = store_of(args)
    paid, simulated = store.folder_cost()
    emit(
        args,
        {"output_folder": str(store.root), "paid": paid, "simulated": simulated},
        f"The output folder {store.root} holds {format_usd(paid)} of paid images"
        + (
            f" and {format_usd(simulated)} of simulated ones (which cost nothing)"
            if simulated
            else ""
        )
        + ".",
    )
    return 0
