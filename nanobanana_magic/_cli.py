"""The `nanobanana` command: the magic's capabilities for scripts, cron jobs and CI.

`generate` and `sweep` take the `%%banana` line's options (the same definitions,
`CELL_OPTIONS`), and every command that talks to the API takes `--sim` (the built-in
simulator) and `--base-url`. Results go to stdout (`--json` for scripts), progress to
stderr: a live table in a terminal, plain lines otherwise.

Exit codes: 0 done; 1 some task failed; 2 bad input (nothing was sent); 3 over budget
(nothing was sent); 130 interrupted (submitted tasks stay resumable: `nanobanana resume`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import _errors as errors

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_OVER_BUDGET = 3
EXIT_INTERRUPTED = 130

_EPILOG = (
    "Exit codes: 0 done, 1 some task failed, 2 bad input (nothing sent), "
    "3 over budget (nothing sent), 130 interrupted (tasks stay resumable: nanobanana resume)."
)


def _parent(*adders) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    for add in adders:
        add(parser)
    return parser


def _api_options(parser) -> None:
    parser.add_argument(
        "--sim",
        action="store_true",
        help="start the built-in simulator for this command and use it "
        "(images are simulated placeholders, nothing is paid)",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="API base URL (default: TOAPIS_BASE_URL, else https://toapis.com); "
        "the key comes from TOAPIS_API_KEY",
    )
    parser.add_argument(
        "--fanout",
        choices=("auto", "always", "never"),
        default="auto",
        help="requests of n > 1 images as n tasks of one image: auto (once the gateway "
        "refused n > 1, remembered in the output folder; the default), always or never",
    )


def _json_option(parser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the result as JSON (for scripts)"
    )


def _out_option(parser) -> None:
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default: NANOBANANA_OUTPUT_DIR, else ./banana_outputs)",
    )


def _run_argument(parser, help="a run: its id, a unique part of one, last or -N") -> None:
    parser.add_argument("run", metavar="RUN", help=help)


def build_parser() -> argparse.ArgumentParser:
    from ._cell_options import NOTEBOOK_ONLY, SWEEP_ONLY, add_cell_options
    from ._explore_commands import history_filter_parser

    parser = argparse.ArgumentParser(
        prog="nanobanana",
        description="Nano Banana 2 image generation through ToAPIs, with a built-in simulator.",
        epilog=_EPILOG,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    api, json_, out = _parent(_api_options), _parent(_json_option), _parent(_out_option)

    def command(name, help, parents=(), **kwargs):
        return commands.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog=_EPILOG,
            parents=list(parents),
            allow_abbrev=False,
            **kwargs,
        )

    gen = command("generate", "generate images for one prompt and print their paths", [api, json_])
    gen.add_argument("prompt", help="the prompt (quote it)")
    add_cell_options(gen, leave_out=NOTEBOOK_ONLY + SWEEP_ONLY)

    swp = command(
        "sweep",
        "one prompt over several values of parameters or {names}, as a labelled grid",
        [api, json_],
    )
    swp.add_argument(
        "prompt_or_plan",
        metavar="PROMPT|PLAN.toml",
        help="the prompt, with {name}s to sweep, or a TOML plan file with the same keys "
        "as the options (prompt = ..., [sweep] table)",
    )
    add_cell_options(swp, leave_out=NOTEBOOK_ONLY)

    hist = command(
        "history",
        "recent runs and sweeps (one entry each), newest first",
        [out, json_, history_filter_parser()],
    )
    hist.add_argument(
        "count", nargs="?", type=int, default=20, metavar="N", help="how many (default 20)"
    )

    shw = command(
        "show",
        "write an HTML page of stored runs or sweeps (a sweep as its grid) and print its path",
        [out, json_],
    )
    shw.add_argument(
        "runs", nargs="+", metavar="RUN", help="run or sweep ids, unique parts, last or -N"
    )

    rer = command(
        "rerun", "run a stored run's request, or every cell of a sweep, again", [api, out, json_]
    )
    _run_argument(rer, help="a run or a sweep: its id, a unique part of one, last or -N")
    rer.add_argument(
        "--no-cache", action="store_true", help="generate again even though it is cached"
    )
    rer.add_argument("--yes", action="store_true", help="rerun a sweep even above its budget")
    rer.add_argument("--budget", type=float, metavar="USD", help="a sweep's budget (default $1.00)")

    command(
        "resume",
        "collect tasks that were submitted but never collected (an interrupt, a crash)",
        [api, out, json_],
    )

    exp = command("export", "the exact request of a stored run, for production code", [out])
    _run_argument(exp)
    exp.add_argument(
        "--as",
        dest="as_kind",
        choices=("python", "curl", "json"),
        default="python",
        help="python (httpx), curl or the JSON body (default python)",
    )

    command("cost", "what the output folder's images cost, paid and simulated apart", [out, json_])

    command(
        "sim",
        "run the ToAPIs simulator in the foreground (nanobanana sim --help)",
        add_help=False,
    ).add_argument("sim_args", nargs=argparse.REMAINDER, help="the simulator's own options")

    demo = command("demo", "execute the tutorial notebooks into demo_output/")
    demo.add_argument(
        "--out", default="demo_output", help="where the executed notebooks and HTML go"
    )
    demo.add_argument(
        "--yes",
        action="store_true",
        help="with TOAPIS_API_KEY set: spend real money without asking",
    )
    demo.add_argument(
        "--sim", action="store_true", help="use the simulator even when TOAPIS_API_KEY is set"
    )
    return parser


def _with_plan(parser: argparse.ArgumentParser, argv: list[str], args):
    """`sweep PLAN.toml [options]`: the plan's options parsed as if given before the rest."""
    if args.command != "sweep" or not args.prompt_or_plan.endswith(".toml"):
        return args
    from ._cli_plan import read_plan

    prompt, words, axes = read_plan(Path(args.prompt_or_plan))
    at = argv.index(args.prompt_or_plan) + 1
    planned = parser.parse_args([*argv[:at], *words, *argv[at:]])
    planned.plan = (prompt, axes)
    return planned


def _dispatch(args) -> int:
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo(args.out, yes=args.yes, force_sim=args.sim)
    from . import _cli_commands as commands

    return getattr(commands, args.command)(args)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["sim"]:  # argparse's REMAINDER would refuse leading options like --port
        from .simulator.__main__ import main as sim_main

        return sim_main(argv[1:]) or 0
    from IPython.core.error import UsageError

    from ._sweep_plan import BudgetExceededError

    parser = build_parser()
    args = parser.parse_args(argv)  # bad options: usage and exit code 2 (argparse)
    try:
        return _dispatch(_with_plan(parser, argv, args))
    except BudgetExceededError as exc:
        print(f"{exc.title}: {exc}", file=sys.stderr)
        return EXIT_OVER_BUDGET
    except UsageError as exc:
        print(f"Bad input: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (errors.ValidationError, errors.ConfigurationError) as exc:
        print(f"{exc.title}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except errors.BananaError as exc:
        print(f"{exc.title}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(
            "Interrupted: submitted tasks stay in the journal; nanobanana resume "
            "(with the same --out and --base-url/--sim) collects them without paying again.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
