"""The `%banana` line commands, declared as a table: name, arguments, help, handler.

Each command is one function registered with `@command(...)`; its declared arguments are
parsed by argparse (after `$name` values are taken from the notebook) and handed to it as
a Namespace, and `%banana help` is generated from the table. A command declared with
`parses_itself=True` gets the words instead (the exploring commands parse their own).
To add a command, declare it here; nothing else changes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ._cell_options import CellCommand, resolve_value, split_line
from ._command_parser import CommandParser
from ._displayables import Exported, Help, Runs
from ._pricing import format_usd
from ._settings import API_KEY_ENV, resolve_api_key
from ._wording import plural, wrapped

if TYPE_CHECKING:
    from ._magics import Banana


@dataclasses.dataclass(frozen=True)
class Arg:
    """One argparse argument of a line command: `Arg("RUN")`, `Arg("--no-cache", ...)`."""

    names: tuple[str, ...]
    options: dict

    def __init__(self, *names: str, **options):
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "options", options)


@dataclasses.dataclass(frozen=True)
class LineCommand:
    """One `%banana` command: how it is written, what it does, and its handler."""

    name: str
    usage: str  # the arguments as shown in help, e.g. "RUN [--no-cache]"
    help: str
    arguments: tuple[Arg, ...] | None  # None: the handler parses the words itself
    run: Callable[[Banana, Any], Any]

    @property
    def synopsis(self) -> str:
        return f"{self.name} {self.usage}".strip()

    def parse(self, args: Sequence[str]) -> argparse.Namespace | list[str]:
        if self.arguments is None:
            return list(args)
        parser = CommandParser(self.name, self.synopsis)
        for argument in self.arguments:
            parser.add_argument(*argument.names, **argument.options)
        return parser.parse(args)


#: every line command, in the order help lists them
COMMANDS: dict[str, LineCommand] = {}


def command(name: str, usage: str, help: str, *arguments: Arg, parses_itself: bool = False):
    """Declare a line command: `@command("show", "RUN", "show a stored run", Arg("run"))`."""

    def register(func: Callable[[Banana, Any], Any]):
        COMMANDS[name] = LineCommand(name, usage, help, None if parses_itself else arguments, func)
        return func

    return register


def run_line(magic: Banana, line: str, namespace: Mapping[str, Any]):
    """Run `%banana <line>`: the command named by its first word (help when empty)."""
    words = split_line(line)
    if not words:
        return help_text()
    name, args = words[0], [str(resolve_value(word, namespace)) for word in words[1:]]
    found = COMMANDS.get(name)
    if found is None:
        close = [c for c in COMMANDS if c.startswith(name[:2])]
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"Unknown command {name!r}{hint}; use one of {', '.join(COMMANDS)}.")
    return found.run(magic, found.parse(args))


def say(text: str) -> None:
    """Print a message for the notebook, wrapped at word boundaries."""
    print(wrapped(text))


def _whole_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"N must be a whole number, not {text!r}")
    return int(text)


# -- the commands -----------------------------------------------------------------------------
@command("login", "", "ask for the ToAPIs key (kept in memory for this kernel only)")
def _login(magic: Banana, args) -> None:
    import getpass

    key = getpass.getpass("ToAPIs API key (kept in memory for this kernel only): ")
    magic.log_in(resolve_api_key(key))
    say(f"Logged in; requests go to {magic.base_url}.")


@command("logout", "", "forget the key given to `login`")
def _logout(magic: Banana, args) -> None:
    magic.log_out()
    say(
        "The key is forgotten by this kernel"
        + (
            f" ({API_KEY_ENV} is still set in the environment)."
            if os.environ.get(API_KEY_ENV)
            else "."
        )
    )


def simulator_knobs(assignments: Sequence[str]) -> dict[str, Any]:
    """`--set KNOB=VALUE` values as the simulator's knobs, checked against its config so a
    typo is refused before anything starts: one sentence naming the knob, its problem
    and, for a misspelling, the fix."""
    import difflib

    from .simulator.config import SimulatorConfig, parse_knob

    knobs: dict[str, Any] = {}
    for assignment in assignments:
        try:
            name, value = parse_knob(assignment)
        except ValueError:
            raise UsageError(
                f"--set needs KNOB=VALUE, e.g. --set duration=12, not {assignment!r}."
            ) from None
        knobs[name] = value
    try:
        SimulatorConfig().replace(**knobs)
    except TypeError:
        names = SimulatorConfig.knob_names()
        unknown = next(name for name in knobs if name not in names)
        close = difflib.get_close_matches(unknown, names, n=1)
        hint = f"did you mean {close[0]}?" if close else "the README lists them."
        raise UsageError(f"The simulator has no knob {unknown!r}; {hint}") from None
    except ValueError as exc:
        raise UsageError(f"--set: {exc}.") from None
    return knobs


@command(
    "use",
    "toapis|sim|URL [--set KNOB=VALUE ...]",
    "where requests go: ToAPIs, the built-in simulator (--set sets its knobs, e.g. "
    "--set duration=12), or another URL",
    Arg("target"),
    Arg("--set", action="append", default=[], metavar="KNOB=VALUE"),
)
def _use(magic: Banana, args) -> None:
    knobs = simulator_knobs(args.set)
    if knobs and args.target != "sim":
        raise UsageError(
            "--set changes the simulator's knobs; use it with %banana use sim --set KNOB=VALUE."
        )
    if args.target == "sim":
        magic.use_simulator(**knobs)
        settings = ", ".join(f"{name}={value!r}" for name, value in knobs.items())
        say(
            f"Using the built-in simulator at {magic.base_url}"
            + (f" ({settings})" if settings else "")
            + ": images are SIMULATED placeholders, nothing is paid. "
            "%banana use toapis switches to the real API."
        )
        return
    magic.use_url(None if args.target == "toapis" else args.target)
    say(
        f"Using {magic.base_url}"
        + (
            ""
            if magic.api_key() is not None
            else f"; no key yet: %banana login or set {API_KEY_ENV}"
        )
        + "."
    )


@command("config", "", "the backend, the key's source, the output folder and every setting")
def _config(magic: Banana, args) -> None:
    key_source = (
        "the simulator's"
        if magic.using_simulator
        else "set by %banana login"
        if magic.has_login_key
        else f"from {API_KEY_ENV}"
        if os.environ.get(API_KEY_ENV)
        else None
    )
    rows = {
        "backend": magic.base_url + (" (simulator)" if magic.using_simulator else ""),
        "api key": f"******** ({key_source})" if key_source else "not set",
        "output folder": str(magic.store().root),
    }
    rows.update({name: getattr(magic, name) for name in magic.trait_names(config=True)})
    width = max(map(len, rows))
    print("\n".join(f"{name:<{width}}  {value}" for name, value in rows.items()))


@command(
    "history",
    "[N] [--search TEXT] [--tag WORD] [--picked] [--min-rating N] [--model ID] [--size R] "
    "[--since DATE]",
    "the last N runs (default 20), filtered by words, tags, picks, ratings, model, size, date",
    parses_itself=True,
)
def _history(magic: Banana, words):
    from ._explore_commands import history

    return history(magic.store(), words)


def _load(magic: Banana, run_ref: str):
    store = magic.store()
    return store.load_run(store.resolve_run_id(run_ref))


@command("show", "RUN", "a stored run's images, or a sweep's whole grid, from disk", Arg("run"))
def _show(magic: Banana, args):
    from ._sweep_record import load_entry

    return load_entry(magic.store(), args.run)


@command(
    "rerun",
    "RUN [--no-cache] [--yes] [--budget USD]",
    "run a stored run's request, or every cell of a sweep, again (from the cache unless "
    "--no-cache; a sweep above the budget needs --yes)",
    Arg("run"),
    Arg("--no-cache", action="store_true"),
    Arg("--yes", action="store_true"),
    Arg("--budget", type=float, metavar="USD"),
)
def _rerun(magic: Banana, args):
    from ._sweep_record import is_sweep_id, plan_of, read_sweep_record

    cmd = CellCommand(cache=not args.no_cache, yes=args.yes, budget=args.budget)
    store = magic.store()
    found = store.resolve_run_id(args.run, sweeps=True)
    if not is_sweep_id(found):
        return _run_request(magic, store.load_run(found).request, cmd)
    engine = magic.engine(cmd)
    plan = plan_of(read_sweep_record(store, found), engine, cache=cmd.cache, prices=magic.prices)
    return magic.run_sweep(engine, plan, cmd)


def _run_request(magic: Banana, request, cmd: CellCommand):
    request.validate()
    (new,) = magic.run_batch(magic.engine(cmd), [request], cmd)
    if new.exception is not None:
        raise new.exception
    return new


@command("resume", "", "collect tasks that were sent but never collected (e.g. kernel died)")
def _resume(magic: Banana, args):
    from ._plan import plan_batch
    from ._progress import task_label
    from ._runner import LiveView, resumed_summary, run_blocking

    engine = magic.engine()
    pending = engine.pending_tasks()
    elsewhere = len(engine.store.pending_tasks()) - len(pending)
    if elsewhere:
        say(
            f"{plural(elsewhere, 'uncollected task')} in this folder "
            f"{'was' if elsewhere == 1 else 'were'} sent to another backend; "
            "%banana use that backend to resume them."
        )
    if not pending:
        say(
            f"Nothing to resume: every task sent to {engine.base_url} from "
            f"{engine.store.root} was collected."
        )
        return None
    tasks = engine.resumable()  # the rows name each run's prompt and parameters
    plan = plan_batch(
        engine,
        [run.request for run, _ in tasks],
        [task_label(run.request) for run, _ in tasks],
        cache=False,
    )
    view = LiveView(magic.shell, plan, summary=resumed_summary)
    return Runs(
        run_blocking(magic, view, lambda listener: engine.resume(listener=listener, tasks=tasks))
    )


@command("cost", "", "what this kernel spent, and what the output folder holds")
def _cost(magic: Banana, args) -> None:
    store = magic.store()
    paid, simulated = store.folder_cost()
    kernel_simulated = magic.simulated_spent
    say(
        f"This kernel spent {format_usd(magic.spent - kernel_simulated)}"
        + (
            f" (plus {format_usd(kernel_simulated)} of simulated images, which cost nothing)"
            if kernel_simulated
            else ""
        )
        + f"; the output folder {store.root} holds {format_usd(paid)} of paid images"
        + (f" and {format_usd(simulated)} of simulated ones" if simulated else "")
        + "."
    )


@command(
    "export",
    "RUN [--as python|curl|json]",
    "the request of a stored run as Python, curl or JSON",
    Arg("run"),
    Arg("--as", dest="as_kind", choices=("python", "curl", "json"), default="python"),
)
def _export(magic: Banana, args) -> Exported:
    from ._export import export_request

    run = _load(magic, args.run)
    return Exported(export_request(run, magic.store(), args.as_kind), args.as_kind)


@command("panel", "", "the widget panel, sharing these settings")
def _panel(magic: Banana, args):
    from ._panel import panel

    return panel(magic=magic)


# -- exploring: marks on runs and images, reproducing from a PNG, lineage -------------------
def _exploring(name: str, usage: str, help: str):
    """Declare an exploring command: it parses its own words against the output folder."""

    def handler(magic: Banana, words):
        from . import _explore_commands as explore

        return getattr(explore, name)(magic.store(), words)

    command(name, usage, help, parses_itself=True)(handler)


_exploring("rate", "RUN#i RATING", "rate an image 1-5 (0 clears)")
_exploring("pick", "RUN#i [--no]", "mark an image as picked (--no takes the mark away)")
_exploring("tag", "RUN WORD [WORD ...] [--remove]", "tag a run (or remove tags)")
_exploring("note", 'RUN "TEXT"', "a note on a run (empty text removes it)")


@command(
    "from",
    "PATH [--run]",
    "the request a PNG made by this package carries (--run makes it again)",
    parses_itself=True,
)
def _from(magic: Banana, words):
    from ._explore_commands import from_image

    shown, run_it = from_image(words)
    if not run_it:
        return shown
    from IPython.display import display as show

    show(shown)
    return _run_request(magic, shown.request, CellCommand())


_exploring("lineage", "RUN", "the runs a run was made from, and those made from it")
_exploring(
    "summary",
    "SWEEP | RUN RUN [RUN ...] | --last N",
    "which parameter values won: per axis of a stored sweep, or over stored runs",
)
_exploring(
    "compare",
    "A B [C ...] [--overlay]",
    "runs or images (RUN#i) side by side, differences marked; --overlay toggles two in place",
)


@command(
    "gallery",
    "[--search TEXT] [--tag WORD] [--picked] [--min-rating N] [--model ID] [--size R] "
    "[--since DATE]",
    "every stored image, filtered, with actions on a selection",
    parses_itself=True,
)
def _gallery(magic: Banana, words):
    from ._explore_commands import gallery

    return gallery(magic, words)


@command("help", "", "this help")
def _help(magic: Banana, args) -> Help:
    return help_text()


# -- help -------------------------------------------------------------------------------------
_CELL_HELP = """\
**%%banana [options]** — the cell is the prompt; `{name}` takes a notebook variable.

| option | meaning |
|---|---|
| `--size 16:9` `--resolution 2K` `-n 2` `--model ID` | request parameters |
| `--ref PATH_OR_URL` (repeatable) | reference images; local files are uploaded once |
| `--name VAR` | also bind the result to `VAR` |
| `--no-cache` / `--variant LABEL` | generate again / a new sample set, cached separately |
| `--dry-run` | show the JSON payloads and the cost; send nothing |
| `--sweep KEY=V1,V2` `--zip` `--budget 2` `--yes` `--concurrency 8` | parameter sweeps |
| `--search` `--image-search` `--meta KEY=VALUE` | grounding and extra metadata |
| `--out DIR` `--background` | output folder / return at once, grid fills in live |
"""


def help_text() -> Help:
    """`%banana help`: the cell options, then every line command of the table."""
    rows = "\n".join(f"| `{c.synopsis}` | {c.help} |" for c in COMMANDS.values())
    return Help(
        f"{_CELL_HELP}\n**%banana COMMAND** (`RUN` is a run id, a unique part of one, "
        f"`last` or `-N`)\n\n| command | does |\n|---|---|\n{rows}\n\n"
        'Settings: `%config Banana.resolution = "2K"` (see `%config Banana`).\n'
    )
