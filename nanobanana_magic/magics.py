"""The `%%banana` cell magic and the `%banana` line magic.

Settings are traitlets on the `Banana` class, so `%config Banana.resolution = "2K"` and
IPython profiles work. The cell body is the prompt; options live on the magic line
(see `cell_options`). Runs go through the shared engine; while they run one display
updates in place, then the cell's value is the Run (or SweepRun), whose HTML is the grid.
"""
from __future__ import annotations

import asyncio
import collections
import html
import json
import os
import shlex
import time

from IPython.core.error import UsageError
from IPython.core.magic import (Magics, line_cell_magic, magics_class, needs_local_scope,
                                no_var_expand)
from traitlets import Bool, Dict, Enum, Float, Int, Unicode, observe

from . import display, errors
from ._sync import run_sync
from .cell_options import CellCommand, cell_arguments, parse_cell_line
from .engine import Engine, Event
from .pricing import DEFAULT_PRICES, estimate_cost, format_usd
from .request import DEFAULT_MODEL, RESOLUTIONS, SIZES, ImageRequest
from .settings import (API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL, Secret, resolve_api_key,
                       resolve_base_url, resolve_output_dir)
from .store import Store
from .template import interpolate

COMMANDS = ("login", "logout", "use", "config", "history", "show", "rerun", "resume", "cost",
            "export", "panel", "help")
_REFRESH_SECONDS = 0.25


def in_kernel(shell) -> bool:
    """True inside a Jupyter kernel (rich display), False in terminal IPython."""
    return getattr(shell, "kernel", None) is not None


class LiveStatus:
    """One display that updates in place while tasks run (a text line in a terminal)."""

    def __init__(self, shell, render, text):
        self._render, self._text = render, text
        self._rich = in_kernel(shell)
        self._handle = None
        self._last = 0.0

    def start(self) -> "LiveStatus":
        if self._rich:
            from IPython.display import HTML, display as show
            self._handle = show(HTML(self._render()), display_id=True)
        return self

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < _REFRESH_SECONDS:
            return
        self._last = now
        if self._handle is not None:
            from IPython.display import HTML
            self._handle.update(HTML(self._render()))

    def finish(self, html_text: str) -> None:
        if self._handle is not None:
            from IPython.display import HTML
            self._handle.update(HTML(html_text))
        else:
            print(self._text())


@magics_class
class Banana(Magics):
    """Nano Banana 2 image generation in notebooks. See `%banana help`."""

    model = Unicode(os.environ.get("NANOBANANA_MODEL") or DEFAULT_MODEL,
                    help="Default model id (nano-banana-2; the API reference id is "
                         "gemini-3.1-flash-image-preview).").tag(config=True)
    size = Enum(SIZES, default_value="1:1", help="Default aspect ratio.").tag(config=True)
    resolution = Enum(RESOLUTIONS, default_value="1K",
                      help="Default resolution tier.").tag(config=True)
    n = Int(1, help="Default images per task (1-4).").tag(config=True)
    output_dir = Unicode("", help="Output folder (default: NANOBANANA_OUTPUT_DIR or "
                                  "./banana_outputs).").tag(config=True)
    concurrency = Int(8, help="Tasks in flight at once.").tag(config=True)
    budget = Float(1.0, help="Sweeps estimated above this many dollars need --yes."
                   ).tag(config=True)
    task_timeout = Float(600.0, help="Seconds to wait for one task before giving up (it "
                                     "stays resumable).").tag(config=True)
    max_poll_interval = Float(10.0, help="Longest wait between two polls of a task (s)."
                              ).tag(config=True)
    thumbnail_size = Int(512, help="Long side of display thumbnails in pixels."
                         ).tag(config=True)
    prices = Dict(DEFAULT_PRICES, help="Dollars per image by resolution, for estimates."
                  ).tag(config=True)
    show_tracebacks = Bool(False, help="Show full tracebacks of nanobanana errors "
                                       "(for debugging).").tag(config=True)

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self._key: Secret | None = None
        self._base_url: str | None = None  # None: TOAPIS_BASE_URL or the default
        self._simulator = None
        self.spent = 0.0
        self._background: set[asyncio.Task] = set()

    @observe("show_tracebacks")
    def _show_tracebacks_changed(self, change):
        errors.BananaError.show_tracebacks = change["new"]

    @observe("n")
    def _check_n(self, change):
        if not 1 <= change["new"] <= 4:
            raise errors.ValidationError("Banana.n must be from 1 to 4.")

    # -- shared pieces ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return resolve_base_url(self._base_url)

    def store(self, out: str | None = None) -> Store:
        return Store(out or self.output_dir or None, thumbnail_size=self.thumbnail_size)

    def engine(self, cmd: CellCommand | None = None) -> Engine:
        key = self._key
        if key is None and self._simulator is None and os.environ.get(API_KEY_ENV):
            key = resolve_api_key()
        return Engine(store=self.store(cmd.out if cmd else None), api_key=key,
                      base_url=self.base_url, prices=self.prices,
                      concurrency=(cmd.concurrency if cmd and cmd.concurrency
                                   else self.concurrency),
                      task_timeout=self.task_timeout, max_poll_interval=self.max_poll_interval)

    def request_defaults(self) -> dict:
        return {"model": self.model, "size": self.size, "resolution": self.resolution,
                "n": self.n}

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
        panel | help`.
        """
        namespace = collections.ChainMap(local_ns or {}, self.shell.user_ns)
        if cell is None:
            return self._command(line, namespace)
        cmd = parse_cell_line(self.banana, line, namespace)
        if cmd.sweep:
            return self._sweep_cell(cell, cmd, namespace)
        request = ImageRequest.create(interpolate(cell.strip(), namespace),
                                      **{**self.request_defaults(), **cmd.request_options()})
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
        if cmd.name:
            self.shell.user_ns[cmd.name] = result
        return result

    def _note_spent(self, runs) -> None:
        self.spent += sum(run.spent for run in runs if run is not None)

    def _run_blocking(self, engine: Engine, requests, cmd: CellCommand | None, labels,
                      on_event=None, render=None):
        board = display.ProgressBoard(labels)
        live = LiveStatus(self.shell, render or board.html, board.text).start()

        def listener(event: Event) -> None:
            board.apply(event)
            if on_event is not None:
                on_event(event)
            live.refresh(force=event.kind != "progress")

        try:
            runs = run_sync(engine.run(requests, listener=listener,
                                       cache=cmd.cache if cmd else True))
        except KeyboardInterrupt:
            live.finish(display.note(
                "Interrupted: polling stopped. Submitted tasks stay in the journal; "
                "`%banana resume` collects them without paying again."))
            raise
        self._note_spent(runs)
        cached = sum(1 for run in runs if run.cached)
        summary = (f"{len(runs)} task(s): {board.counts()} in "
                   f"{time.monotonic() - board.started:.1f} s"
                   + (f"; {cached} from the cache, nothing sent for them" if cached else "")
                   + f"; {format_usd(sum(r.spent for r in runs))} spent.")
        live.finish(display.note(summary))
        return runs

    def _dry_run(self, engine: Engine, requests, cmd: CellCommand):
        cached = [r for r in requests if cmd.cache and
                  engine.store.cached_run(engine.cache_key(r)) is not None]
        payloads = [r.to_payload([ref if "://" in ref else f"<upload of {os.path.basename(ref)}>"
                                  for ref in r.reference_images])
                    for r in requests if r not in cached]
        estimate = estimate_cost([r for r in requests if r not in cached], self.prices)
        text = (f"Dry run: {len(payloads)} request(s) to POST {self.base_url}"
                f"/v1/images/generations, estimated {format_usd(estimate)}"
                + (f"; {len(cached)} cached (free)" if cached else "")
                + ". Nothing was sent.")
        return DryRun(text, payloads)

    def _in_background(self, engine: Engine, requests, cmd: CellCommand, sweep=None):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError("--background needs a running Jupyter kernel; drop it here.") \
                from None
        labels = [r.summary() for r in requests]
        board = display.ProgressBoard(labels)
        live = LiveStatus(self.shell, (sweep.html if sweep else board.html), board.text).start()

        def listener(event: Event) -> None:
            board.apply(event)
            if sweep is not None:
                sweep.apply(event)
            live.refresh(force=event.kind != "progress")

        async def work():
            try:
                runs = await engine.run(requests, listener=listener, cache=cmd.cache)
            except asyncio.CancelledError:
                live.finish(display.note("Cancelled; `%banana resume` collects submitted "
                                         "tasks."))
                raise
            except errors.BananaError as exc:
                live.finish(display.error_box(str(exc)))
                return
            self._note_spent(runs)
            result = sweep if sweep is not None else runs[0]
            self._bind(cmd, result)
            live.finish(sweep.html() if sweep is not None else display.runs_html(runs))

        task = loop.create_task(work())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return None

    def _sweep_cell(self, template: str, cmd: CellCommand, namespace):
        from .sweep import SweepRun, check_budget, plan_sweep
        engine = self.engine(cmd)
        common = {**self.request_defaults(), **cmd.request_options()}
        for key in ("size", "n", "resolution", "model"):
            if key in cmd.sweep:
                common.pop(key, None)
        if "ref" in cmd.sweep:
            common.pop("reference_images", None)
        plan = plan_sweep(template.strip(), cmd.sweep, engine=engine, zip=cmd.zip,
                          namespace=namespace, cache=cmd.cache, prices=self.prices, **common)
        budget = cmd.budget if cmd.budget is not None else self.budget
        if cmd.dry_run:
            return DryRun(plan.describe(budget) + " Nothing was sent.", plan.payloads())
        check_budget(plan, budget, cmd.yes)
        result = SweepRun(plan)
        requests = [request for _, request in plan.cells]
        if cmd.background:
            return self._in_background(engine, requests, cmd, sweep=result)
        labels = [", ".join(map(str, key)) for key, _ in plan.cells]
        self._run_blocking(engine, requests, cmd, labels, on_event=result.apply,
                           render=result.html)
        return self._bind(cmd, result)

    # -- line commands --------------------------------------------------------------------------------
    def _command(self, line: str, namespace):
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"Cannot read the command line ({exc}); check the quotes.") \
                from None
        if not words:
            return self._help()
        command, args = words[0], words[1:]
        if command not in COMMANDS:
            close = [c for c in COMMANDS if c.startswith(command[:2])]
            hint = f" Did you mean {close[0]}?" if close else ""
            raise UsageError(f"Unknown command {command!r}; use one of "
                             f"{', '.join(COMMANDS)}.{hint}")
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
        from IPython.display import Markdown
        return Markdown(HELP)

    def _cmd_login(self, args):
        self._expect(args, 0, "login")
        import getpass
        key = getpass.getpass("ToAPIs API key (kept in memory for this kernel only): ")
        self._key = resolve_api_key(key)
        if self._simulator is not None:
            self._stop_simulator()
            self._base_url = None
        print(f"Logged in; requests go to {self.base_url}.")

    def _cmd_logout(self, args):
        self._expect(args, 0, "logout")
        self._key = None
        print("The key is forgotten by this kernel"
              + (f" ({API_KEY_ENV} is still set in the environment)."
                 if os.environ.get(API_KEY_ENV) else "."))

    def _cmd_use(self, args):
        if not args:
            raise UsageError("Usage: %banana use toapis|sim|URL")
        (target,), _ = self._expect(args, 1, "use toapis|sim|URL")
        if target == "sim":
            from .simulator import SIM_API_KEY, Simulator
            if self._simulator is None:
                self._simulator = Simulator().start()
            self._base_url = self._simulator.base_url
            self._key = Secret(SIM_API_KEY)
            print(f"Using the built-in simulator at {self._base_url}: images are SIMULATED "
                  "placeholders, nothing is paid. `%banana use toapis` switches to the real "
                  "API.")
            return
        self._stop_simulator()
        if self._key is not None and self._key.reveal().startswith("sk-simulator"):
            self._key = None
        self._base_url = None if target == "toapis" else resolve_base_url(target)
        print(f"Using {self.base_url}.")

    def _stop_simulator(self):
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None

    def _cmd_config(self, args):
        self._expect(args, 0, "config")
        key_source = ("set by %banana login" if self._key is not None and self._simulator is None
                      else "simulator key" if self._simulator is not None
                      else f"from {API_KEY_ENV}" if os.environ.get(API_KEY_ENV) else "not set")
        rows = {"backend": self.base_url + (" (simulator)" if self._simulator else ""),
                "api key": f"******** ({key_source})",
                "output folder": str(self.store().root)}
        rows.update({name: getattr(self, name) for name in self.trait_names(config=True)})
        width = max(map(len, rows))
        print("\n".join(f"{name:<{width}}  {value}" for name, value in rows.items()))

    def _cmd_history(self, args):
        (count,), _ = self._expect(args, 1, "history [N]") if args else (("20",), set())
        if not str(count).isdigit():
            raise UsageError("Usage: %banana history [N] (N a whole number)")
        store = self.store()
        reuse = collections.Counter(e.get("run_id") for e in store.read_journal()
                                    if e.get("event") == "cache_hit")
        return History(store.recent_runs(int(count)), reuse)

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
        cmd = CellCommand(cache="--no-cache" not in flags)
        run.request.validate()
        (new,) = self._run_blocking(self.engine(cmd), [run.request], cmd,
                                    [run.request.summary()])
        if new.exception is not None:
            raise new.exception
        return new

    def _cmd_resume(self, args):
        self._expect(args, 0, "resume")
        engine = self.engine()
        pending = engine.store.pending_tasks()
        if not pending:
            print(f"Nothing to resume: every task in {engine.store.root} was collected.")
            return None
        board = display.ProgressBoard([f"task {e['task_id']}" for e in pending])
        live = LiveStatus(self.shell, board.html, board.text).start()

        def listener(event):
            board.apply(event)
            live.refresh(force=event.kind != "progress")

        runs = run_sync(engine.resume(listener=listener))
        self._note_spent(runs)
        live.finish(display.note(f"Resumed {len(runs)} task(s): {board.counts()}."))
        return Runs(runs)

    def _cmd_cost(self, args):
        self._expect(args, 0, "cost")
        store = self.store()
        total = sum(e.get("cost") or 0 for e in store.read_journal()
                    if e.get("event") == "completed")
        print(f"This kernel spent {format_usd(self.spent)}; the output folder "
              f"{store.root} holds {format_usd(total)} of generated images.")

    def _cmd_export(self, args):
        as_kind = "python"
        if "--as" in args:
            at = args.index("--as")
            if at + 1 >= len(args):
                raise UsageError("Usage: %banana export RUN [--as python|curl|json]")
            as_kind = args[at + 1]
            args = args[:at] + args[at + 2:]
        if as_kind not in ("python", "curl", "json"):
            raise UsageError(f"--as {as_kind!r}: use python, curl or json.")
        run, _ = self._load(args, "export RUN [--as python|curl|json]")
        from .export import export_request
        return Exported(export_request(run, self.store(), as_kind), as_kind)

    def _cmd_panel(self, args):
        self._expect(args, 0, "panel")
        from .panel import panel
        return panel(magic=self)


class DryRun:
    """What a --dry-run would send: the payloads and the cost, displayed as JSON."""

    def __init__(self, text: str, payloads: list[dict]):
        self.text, self.payloads = text, payloads

    def __repr__(self) -> str:
        return self.text + "\n" + json.dumps(self.payloads, indent=2)

    def _repr_html_(self) -> str:
        return (display.note(self.text) + "<pre class='banana-payload'>"
                + html.escape(json.dumps(self.payloads, indent=2)) + "</pre>")


class Exported(str):
    """An exported request; shown as a code block, usable as a string."""

    def __new__(cls, text: str, kind: str):
        obj = super().__new__(cls, text)
        obj.kind = kind
        return obj

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return f"<pre class='banana-export'>{html.escape(str(self))}</pre>"


class Runs(list):
    """Several runs shown together."""

    def _repr_html_(self) -> str:
        return display.runs_html(self)

    def __repr__(self) -> str:
        return "\n".join(display.run_text(run) for run in self) or "(no runs)"


class History(list):
    def __init__(self, runs, reuse):
        super().__init__(runs)
        self.reuse = reuse

    def rows(self):
        for run in self:
            yield {"run": run.run_id,
                   "time": time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created_at)),
                   "prompt": run.request.prompt[:60], "params": run.request.summary(),
                   "images": len(run.images), "cost": format_usd(run.cost),
                   "cached": f"reused ×{self.reuse[run.run_id]}" if self.reuse[run.run_id]
                   else "", "status": run.status}

    def __repr__(self) -> str:
        lines = [" | ".join(str(v) for v in row.values()) for row in self.rows()]
        return "\n".join(lines) or "No runs yet."

    def _repr_html_(self) -> str:
        rows = list(self.rows())
        if not rows:
            return display.note("No runs yet.")
        head = "".join(f"<th style='text-align:left;padding:2px 8px'>{k}</th>" for k in rows[0])
        body = "".join("<tr>" + "".join(f"<td style='padding:2px 8px'>{html.escape(str(v))}</td>"
                                        for v in row.values()) + "</tr>" for row in rows)
        return (f"<table class='banana-history' style='border-collapse:collapse;"
                f"font:12px system-ui'><tr>{head}</tr>{body}</table>")


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
`help`. Settings: `%config Banana.resolution = "2K"` (see `%config Banana`).
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
    for task in list(_magics._background):
        task.cancel()
    manager = ipython.magics_manager
    for kind in ("line", "cell"):
        manager.magics[kind].pop("banana", None)
    manager.registry.pop("Banana", None)
    ipython.configurables = [c for c in ipython.configurables if c is not _magics]
    _magics = None
