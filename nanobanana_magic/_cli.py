"""The `nanobanana` command: generate, sim (the simulator) and demo."""

from __future__ import annotations

import argparse
import sys

from . import _errors as errors


def _generate(args) -> int:
    from ._api import generate

    run = generate(
        args.prompt,
        model=args.model,
        size=args.size,
        n=args.n,
        resolution=args.resolution,
        reference_images=args.ref,
        output_dir=args.out,
        base_url=args.base_url,
        cache=not args.no_cache,
    )
    note = f"from the cache (run {run.run_id})" if run.cached else f"run {run.run_id}"
    print(f"{len(run.images)} image(s), {note}:")
    for image in run.images:
        print(image.path)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["sim"]:  # argparse's REMAINDER would refuse leading options like --port
        from .simulator.__main__ import main as sim_main

        return sim_main(argv[1:]) or 0
    parser = argparse.ArgumentParser(
        prog="nanobanana",
        description=("Nano Banana 2 image generation through ToAPIs, with a built-in simulator."),
    )
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="generate images and print their paths")
    gen.add_argument("prompt")
    gen.add_argument("--model")
    gen.add_argument("--size")
    gen.add_argument("-n", "--n", type=int, default=1)
    gen.add_argument("--resolution")
    gen.add_argument("--ref", action="append", default=[], help="reference image (repeatable)")
    gen.add_argument("--out", help="output folder (default ./banana_outputs)")
    gen.add_argument("--base-url", help="API base URL (default TOAPIS_BASE_URL or ToAPIs)")
    gen.add_argument("--no-cache", action="store_true")

    sim = commands.add_parser(
        "sim", help="run the ToAPIs simulator in the foreground", add_help=False
    )
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)

    demo = commands.add_parser("demo", help="execute the tutorial notebooks into demo_output/")
    demo.add_argument("--out", default="demo_output")
    demo.add_argument(
        "--yes",
        action="store_true",
        help="with TOAPIS_API_KEY set: spend real money without asking",
    )
    demo.add_argument(
        "--sim", action="store_true", help="use the simulator even when TOAPIS_API_KEY is set"
    )

    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            return _generate(args)
        if args.command == "sim":
            from .simulator.__main__ import main as sim_main

            return sim_main(args.sim_args) or 0
        from ._demo import run_demo

        return run_demo(args.out, yes=args.yes, force_sim=args.sim)
    except errors.BananaError as exc:
        print(f"{exc.title}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "Interrupted; submitted tasks stay in the journal (nanobanana_magic.resume()).",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
