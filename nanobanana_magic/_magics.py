"""The `%%banana` cell magic and the `%banana` line magic.

Settings are traitlets on the `Banana` class, so `%config Banana.resolution = "2K"` and
IPython profiles work. The cell body is the prompt; options live on the magic line
(see `cell_options`). Runs go through the shared engine; while they run one display
updates in place, then the cell's value is the Run (or SweepRun), whose HTML is the grid.
"""

from __future__ import annotations

import collections
import os
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from traitlets import Bool, Dict, Enum, Float, Int, TraitError, Unicode, default, observe, validate

from . import _errors as errors
from ._carry_forward import carry_forward, tag_results
from ._cell_options import CellCommand, cell_arguments, parse_cell_line
from ._defaults import (
    DEFAULT_BUDGET,
    DEFAULT_CONCURRENCY,
    DEFAULT_DOWNLOAD_RETRIES,
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_N,
    DEFAULT_RESOLUTION,
    DEFAULT_SIZE,
    DEFAULT_TASK_TIMEOUT,
    DEFAULT_THUMBNAIL_SIZE,
)
from ._displayables import DryRun
from ._gateway import FANOUT_MODES
from ._limits import SETTING_RANGES, check_prices, check_setting
from ._live import in_kernel
from ._pricing import DEFAULT_PRICES
from ._request import KNOWN_MODELS, RESOLUTIONS, SIZES, ImageRequest, default_model
from ._runner import Interrupted
from ._settings import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    Secret,
    resolve_api_key,
    resolve_base_url,
)
from ._template import interpolate
from ._tracebacks import FullTracebacks

# The engine (asyncio, the HTTP client), the store and the sync bridge load on first use,
# so that `%load_ext` stays fast (benchmarks/load_ext.py).
if TYPE_CHECKING:
    import asyncio

    from ._engine import Engine
    from ._ratelimit import LimiterRegistry
    from ._store import Store


def caller_locals(shell: Any) -> dict[str, Any] | None:
    """The local variables of the code that called `run_cell_magic`, if it is a function.

    IPython hands cell magics the user namespace only; a `%%banana` run through
    `get_ipython().run_cell_magic(...)` inside a function should still see that
    function's variables. Top-level notebook code has no locals of its own (None).
    """
    user_ns = shell.user_ns
    frame: FrameType | None = sys._getframe(1)
    try:
        while frame is not None:
            if frame.f_code.co_name == "run_cell_magic" and frame.f_locals.get("self") is shell:
                caller = frame.f_back
                if caller is None or caller.f_locals is user_ns:
                    return None
                return dict(caller.f_locals)
            frame = frame.f_back
        return None
    finally:
        del frame


@magics_class
class Banana(Magics):
    """Nano Banana 2 image generation in notebooks. See `%banana help`."""

    model = Unicode(
        help="Default model id (nano-banana-2; the API reference id is "
        "gemini-3.1-flash-image-preview)."
    ).tag(config=True)
    size = Enum(SIZES, default_value=DEFAULT_SIZE, help="Default aspect ratio.").tag(config=True)
    resolution = Enum(
        RESOLUTIONS, default_value=DEFAULT_RESOLUTION, help="Default resolution tier."
    ).tag(config=True)
    n = Int(DEFAULT_N, help="Default images per task (1-4).").tag(config=True)
    output_dir = Unicode(
        "", help="Output folder (default: NANOBANANA_OUTPUT_DIR or ./banana_outputs)."
    ).tag(config=True)
    concurrency = Int(DEFAULT_CONCURRENCY, help="Tasks in flight at once.").tag(config=True)
    budget = Float(DEFAULT_BUDGET, help="Sweeps estimated above this many dollars need --yes.").tag(
        config=True
    )
    task_timeout = Float(
        DEFAULT_TASK_TIMEOUT,
        help="Seconds to wait for one task before giving up (it stays resumable).",
    ).tag(config=True)
    max_poll_interval = Float(
        DEFAULT_MAX_POLL_INTERVAL, help="Longest wait between two polls of a task, in seconds."
    ).tag(config=True)
    download_timeout = Float(
        DEFAULT_DOWNLOAD_TIMEOUT,
        help="Seconds one image's download may take, retries included (the task stays "
        "resumable when it fails).",
    ).tag(config=True)
    download_retries = Int(
        DEFAULT_DOWNLOAD_RETRIES, help="How often a failed image download is tried again."
    ).tag(config=True)
    thumbnail_size = Int(
        DEFAULT_THUMBNAIL_SIZE, help="Long side of display thumbnails in pixels."
    ).tag(config=True)
    prices = Dict(DEFAULT_PRICES, help="Dollars per image by resolution, for estimates.").tag(
        config=True
    )
    embed_parameters = Bool(
        True,
        help="Write each image's request parameters into its PNG (the manifest keeps "
        "them either way); turn off for images that will be shared.",
    ).tag(config=True)
    show_tracebacks = Bool(
        False, help="Show full tracebacks of nanobanana errors (for debugging)."
    ).tag(config=True)
    fanout = Enum(
        FANOUT_MODES,
        default_value="auto",
        help="Requests of n > 1 images as n tasks of one image: auto (once the gateway "
        "refused n > 1, remembered in the output folder), always, or never.",
    ).tag(config=True)

    @default("model")
    def _default_model(self):
        return default_model()  # NANOBANANA_MODEL as it is when the extension loads

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self._key: Secret | None = None
        self._base_url: str | None = None  # None: TOAPIS_BASE_URL or the default
        self._simulator: Any = None  # the embedded Simulator while `use sim` is on
        self.spent = 0.0  # dollars at ToAPIs prices, simulated runs included
        self.simulated_spent = 0.0  # the part of `spent` that was simulated (not paid)
        self._background: set[asyncio.Task] = set()
        self._limiters: LimiterRegistry | None = None  # shared by this magic's engines
        self._tracebacks = FullTracebacks(shell, (errors.BananaError, Interrupted))
        if self.show_tracebacks:  # set by a profile before the observer could see it
            self._tracebacks.enable()

    @observe("show_tracebacks")
    def _show_tracebacks_changed(self, change):
        if not hasattr(self, "_tracebacks"):  # a profile's value, applied in __init__
            return
        if change["new"]:
            self._tracebacks.enable()
        else:
            self._tracebacks.disable()

    @validate(*SETTING_RANGES)
    def _check_range(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        try:
            return check_setting(name, value, label=f"Banana.{name}")
        except errors.ValidationError as exc:
            raise TraitError(str(exc)) from None

    @validate("model")
    def _check_model(self, proposal):
        if proposal["value"] not in KNOWN_MODELS:
            raise TraitError(
                f"Banana.model {proposal['value']!r} is unknown; use one of "
                f"{', '.join(KNOWN_MODELS)}."
            )
        return proposal["value"]

    @validate("prices")
    def _check_prices(self, proposal):
        try:
            return check_prices(proposal["value"], "Banana.prices")
        except errors.ValidationError as exc:
            raise TraitError(str(exc)) from None

    # -- shared pieces ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return resolve_base_url(self._base_url)

    @property
    def simulator(self):
        """The built-in simulator `%banana use sim` started (None otherwise); its knobs
        change with `.configure(duration=3)`."""
        return self._simulator

    def store(self, out: str | None = None) -> Store:
        from ._store import Store

        return Store(
            out or self.output_dir or None,
            thumbnail_size=self.thumbnail_size,
            embed_parameters=self.embed_parameters,
        )

    @property
    def using_simulator(self) -> bool:
        return self._simulator is not None and self._base_url == self._simulator.base_url

    def api_key(self) -> Secret | None:
        """The simulator's key while `use sim` is on, else the login key, else TOAPIS_API_KEY."""
        if self.using_simulator:
            return Secret(self._simulator.api_key)
        if self._key is not None:
            return self._key
        return resolve_api_key() if os.environ.get(API_KEY_ENV) else None

    def engine(self, cmd: CellCommand | None = None) -> Engine:
        from ._engine_settings import engine_from_settings
        from ._ratelimit import LimiterRegistry

        if self._limiters is None:
            self._limiters = LimiterRegistry()
        overrides = {"concurrency": cmd.concurrency} if cmd and cmd.concurrency else {}
        return engine_from_settings(
            self,
            store=self.store(cmd.out if cmd else None),
            api_key=self.api_key(),
            base_url=self.base_url,
            limiters=self._limiters,
            **overrides,
        )

    def request_defaults(self) -> dict:
        return {"model": self.model, "size": self.size, "resolution": self.resolution, "n": self.n}

    # -- the magic ----------------------------------------------------------------------------------
    @cell_arguments
    @no_var_expand
    @needs_local_scope
    @line_cell_magic
    def banana(self, line, cell=None, local_ns=None):
        """Generate images with Nano Banana 2 (ToAPIs).

        As a cell magic the cell body is the prompt; `{name}` is replaced by the value of
        `name` in the notebook (`{{name}}` keeps literal braces). As a line magic it runs
        a command (`%banana use sim`, `%banana history`, ...): `%banana help` lists them.
        """
        assert self.shell is not None, "the magic is registered with a shell"
        if cell is not None and (local_ns is None or local_ns is self.shell.user_ns):
            local_ns = caller_locals(self.shell)
        namespace = collections.ChainMap(local_ns or {}, self.shell.user_ns)
        if cell is None:
            from ._line_commands import run_line

            return run_line(self, line, namespace)
        cmd = parse_cell_line(self.banana, line, namespace)
        defaults = carry_forward(self.store(cmd.out), cmd, self.request_defaults())
        if cmd.sweep:
            return self._sweep_cell(cell, cmd, namespace, defaults)
        request = ImageRequest.create(
            interpolate(cell.strip(), namespace),
            **{**defaults, **cmd.request_options()},
        )
        engine = self.engine(cmd)
        if cmd.dry_run:
            return self._dry_run(engine, [request], cmd)
        run = self.run_batch(engine, [request], cmd)
        if run is None:  # --background: the cell's display fills in
            return None
        if run[0].exception is not None:
            raise run[0].exception
        return self.bind(cmd, run[0])

    def bind(self, cmd: CellCommand, result):
        tag_results(cmd, result)
        if cmd.name:
            assert self.shell is not None, "the magic is registered with a shell"
            self.shell.user_ns[cmd.name] = result
        return result

    def note_spent(self, runs) -> None:
        runs = [run for run in runs if run is not None]
        self.spent += sum(run.spent for run in runs)
        self.simulated_spent += sum(run.spent for run in runs if run.simulated)

    def run_batch(self, engine: Engine, requests, cmd: CellCommand, sweep=None):
        """Run the requests with a live display (the sweep's grid for a sweep); returns
        the runs, or None with `--background` (the display fills in, `--name` is bound
        when it is done)."""
        from ._plan import plan_batch
        from ._runner import LiveView, kernel_loop, run_blocking, run_in_background

        def start(listener):
            return engine.run(requests, listener=listener, cache=cmd.cache)

        plan = sweep.plan if sweep is not None else plan_batch(engine, requests, cache=cmd.cache)
        if not cmd.background:
            return run_blocking(self, LiveView(self.shell, plan, sweep=sweep), start)
        kernel_loop()  # refuses before anything is shown

        def done(runs) -> None:
            self.bind(cmd, sweep if sweep is not None else runs[0])

        view = LiveView(self.shell, plan, sweep=sweep, show_result=True, background=True)
        run_in_background(self, view, start, done)
        return None

    def keep_background(self, task: asyncio.Task) -> None:
        """Hold a background cell's task until it is done (cancelled on unload)."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def disable_full_tracebacks(self) -> None:
        self._tracebacks.disable()

    def cancel_background(self) -> None:
        for task in list(self._background):
            task.cancel()

    def _dry_run(self, engine: Engine, requests, cmd: CellCommand):
        from ._plan import plan_batch

        plan = plan_batch(engine, requests, cache=cmd.cache, prices=self.prices)
        return DryRun(plan.dry_run_text(), plan.payloads())

    def _sweep_cell(self, template: str, cmd: CellCommand, namespace, defaults=None):
        from ._sweep_plan import plan_sweep, sweep_common

        engine = self.engine(cmd)
        defaults = defaults if defaults is not None else self.request_defaults()
        common = sweep_common(defaults, cmd.request_options(), cmd.sweep)
        plan = plan_sweep(
            template.strip(),
            cmd.sweep,
            engine=engine,
            zip=cmd.zip,
            namespace=namespace,
            cache=cmd.cache,
            prices=self.prices,
            **common,
        )
        return self.run_sweep(engine, plan, cmd)

    def run_sweep(self, engine: Engine, plan, cmd: CellCommand):
        """Run a planned sweep (a `--sweep` cell, `%banana rerun SWEEP`) with its live grid,
        after the budget check; the SweepRun (None with `--background`)."""
        from ._sweep_plan import check_budget
        from ._sweep_result import SweepRun

        budget = cmd.budget if cmd.budget is not None else self.budget
        if cmd.dry_run:
            return plan.dry_run(budget)
        check_budget(plan, budget, cmd.yes)
        result = SweepRun(plan)
        requests = [request for _, request in plan.cells]
        if not cmd.background and not in_kernel(self.shell):
            print(plan.describe(budget))  # in Jupyter the live grid opens with the plan
        if self.run_batch(engine, requests, cmd, sweep=result) is None:
            return None  # --background
        return self.bind(cmd, result)

    # -- where requests go (the line commands `login`, `logout`, `use`) ------------------------------
    @property
    def has_login_key(self) -> bool:
        return self._key is not None

    def log_in(self, key: Secret) -> None:
        self._key = key
        if self.using_simulator:
            self.stop_simulator()
            self._base_url = None

    def log_out(self) -> None:
        self._key = None

    def use_simulator(self, **knobs) -> None:
        """Send requests to the built-in simulator (started on first use) with these knobs."""
        from .simulator import Simulator

        if self._simulator is None:
            self._simulator = Simulator(**knobs).start()
        elif knobs:
            self._simulator.configure(**knobs)
        self._base_url = self._simulator.base_url

    def use_url(self, url: str | None) -> None:
        """Send requests to `url` (None: ToAPIs, or the real host TOAPIS_BASE_URL names)."""
        url = self._real_api_url() if url is None else resolve_base_url(url)
        self.stop_simulator()
        self._base_url = url

    @staticmethod
    def _real_api_url() -> str:
        """TOAPIS_BASE_URL when it names a real host (e.g. the China host), else toapis.com."""
        from urllib.parse import urlparse

        from ._settings import is_loopback

        configured = os.environ.get(BASE_URL_ENV)
        if configured and not is_loopback(urlparse(resolve_base_url(configured)).hostname):
            return resolve_base_url(configured)
        return DEFAULT_BASE_URL

    def stop_simulator(self):
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None
