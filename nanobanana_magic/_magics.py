"""The `%%banana` cell magic and the `%banana` line magic.

Settings are traitlets on the `Banana` class, so `%config Banana.resolution = "2K"` and
IPython profiles work. The cell body is the prompt; options live on the magic line
(see `cell_options`). Runs go through the shared engine; while they run one display
updates in place, then the cell's value is the Run (or SweepRun), whose HTML is the grid.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import time
from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from traitlets import Bool, Dict, Enum, Float, Int, TraitError, Unicode, default, observe, validate

from . import _display as display
from . import _errors as errors
from . import _explore_commands as explore
from ._carry_forward import carry_forward, tag_results
from ._cell_options import CellCommand, cell_arguments, parse_cell_line, resolve_value, split_line
from ._defaults import (
    DEFAULT_BUDGET,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_N,
    DEFAULT_RESOLUTION,
    DEFAULT_SIZE,
    DEFAULT_TASK_TIMEOUT,
    DEFAULT_THUMBNAIL_SIZE,
)
from ._limits import SETTING_RANGES, check_prices, check_setting
from ._live import LiveStatus, in_kernel
from ._outputs import DryRun, Exported, Help, Runs
from ._pricing import DEFAULT_PRICES, estimate_cost, format_usd
from ._request import KNOWN_MODELS, RESOLUTIONS, SIZES, ImageRequest, default_model
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

    from ._engine import Engine, Event
    from ._ratelimit import LimiterRegistry
    from ._store import Store

log = logging.getLogger("nanobanana_magic")

COMMANDS = (
    "login",
    "logout",
    "use",
    "config",
    "history",
    "show",
    "rerun",
    "resume",
    "cost",
    "export",
    "panel",
    "rate",
    "pick",
    "tag",
    "note",
    "from",
    "lineage",
    "summary",
    "compare",
    "gallery",
    "help",
)


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


def caller_locals(shell) -> dict | None:
    """The local variables of the code that called `run_cell_magic`, if it is a function.

    IPython hands cell magics the user namespace only; a `%%banana` run through
    `get_ipython().run_cell_magic(...)` inside a function should still see that
    function's variables. Top-level notebook code has no locals of its own (None).
    """
    frame = sys._getframe(1)
    try:
        while frame is not None:
            if frame.f_code.co_name == "run_cell_magic" and frame.f_locals.get("self") is shell:
                caller = frame.f_back
                if caller is None or caller.f_locals is shell.user_ns:
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
        DEFAULT_MAX_POLL_INTERVAL, help="Longest wait between two polls of a task (s)."
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

    @default("model")
    def _default_model(self):
        return default_model()  # NANOBANANA_MODEL as it is when the extension loads

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self._key: Secret | None = None
        self._base_url: str | None = None  # None: TOAPIS_BASE_URL or the default
        self._simulator = None
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

    @validate(*(name for name in SETTING_RANGES if name != "download_retries"))
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
        from ._engine import Engine
        from ._ratelimit import LimiterRegistry

        if self._limiters is None:
            self._limiters = LimiterRegistry()
        return Engine(
            store=self.store(cmd.out if cmd else None),
            api_key=self.api_key(),
            base_url=self.base_url,
            prices=self.prices,
            concurrency=(cmd.concurrency if cmd and cmd.concurrency else self.concurrency),
            task_timeout=self.task_timeout,
            max_poll_interval=self.max_poll_interval,
            limiters=self._limiters,
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
        `name` in the notebook (`{{name}}` keeps literal braces). As a line magic:
        `%banana login | logout | use toapis|sim|URL | config | history [N] | show RUN |
        rerun RUN [--no-cache] | resume | cost | export RUN [--as python|curl|json] |
        panel | rate RUN#i N | pick RUN#i | tag RUN WORD... | note RUN TEXT | help`.
        """
        if cell is not None and (local_ns is None or local_ns is self.shell.user_ns):
            local_ns = caller_locals(self.shell)
        namespace = collections.ChainMap(local_ns or {}, self.shell.user_ns)
        if cell is None:
            return self._command(line, namespace)
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
        if cmd.background:
            return self._in_background(engine, [request], cmd)
        (run,) = self._run_blocking(engine, [request], cmd, [request.summary()])
        if run.exception is not None:
            raise run.exception
        return self._bind(cmd, run)

    def _bind(self, cmd: CellCommand, result):
        tag_results(cmd, result)
        if cmd.name:
            self.shell.user_ns[cmd.name] = result
        return result

    def _note_spent(self, runs) -> None:
        runs = [run for run in runs if run is not None]
        self.spent += sum(run.spent for run in runs)
        self.simulated_spent += sum(run.spent for run in runs if run.simulated)

    def _run_blocking(
        self, engine: Engine, requests, cmd: CellCommand | None, labels, on_event=None, render=None
    ):
        from ._sync import run_sync

        board = display.ProgressBoard(labels)
        live = LiveStatus(self.shell, render or board.html).start()

        def listener(event: Event) -> None:
            board.apply(event)
            if on_event is not None:
                on_event(event)
            live.refresh(force=event.kind != "progress")

        try:
            runs = run_sync(
                live.ticking(
                    engine.run(requests, listener=listener, cache=cmd.cache if cmd else True)
                )
            )
        except KeyboardInterrupt:
            live.finish(
                f"Interrupted after {time.monotonic() - board.started:.1f} s: polling stopped."
            )
            raise Interrupted(
                "polling stopped. Submitted tasks stay in the journal; "
                "`%banana resume` collects them without paying again."
            ) from None
        except errors.BananaError as exc:  # e.g. no key: the board must not stay "waiting"
            live.finish(str(exc), html_text=display.error_box(str(exc)))
            raise
        self._note_spent(runs)
        live.finish(batch_summary(runs, board), provenance=runs_provenance(runs))
        return runs

    def _dry_run(self, engine: Engine, requests, cmd: CellCommand):
        cached = [
            r
            for r in requests
            if cmd.cache and engine.store.cached_run(engine.cache_key(r)) is not None
        ]
        payloads = [engine.preview_payload(r) for r in requests if r not in cached]
        estimate = estimate_cost([r for r in requests if r not in cached], self.prices)
        text = (
            f"Dry run: {len(payloads)} request(s) to POST {self.base_url}"
            f"/v1/images/generations, estimated {format_usd(estimate)}"
            + (f"; {len(cached)} cached (free)" if cached else "")
            + ". Nothing was sent."
        )
        return DryRun(text, payloads)

    def _in_background(self, engine: Engine, requests, cmd: CellCommand, sweep=None):
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError("--background needs a running Jupyter kernel; drop it here.") from None
        labels = [r.summary() for r in requests]
        board = display.ProgressBoard(labels)
        live = LiveStatus(self.shell, (sweep.html if sweep else board.html)).start()

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
            self._note_spent(runs)
            result = sweep if sweep is not None else runs[0]
            self._bind(cmd, result)
            live.finish(
                batch_summary(runs, board),
                provenance=runs_provenance(runs),
                html_text=sweep.html() if sweep is not None else display.runs_html(runs),
            )

        task = loop.create_task(work())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return None

    def _sweep_cell(self, template: str, cmd: CellCommand, namespace, defaults=None):
        from ._sweep import SweepRun, check_budget, plan_sweep, sweep_common

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
        budget = cmd.budget if cmd.budget is not None else self.budget
        if cmd.dry_run:
            return DryRun(plan.describe(budget) + " Nothing was sent.", plan.payloads())
        check_budget(plan, budget, cmd.yes)
        result = SweepRun(plan)
        requests = [request for _, request in plan.cells]
        if cmd.background:
            return self._in_background(engine, requests, cmd, sweep=result)
        labels = [", ".join(map(str, key)) for key, _ in plan.cells]
        if not in_kernel(self.shell):  # in Jupyter the live grid opens with the plan
            print(plan.describe(budget))
        self._run_blocking(engine, requests, cmd, labels, on_event=result.apply, render=result.html)
        return self._bind(cmd, result)

    # -- line commands --------------------------------------------------------------------------------
    def _command(self, line: str, namespace):
        words = split_line(line)
        if not words:
            return self._help()
        command, args = words[0], [str(resolve_value(word, namespace)) for word in words[1:]]
        if command not in COMMANDS:
            close = [c for c in COMMANDS if c.startswith(command[:2])]
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(
                f"Unknown command {command!r}{hint}; use one of {', '.join(COMMANDS)}."
            )
        return getattr(self, f"_cmd_{command}")(args)

    def _expect(self, args, count: int, usage: str, flags=()):
        positional = [a for a in args if a not in flags]
        unknown = [a for a in positional if a.startswith("-") and not a[1:].isdigit()]
        if unknown or len(positional) > count:
            raise UsageError(f"Usage: %banana {usage}")
        return positional, {f for f in flags if f in args}

    def _cmd_help(self, args):
        return self._help()

    def _help(self):
        return Help(HELP)

    def _cmd_login(self, args):
        self._expect(args, 0, "login")
        import getpass

        key = getpass.getpass("ToAPIs API key (kept in memory for this kernel only): ")
        self._key = resolve_api_key(key)
        if self.using_simulator:
            self._stop_simulator()
            self._base_url = None
        print(f"Logged in; requests go to {self.base_url}.")

    def _cmd_logout(self, args):
        self._expect(args, 0, "logout")
        self._key = None
        print(
            "The key is forgotten by this kernel"
            + (
                f" ({API_KEY_ENV} is still set in the environment)."
                if os.environ.get(API_KEY_ENV)
                else "."
            )
        )

    def _cmd_use(self, args):
        if not args:
            raise UsageError("Usage: %banana use toapis|sim|URL")
        (target,), _ = self._expect(args, 1, "use toapis|sim|URL")
        if target == "sim":
            from .simulator import Simulator

            if self._simulator is None:
                self._simulator = Simulator().start()
            self._base_url = self._simulator.base_url
            print(
                f"Using the built-in simulator at {self._base_url}: images are SIMULATED "
                "placeholders, nothing is paid. `%banana use toapis` switches to the real "
                "API."
            )
            return
        url = self._real_api_url() if target == "toapis" else resolve_base_url(target)
        self._stop_simulator()
        self._base_url = url
        print(
            f"Using {self.base_url}"
            + (
                ""
                if self.api_key() is not None
                else f"; no key yet: `%banana login` or set {API_KEY_ENV}"
            )
            + "."
        )

    @staticmethod
    def _real_api_url() -> str:
        """TOAPIS_BASE_URL when it names a real host (e.g. the China host), else toapis.com."""
        from urllib.parse import urlparse

        from ._settings import is_loopback

        configured = os.environ.get(BASE_URL_ENV)
        if configured and not is_loopback(urlparse(resolve_base_url(configured)).hostname):
            return resolve_base_url(configured)
        return DEFAULT_BASE_URL

    def _stop_simulator(self):
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None

    def _cmd_config(self, args):
        self._expect(args, 0, "config")
        key_source = (
            "the simulator's"
            if self.using_simulator
            else "set by %banana login"
            if self._key is not None
            else f"from {API_KEY_ENV}"
            if os.environ.get(API_KEY_ENV)
            else None
        )
        rows = {
            "backend": self.base_url + (" (simulator)" if self.using_simulator else ""),
            "api key": f"******** ({key_source})" if key_source else "not set",
            "output folder": str(self.store().root),
        }
        rows.update({name: getattr(self, name) for name in self.trait_names(config=True)})
        width = max(map(len, rows))
        print("\n".join(f"{name:<{width}}  {value}" for name, value in rows.items()))

    def _cmd_history(self, args):
        return explore.history(self.store(), args)

    def _cmd_from(self, args):
        shown, run_it = explore.from_image(args)
        if not run_it:
            return shown
        from IPython.display import display as show

        show(shown)
        return self._rerun_request(shown.request, CellCommand())

    def _rerun_request(self, request, cmd: CellCommand):
        request.validate()
        (new,) = self._run_blocking(self.engine(cmd), [request], cmd, [request.summary()])
        if new.exception is not None:
            raise new.exception
        return new

    def _cmd_summary(self, args):
        return explore.summary(self.store(), args)

    def _cmd_gallery(self, args):
        return explore.gallery(self, args)

    def _cmd_compare(self, args):
        return explore.compare(self.store(), args)

    def _cmd_lineage(self, args):
        return explore.lineage(self.store(), args)

    def _cmd_rate(self, args):
        return explore.rate(self.store(), args)

    def _cmd_pick(self, args):
        return explore.pick(self.store(), args)

    def _cmd_tag(self, args):
        return explore.tag(self.store(), args)

    def _cmd_note(self, args):
        return explore.note(self.store(), args)

    def _load(self, args, usage, flags=()):
        positional, found = self._expect(args, 1, usage, flags)
        if not positional:
            raise UsageError(f"Usage: %banana {usage}")
        store = self.store()
        return store.load_run(store.resolve_run_id(positional[0])), found

    def _cmd_show(self, args):
        run, _ = self._load(args, "show RUN")
        run.cached = True
        return run

    def _cmd_rerun(self, args):
        run, flags = self._load(args, "rerun RUN [--no-cache]", flags=("--no-cache",))
        return self._rerun_request(run.request, CellCommand(cache="--no-cache" not in flags))

    def _cmd_resume(self, args):
        self._expect(args, 0, "resume")
        engine = self.engine()
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
        live = LiveStatus(self.shell, board.html).start()

        def listener(event):
            board.apply(event)
            live.refresh(force=event.kind != "progress")

        from ._sync import run_sync

        runs = run_sync(live.ticking(engine.resume(listener=listener)))
        self._note_spent(runs)
        live.finish(
            f"Resumed {len(runs)} task(s): {board.summary()}.", provenance=runs_provenance(runs)
        )
        return Runs(runs)

    def _cmd_cost(self, args):
        self._expect(args, 0, "cost")
        store = self.store()
        runs = [run for run in store.recent_runs(None) if run.ok]
        simulated = sum(run.cost for run in runs if run.simulated)
        paid = sum(run.cost for run in runs) - simulated
        kernel_simulated = self.simulated_spent
        print(
            f"This kernel spent {format_usd(self.spent - kernel_simulated)}"
            + (
                f" (plus {format_usd(kernel_simulated)} of simulated images, which cost nothing)"
                if kernel_simulated
                else ""
            )
            + f"; the output folder {store.root} holds {format_usd(paid)} of paid images"
            + (f" and {format_usd(simulated)} of simulated ones" if simulated else "")
            + "."
        )

    def _cmd_export(self, args):
        as_kind = "python"
        if "--as" in args:
            at = args.index("--as")
            if at + 1 >= len(args):
                raise UsageError("Usage: %banana export RUN [--as python|curl|json]")
            as_kind = args[at + 1]
            args = args[:at] + args[at + 2 :]
        if as_kind not in ("python", "curl", "json"):
            raise UsageError(f"--as {as_kind!r}: use python, curl or json.")
        run, _ = self._load(args, "export RUN [--as python|curl|json]")
        from ._export import export_request

        return Exported(export_request(run, self.store(), as_kind), as_kind)

    def _cmd_panel(self, args):
        self._expect(args, 0, "panel")
        from ._panel import panel

        return panel(magic=self)


HELP = """\
**%%banana [options]** — the cell is the prompt; `{name}` takes a notebook variable.

| option | meaning |
|---|---|
| `--size 16:9` `--resolution 2K` `-n 2` `--model ID` | request parameters |
| `--ref PATH_OR_URL` (repeatable) | reference images; local files are uploaded once |
| `--name VAR` | also bind the result to `VAR` |
| `--no-cache` / `--variant LABEL` | generate again / a new sample set, cached separately |
| `--dry-run` | show the JSON payload(s) and the cost; send nothing |
| `--sweep KEY=V1,V2` `--zip` `--budget 2` `--yes` `--concurrency 8` | parameter sweeps |
| `--search` `--image-search` `--meta KEY=VALUE` | grounding and extra metadata |
| `--out DIR` `--background` | output folder / return at once, grid fills in live |

**%banana** `login` · `logout` · `use toapis|sim|URL` · `config` · `history [N]` · `show RUN` ·
`rerun RUN [--no-cache]` · `resume` · `cost` · `export RUN [--as python|curl|json]` · `panel` ·
`help`. Exploring: `rate RUN#i 1-5` · `pick RUN#i [--no]` · `tag RUN WORD… [--remove]` ·
`note RUN "TEXT"` · `compare A B…` · `summary RUN RUN…` · `lineage RUN` ·
`from PATH [--run]` · `gallery [filters]`; `history` filters `--search TEXT --tag W --picked --min-rating N --model ID
--size R --since DATE`. Settings: `%config Banana.resolution = "2K"` (see `%config Banana`).
"""

_magics: Banana | None = None


def load_ipython_extension(ipython) -> None:
    global _magics
    _magics = Banana(shell=ipython)
    ipython.register_magics(_magics)


def unload_ipython_extension(ipython) -> None:
    global _magics
    if _magics is None:
        return
    _magics._stop_simulator()
    _magics._tracebacks.disable()
    for task in list(_magics._background):
        task.cancel()
    manager = ipython.magics_manager
    for kind in ("line", "cell"):
        manager.magics[kind].pop("banana", None)
    manager.registry.pop("Banana", None)
    ipython.configurables = [c for c in ipython.configurables if c is not _magics]
    _magics = None
