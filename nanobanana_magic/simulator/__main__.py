"""``python -m nanobanana_magic.simulator``: run the simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from .config import PROGRESS_MODES, RESULT_KINDS, SIM_API_KEY, SimulatorConfig, parse_knob
from .simulator import Simulator

DEFAULT_PORT = 8765


def _knob_assignment(text: str) -> tuple[str, object]:
    try:
        return parse_knob(text)  # bare strings need no quotes: --set result_kind=jpeg
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nanobanana_magic.simulator",
        description="Run the local ToAPIs simulator (API and files servers on loopback).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="API server host (default %(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="API server port, 0 for any free port (default %(default)s)",
    )
    parser.add_argument("--files-host", default="127.0.0.1", help="files server host")
    parser.add_argument(
        "--files-port", type=int, default=0, help="files server port (default: any free port)"
    )
    parser.add_argument("--duration", type=float, help="seconds a task runs (default 2.0)")
    parser.add_argument("--queue-delay", type=float, help="seconds a task is queued (default 0.2)")
    parser.add_argument("--duration-jitter", type=float, help="± fraction of the duration")
    parser.add_argument("--progress-mode", choices=PROGRESS_MODES)
    parser.add_argument("--max-running", type=int, help="at most this many tasks run at once")
    parser.add_argument("--rate-limit", action="store_true", help="enforce the §8.1 rate limits")
    parser.add_argument("--seed", type=int, help="seed of the fault generator")
    parser.add_argument("--url-ttl", type=float, help="seconds a result URL stays valid")
    parser.add_argument("--balance", type=float, help="account balance in dollars")
    parser.add_argument("--result-kind", choices=RESULT_KINDS)
    parser.add_argument(
        "--set",
        dest="knobs",
        action="append",
        default=[],
        type=_knob_assignment,
        metavar="KNOB=VALUE",
        help="any other knob, value as JSON (e.g. --set submit_429=0.2); repeatable",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, start the simulator, print how to reach it and serve until Ctrl-C."""
    parser = build_parser()
    args = parser.parse_args(argv)
    knobs = {
        name: getattr(args, name)
        for name in (
            "duration",
            "queue_delay",
            "duration_jitter",
            "progress_mode",
            "max_running",
            "seed",
            "url_ttl",
            "balance",
            "result_kind",
        )
        if getattr(args, name) is not None
    }
    if args.rate_limit:
        knobs["rate_limit"] = True
    knobs.update(dict(args.knobs))
    try:
        simulator = Simulator(
            SimulatorConfig(),
            host=args.host,
            port=args.port,
            files_host=args.files_host,
            files_port=args.files_port,
            **knobs,
        )
        simulator.start()
    except (TypeError, ValueError, OSError) as error:
        parser.exit(2, f"error: {error}\n")
    simulator.log_requests = args.verbose
    print("ToAPIs simulator running (simulated images, no real API calls)")
    print(f"  base URL : {simulator.base_url}")
    print(f"  files URL: {simulator.files_url}")
    print(f"  API key  : {SIM_API_KEY}   (any key starting with 'sk-' is accepted)")
    print(f"  admin    : {simulator.base_url}/_sim/config, /_sim/stats, /_sim/reset")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping simulator", file=sys.stderr)
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
