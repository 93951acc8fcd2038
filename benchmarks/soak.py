"""Soak: 200 tasks under about 10 % injected faults; is every paid image delivered, is
anything paid twice, and does memory stay flat?

    python benchmarks/soak.py [--tasks 200] [--waves 4] [--concurrency 16]

The simulator runs in its own process (like a real server) with short tasks and a mix of
faults: 429 with Retry-After and 503 on submit, 429 / 5xx / dropped connections /
truncated JSON on status queries, dropped downloads and failed tasks. Faults whose
outcome no client can know (`submit_500`: a task created but answered 500, `submit_drop`:
the answer to a submit lost) are left out of the mix: our client deliberately does not
resend those submits (that could pay twice) and reports them instead, which the fault
tests cover.

The tasks run through one output folder in `--waves` consecutive engine runs; after each
wave the process's traced Python memory (tracemalloc, after a garbage collection) and its
RSS are sampled, so the table shows memory at the start, the middle and the end.

Reported: delivered (images on disk) against what the server completed, failed (server
said failed, or never finished), lost (completed on the server but not delivered: goal 0),
duplicates (tasks created more than once for the same request: goal 0), retries (requests
our client repeated), faults injected, and memory per wave. Exit status 0 when every goal
is met.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from polling import SimulatorProcess

from nanobanana_magic._engine import Engine
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store
from nanobanana_magic.simulator import SIM_API_KEY

FAULTS = {
    "submit_429": 0.04,
    "submit_503": 0.06,
    "status_429": 0.03,
    "status_5xx": 0.06,
    "status_drop": 0.06,
    "status_malformed_json": 0.03,
    "download_drop": 0.06,
    "task_fail": 0.04,
}
SERVER = {
    "duration": 0.3,
    "duration_jitter": 0.3,
    "queue_delay": 0.05,
    "retry_after": 0.2,
    "seed": 11,
}
#: memory may grow this much from the first wave to the last and still count as flat
FLAT_TOLERANCE_MB = 8.0


def sample_memory() -> tuple[float, float, float]:
    """(traced MB now, traced MB peak since the last sample, RSS MB) after a collection."""
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    rss = psutil.Process().memory_info().rss
    return current / 1e6, peak / 1e6, rss / 1e6


def run_wave(base_url: str, out: Path, prompts: list[str], concurrency: int):
    engine = Engine(
        store=Store(out), api_key=SIM_API_KEY, base_url=base_url, concurrency=concurrency
    )
    requests = [ImageRequest.create(prompt, resolution="0.5K") for prompt in prompts]
    runs = asyncio.run(engine.run(requests, cache=False))
    return runs, engine.retries


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)

    sim = SimulatorProcess()
    try:
        sim.configure(**SERVER, **FAULTS)
        tracemalloc.start()
        memory = [("start",) + sample_memory()]
        prompts = [f"soak task {i}: a paper boat on a pond" for i in range(args.tasks)]
        per_wave = -(-args.tasks // args.waves)
        runs, retries = [], 0
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "soak"
            for wave in range(args.waves):
                chunk = prompts[wave * per_wave : (wave + 1) * per_wave]
                if not chunk:
                    break
                wave_runs, wave_retries = run_wave(sim.base_url, out, chunk, args.concurrency)
                runs += wave_runs
                retries += wave_retries
                memory.append((f"after wave {wave + 1}",) + sample_memory())
                print(
                    f"wave {wave + 1}: {sum(r.ok for r in wave_runs)}/{len(chunk)} "
                    f"delivered, {time.monotonic() - started:.1f} s",
                    flush=True,
                )
            wall = time.monotonic() - started
            on_disk = {
                run.task_id
                for run in runs
                if run.ok and run.images and all(image.path.is_file() for image in run.images)
            }
        stats = sim.stats()
    finally:
        sim.stop()
        tracemalloc.stop()

    tasks = stats["tasks"]
    completed = {tid for tid, t in tasks.items() if t["status"] == "completed"}
    failed_server = {tid for tid, t in tasks.items() if t["status"] == "failed"}
    per_prompt = collections.Counter(t["prompt"] for t in tasks.values())
    duplicates = sum(count - 1 for count in per_prompt.values() if count > 1)
    lost = completed - on_disk
    not_ok = [run for run in runs if not run.ok]
    reasons = collections.Counter(run.error_type for run in not_ok)
    faults = {k: v for k, v in stats["faults_injected"].items() if v}
    requests = stats["submit_requests"] + stats["status_requests"] + stats["downloads"]

    print()
    print(
        f"Soak: {args.tasks} tasks in {args.waves} waves, concurrency {args.concurrency}, "
        f"{wall:.1f} s"
    )
    rows = [
        ("tasks requested", args.tasks),
        ("tasks created on the server", stats["tasks_created"]),
        ("completed on the server", len(completed)),
        ("delivered (images on disk)", len(on_disk)),
        (
            "delivered / server-completed",
            f"{len(on_disk & completed) / max(1, len(completed)):.1%}",
        ),
        ("lost (completed, not delivered)", len(lost)),
        ("failed on the server", len(failed_server)),
        ("failed runs by reason", dict(reasons) or "-"),
        ("duplicates (created twice)", duplicates),
        ("retries (client.retries)", retries),
        ("requests seen by the server", requests),
        (
            "faults injected",
            f"{sum(faults.values())} ({sum(faults.values()) / requests:.1%} of requests)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print("  faults by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))
    print()
    print(f"  {'memory':<14}{'traced MB':>11}{'peak MB':>10}{'RSS MB':>10}")
    for label, current, peak, rss in memory:
        print(f"  {label:<14}{current:>11.1f}{peak:>10.1f}{rss:>10.1f}")
    growth = memory[-1][1] - memory[1][1]
    rss_growth = memory[-1][3] - memory[1][3]
    print(f"  traced growth first wave -> last: {growth:+.2f} MB; RSS {rss_growth:+.1f} MB")

    goals = {
        "100 % of server-completed tasks delivered": not lost,
        "0 duplicates": duplicates == 0 and stats["tasks_created"] == args.tasks,
        "failed runs are exactly the server's failures": {r.task_id for r in not_ok}
        == failed_server
        and reasons.keys() <= {"TaskFailedError"},
        f"memory flat (traced growth <= {FLAT_TOLERANCE_MB:g} MB)": growth <= FLAT_TOLERANCE_MB,
    }
    print()
    for goal, met in goals.items():
        print(f"  [{'met' if met else 'MISSED'}] {goal}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
