"""Running a parameter sweep: `asweep` / `sweep` plan the cells, check the budget and run
every cell through the engine at once (bounded, adaptive concurrency; one failed cell does
not stop the others). Planning is in `_sweep_plan`, the result in `_sweep_result`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._defaults import DEFAULT_BUDGET
from ._engine import Engine, Event, Listener
from ._generate import make_engine
from ._limits import check_prices, check_setting
from ._runner import BatchView, run_batch
from ._sweep_plan import SweepPlan, check_budget, plan_sweep
from ._sweep_result import SweepRun
from ._sync import blocking


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
    check_budget(plan, budget, yes, in_python=True)
    result = SweepRun(plan)
    view = _ListenerView(result, listener)
    await run_batch(lambda on: engine.run(plan.requests, listener=on, cache=cache), view)
    return result


class _ListenerView(BatchView):
    """The Python API's view of a sweep: the sweep records every event, then the caller's
    listener (if any) hears it."""

    def __init__(self, result: SweepRun, listener: Listener | None):
        super().__init__(sweep=result)
        self.listener = listener

    def changed(self, event: Event, row) -> None:
        if self.listener is not None:
            self.listener(event)


sweep = blocking(asweep)
