"""Parsing the `%%banana` line into a `CellCommand`, before anything runs.

Options are `shlex`-split (POSIX rules, so `--meta "title=a b"` is one value) and read
by IPython's magic argument parser, which also makes `%%banana?` show them. Unknown
options, abbreviations, stray words and a single option given twice are errors, and a
value written `$name` is taken from the user's namespace. The result is a plain object,
testable without a kernel or a network.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shlex
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from ._errors import ValidationError
from ._limits import check_setting

_NAME = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
# `$` then a name then code (`$big[:1000]`, `$obj.attr`, `$a,$b`): an expression, refused;
# `$name too` (a space after the name) stays literal text
_EXPRESSION = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*[^\w\s]")


class _Once(argparse.Action):
    """Store a value, refusing the same option twice (argparse would keep the last)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, f"_seen_{self.dest}", False):
            raise UsageError(f"{option_string} was given twice; give it once.")
        setattr(namespace, f"_seen_{self.dest}", True)
        setattr(namespace, self.dest, values)


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of the `%%banana` line: argparse names and keywords. The magic and the
    `nanobanana` command line both read their options from `CELL_OPTIONS`."""

    names: tuple[str, ...]
    options: dict

    def __init__(self, *names: str, **options):
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "options", options)

    @property
    def flag(self) -> str:
        return self.names[-1]

    @property
    def dest(self) -> str:
        return self.options.get("dest") or self.flag[2:].replace("-", "_")

    @property
    def unset(self):
        """The value an option has when it is not given."""
        if "default" in self.options:
            return self.options["default"]
        return False if self.options.get("action") == "store_true" else None


CELL_OPTIONS: tuple[Option, ...] = (
    Option(
        "--model",
        action=_Once,
        help="model id (default: Banana.model, "
        "nano-banana-2; the API reference calls it gemini-3.1-flash-image-preview)",
    ),
    Option("--size", action=_Once, help="aspect ratio, e.g. 1:1, 16:9, 9:16, 21:9, 8:1"),
    Option("-n", "--n", action=_Once, help="images per task, 1-4"),
    Option("--resolution", action=_Once, help="0.5K, 1K, 2K or 4K"),
    Option(
        "--ref",
        action="append",
        default=[],
        metavar="PATH_OR_URL",
        help="reference image (repeatable): a file, a URL or a stored image RUN#i; "
        "local files are uploaded once",
    ),
    Option("--name", action=_Once, metavar="VAR", help="also bind the result to VAR"),
    Option(
        "--out",
        action=_Once,
        metavar="DIR",
        help="output folder (default: NANOBANANA_OUTPUT_DIR, else ./banana_outputs)",
    ),
    Option("--no-cache", action="store_true", help="generate even if cached"),
    Option(
        "--variant",
        action=_Once,
        metavar="LABEL",
        help="a new sample set for the same parameters, cached separately",
    ),
    Option(
        "--dry-run",
        action="store_true",
        help="show the exact JSON payloads and the cost; send nothing",
    ),
    Option(
        "--sweep",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="sweep a parameter (size, n, resolution, model, ref) or a {name} of "
        "the prompt over values (repeatable; $name takes a Python list)",
    ),
    Option(
        "--zip",
        action="store_true",
        help="pair sweep values position by position instead of all combinations",
    ),
    Option("--concurrency", action=_Once, help="tasks in flight at once"),
    Option("--budget", action=_Once, help="refuse sweeps estimated above this ($)"),
    Option("--yes", action="store_true", help="go ahead even above the budget"),
    Option("--search", action="store_true", help="ground on Google web search"),
    Option(
        "--image-search",
        action="store_true",
        help="ground on Google image search (turns --search on)",
    ),
    Option(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra metadata field sent to the API (repeatable)",
    ),
    Option(
        "--refine",
        action=_Once,
        metavar="RUN#i",
        help="start from a stored image: it becomes the reference, and its model, "
        "size and resolution are kept unless given here",
    ),
    Option(
        "--tag",
        action="append",
        default=[],
        metavar="WORD",
        help="tag the runs this cell makes (repeatable)",
    ),
    Option(
        "--background",
        action="store_true",
        help="return at once; the grid fills in live (Jupyter only)",
    ),
)
#: options that only make sense in a notebook (a variable to bind, a live background grid)
NOTEBOOK_ONLY = ("--name", "--background")
#: options of a sweep (the command line's `sweep` has them, `generate` not)
SWEEP_ONLY = ("--sweep", "--zip", "--budget", "--yes")


def add_cell_options(parser: argparse.ArgumentParser, *, leave_out=()) -> None:
    """Add the `%%banana` options to an argparse parser; those in `leave_out` keep their
    unset value (so `command_from_args` reads the namespace the same way)."""
    for option in CELL_OPTIONS:
        if option.flag in leave_out:
            parser.set_defaults(**{option.dest: option.unset})
        else:
            parser.add_argument(*option.names, **option.options)


def cell_arguments(func):
    """The `%%banana` options, attached with IPython's magic_arguments (so `%%banana?` helps)."""
    # the usage line reads `%%banana [...]`
    decorators: list[Any] = [magic_arguments(name="%banana")]
    decorators += [argument(*option.names, **option.options) for option in CELL_OPTIONS]
    for decorate in reversed(decorators):
        func = decorate(func)
    func.parser.allow_abbrev = False  # `--res 2K` is an unknown option, not --resolution
    # magic_arguments starts the help with "::" (reST for Sphinx); `%%banana?` reads plain
    func.__doc__ = (func.__doc__ or "").removeprefix("::\n\n").lstrip(" ")
    return func


def split_line(line: str) -> list[str]:
    """The magic line as `shlex` words; unbalanced quotes are a UsageError."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"Cannot read the magic line ({exc}); balance the quotes.") from None


def resolve_value(value, namespace: Mapping[str, Any]):
    """A value written `$name` is that notebook variable's value; others stay as they are."""
    if isinstance(value, str):
        match = _NAME.match(value.strip())
        if match:
            name = match.group(1)
            if name not in namespace:
                raise UsageError(
                    f"${name} is not defined; define {name} in the notebook "
                    "or write the value itself."
                )
            return namespace[name]
        _refuse_expression(value)
    return value


def _refuse_expression(text: str) -> None:
    """A `$` word that is not a bare name would be sent literally, in a paid prompt."""
    if _EXPRESSION.match(text.strip()):
        raise UsageError(
            f"{text.strip()[:60]!r} is not a bare $name; only a variable name may "
            "follow $, so compute that value into a variable first and write $variable."
        )


def _refuse_extras(extras: list[str]) -> None:
    word = extras[0]
    if word.startswith("-"):
        raise UsageError(f"Unknown option {word.split('=')[0]}; `%%banana?` lists the options.")
    raise UsageError(
        f"Unexpected {word!r} on the magic line; the prompt goes in the cell "
        "body and options start with --."
    )


def _reworded(error: UsageError) -> UsageError:
    """argparse's own complaints ("argument -n/--n: expected one argument") as a sentence."""
    match = re.match(r"argument (\S+): (.*)", str(error))
    if match is None:
        return error
    option, problem = match.group(1).split("/")[-1], match.group(2)
    if problem == "expected one argument":
        return UsageError(f"{option} needs a value after it; `%%banana?` lists the options.")
    return UsageError(f"{option}: {problem}; `%%banana?` lists the options.")


@dataclasses.dataclass
class CellCommand:
    """What a `%%banana` cell asks for, with namespace values already resolved."""

    model: str | None = None
    size: str | None = None
    n: int | None = None
    resolution: str | None = None
    refs: list = dataclasses.field(default_factory=list)
    name: str | None = None
    out: str | None = None
    cache: bool = True
    variant: str | None = None
    dry_run: bool = False
    sweep: dict[str, Any] = dataclasses.field(default_factory=dict)
    zip: bool = False
    concurrency: int | None = None
    budget: float | None = None
    yes: bool = False
    search: bool = False
    image_search: bool = False
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    background: bool = False
    refine: str | None = None
    tags: list = dataclasses.field(default_factory=list)

    def request_options(self) -> dict:
        """Keyword arguments for ImageRequest.create (unset ones left out)."""
        options = {
            "model": self.model,
            "size": self.size,
            "n": self.n,
            "resolution": self.resolution,
            "reference_images": tuple(self.refs),
            "google_search": self.search,
            "google_image_search": self.image_search,
            "extra_metadata": self.meta or None,
            "variant": self.variant,
        }
        return {k: v for k, v in options.items() if v is not None}


def parse_cell_line(magic_func, line: str, namespace: Mapping[str, Any]) -> CellCommand:
    """Parse the magic line; raise UsageError (one sentence) on anything malformed."""
    try:
        args, extras = magic_func.parser.parse_known_args(split_line(line))
    except UsageError as exc:
        raise _reworded(exc) from None
    if extras:
        _refuse_extras(extras)
    return command_from_args(args, namespace)


def command_from_args(args: argparse.Namespace, namespace: Mapping[str, Any]) -> CellCommand:
    """The CellCommand of parsed options (from the magic line or the command line):
    `$name` values resolved in `namespace`, numbers and KEY=VALUE forms checked."""

    def resolve(value):
        return resolve_value(value, namespace)

    def number(option, value, kind, setting=None):
        value = resolve(value)
        if value is None:
            return None
        try:
            result = kind(value)
        except (TypeError, ValueError):
            wanted = "a whole number" if kind is int else "a number"
            raise UsageError(f"{option} needs {wanted}, not {value!r}.") from None
        if isinstance(value, bool) or (
            kind is int and isinstance(value, float) and not value.is_integer()
        ):
            raise UsageError(f"{option} needs a whole number, not {value!r}.")
        if setting is not None:
            try:
                check_setting(setting, result, label=option)
            except ValidationError as exc:
                raise UsageError(str(exc)) from None
        return result

    refs: list = []
    for ref in args.ref:
        value = resolve(ref)
        refs.extend(value if isinstance(value, (list, tuple)) else [value])

    sweep: dict[str, Any] = {}
    for spec in args.sweep:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise UsageError(
                f"--sweep {spec!r} is malformed; write --sweep KEY=V1,V2 (or KEY=$list)."
            )
        if key in sweep:
            raise UsageError(f"--sweep {key} was given twice; list all its values once.")
        sweep[key] = resolve(values.strip())
        if isinstance(sweep[key], str):  # KEY=a,$b: each listed value is checked too
            for item in sweep[key].split(","):
                if _NAME.match(item.strip()):
                    raise UsageError(
                        f"--sweep {key}: {item.strip()!r} inside a list is not looked up; "
                        f"put all the values in one list variable and write {key}=$thatlist."
                    )
                _refuse_expression(item)

    meta: dict[str, Any] = {}
    for item in args.meta:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--meta {item!r} is malformed; write --meta KEY=VALUE.")
        meta[key.strip()] = _json_scalar(resolve(value))

    name = resolve(args.name)
    if name is not None and not (isinstance(name, str) and name.isidentifier()):
        raise UsageError(f"--name {name!r} is not a valid Python variable name.")

    return CellCommand(
        model=resolve(args.model),
        size=resolve(args.size),
        n=number("--n", args.n, int),
        resolution=resolve(args.resolution),
        refs=refs,
        name=name,
        out=resolve(args.out),
        cache=not args.no_cache,
        variant=resolve(args.variant),
        dry_run=args.dry_run,
        sweep=sweep,
        zip=args.zip,
        concurrency=number("--concurrency", args.concurrency, int, "concurrency"),
        budget=number("--budget", args.budget, float, "budget"),
        yes=args.yes,
        search=args.search or args.image_search,
        image_search=args.image_search,
        meta=meta,
        background=args.background,
        refine=resolve(args.refine),
        tags=[str(resolve(word)) for word in args.tag],
    )


def _json_scalar(value):
    """--meta values: true/false/null/numbers become JSON scalars, the rest stay strings."""
    if not isinstance(value, str):
        return value
    import json

    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, (bool, int, float)) or parsed is None else value
