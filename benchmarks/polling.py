"""Benchmark: how soon after the server finishes a task is its image on disk, and at what
cost in status queries? Our engine (progress-aware polling) against a fixed 3 s poller.

    python benchmarks/polling.py [--tasks 14]

Against the simulator with 7 s ± 25 % tasks, for progress reported linearly and for
progress that only jumps 0 → 50 → 100, each wave runs N tasks through our engine and,
at the same time on the same server, N tasks through a baseline: a small httpx loop that
polls every 3 s and downloads the image as soon as it sees `completed`.

The simulator runs in its own process (as a real server would), with 0.5K images. Like a
real server it has a task's image ready when the task completes (it starts drawing at
submit time), so the measured downloads are plain transfers.

Figures per wave: the median time from the simulator's `finished_at` of a task to its
image file being written (its mtime), and the status queries per task as the simulator
counted them. Each mode runs twice:

* cold: the engine has learned nothing (its table of recent durations is cleared);
* warm: the engine has learned task durations from the cold wave just before it (the
  engine does this on its own for every API it talks to; no other warm-up is used).

Goals (issue 2): linear median <= 0.15 s with <= 5 polls per task; coarse median <= 1.0 s
with <= 6 polls per task (mean polls per task is compared).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from nanobanana_magic import _engine as engine_module
from nanobanana_magic._engine import Engine
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store
from nanobanana_magic.simulator import SIM_API_KEY

DURATION = 7.0
JITTER = 0.25
QUEUE_DELAY = 0.2
RESOLUTION = "0.5K"
BASELINE_INTERVAL = 3.0
GOALS = {"linear": (0.15, 5.0), "coarse": (1.0, 6.0)}


class SimulatorProcess:
    """The simulator in its own process, like a real server, driven over its admin routes."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nanobanana_magic.simulator", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for line in self.process.stdout:
            if "base URL" in line:
                self.base_url = line.split(":", 1)[1].strip()
                break
        else:
            raise SystemExit("the simulator did not start")
        self.admin = httpx.Client(base_url=self.base_url, timeout=30)

    def configure(self, **knobs) -> None:
        self.admin.post("/_sim/config", json=knobs).raise_for_status()

    def stats(self) -> dict:
        return self.admin.get("/_sim/stats").json()

    def stop(self) -> None:
        self.admin.close()
        self.process.terminate()
        self.process.wait(timeout=10)


async def run_ours(sim: SimulatorProcess, out: Path, prompts: list[str]) -> dict[str, float]:
    """Our engine; returns {task_id: time the image file was written}."""
    engine = Engine(
        store=Store(out), api_key=SIM_API_KEY, base_url=sim.base_url, concurrency=len(prompts)
    )
    requests = [
        ImageRequest.create(prompt, size="1:1", resolution=RESOLUTION) for prompt in prompts
    ]
    runs = await engine.run(requests, cache=False)
    on_disk = {}
    for run in runs:
        if not run.ok:
            raise SystemExit(f"our engine failed a task: {run.error}")
        on_disk[run.task_id] = run.images[0].path.stat().st_mtime
    return on_disk


async def run_baseline(sim: SimulatorProcess, out: Path, prompts: list[str]) -> dict[str, float]:
    """A fixed-interval poller: submit, then GET every 3 s; download on `completed`."""
    out.mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {SIM_API_KEY}"}

    async def one(
        client: httpx.AsyncClient, files: httpx.AsyncClient, index: int, prompt: str
    ) -> tuple[str, float]:
        body = {
            "model": "nano-banana-2",
            "prompt": prompt,
            "size": "1:1",
            "n": 1,
            "metadata": {"resolution": RESOLUTION},
        }
        task = (await client.post("/v1/images/generations", json=body)).json()
        while True:
            await asyncio.sleep(BASELINE_INTERVAL)
            status = (await client.get(f"/v1/images/generations/{task['id']}")).json()
            if status["status"] == "completed":
                break
            if status["status"] == "failed":
                raise SystemExit(f"baseline task failed: {status}")
        image = await files.get(status["result"]["data"][0]["url"])
        path = out / f"baseline-{index}.png"
        path.write_bytes(image.content)
        return task["id"], path.stat().st_mtime

    async with (
        httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=30) as client,
        httpx.AsyncClient(timeout=30) as files,
    ):
        pairs = await asyncio.gather(*(one(client, files, i, p) for i, p in enumerate(prompts)))
    return dict(pairs)


def summarise(sim: SimulatorProcess, on_disk: dict[str, float]) -> tuple[float, float, int]:
    """(median seconds from finish to file, mean polls per task, max polls) of some tasks."""
    tasks = sim.stats()["tasks"]
    delays = [on_disk[task_id] - tasks[task_id]["finished_at"] for task_id in on_disk]
    polls = [tasks[task_id]["polls"] for task_id in on_disk]
    return statistics.median(delays), statistics.mean(polls), max(polls)


async def wave(sim: SimulatorProcess, root: Path, label: str, count: int) -> dict:
    ours_prompts = [f"benchmark {label} ours #{i}" for i in range(count)]
    base_prompts = [f"benchmark {label} baseline #{i}" for i in range(count)]
    ours, base = await asyncio.gather(
        run_ours(sim, root / label / "ours", ours_prompts),
        run_baseline(sim, root / label / "baseline", base_prompts),
    )
    return {"ours": summarise(sim, ours), "baseline": summarise(sim, base)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=14, help="tasks per side per wave")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = []
    sim = SimulatorProcess(
        "--duration",
        str(DURATION),
        "--duration-jitter",
        str(JITTER),
        "--queue-delay",
        str(QUEUE_DELAY),
        "--seed",
        "7",
    )
    try:
        with tempfile.TemporaryDirectory(prefix="nanobanana-bench-") as tmp:
            for mode in ("linear", "coarse"):
                sim.configure(progress_mode=mode)
                engine_module._DURATIONS.clear()
                for phase in ("cold", "warm"):
                    label = f"{mode}-{phase}"
                    print(
                        f"running {label}: {args.tasks} tasks ours + {args.tasks} baseline …",
                        flush=True,
                    )
                    results.append(
                        (mode, phase, asyncio.run(wave(sim, Path(tmp), label, args.tasks)))
                    )
    finally:
        sim.stop()

    print()
    print(
        f"Simulator (own process): tasks {DURATION:.0f} s ± {JITTER:.0%}, queue "
        f"{QUEUE_DELAY} s, {RESOLUTION} images; {args.tasks} tasks per side per "
        f"wave; baseline polls every {BASELINE_INTERVAL:.0f} s."
    )
    print(
        "cold = the engine has learned no task durations; warm = it learned them from the "
        "cold wave before (no other warm-up)."
    )
    print(
        "finish→disk = median seconds from the server finishing a task to its image file "
        "being written;\npolls = status queries per task (mean, max), counted by the "
        "simulator."
    )
    print()
    header = (
        f"{'mode':7} {'state':5} | {'ours finish→disk':>16} {'polls':>10} | "
        f"{'3 s poller':>10} {'polls':>10} | {'latency':>8} {'polls':>6} | goal"
    )
    print(header)
    print("-" * len(header))
    all_met = True
    for mode, phase, figures in results:
        (o_lat, o_polls, o_max), (b_lat, b_polls, b_max) = figures["ours"], figures["baseline"]
        goal_lat, goal_polls = GOALS[mode]
        met = o_lat <= goal_lat and o_polls <= goal_polls
        all_met &= met
        print(
            f"{mode:7} {phase:5} | {o_lat:15.3f}s {o_polls:5.1f} ({o_max:2d}) | "
            f"{b_lat:9.3f}s {b_polls:5.1f} ({b_max:2d}) | "
            f"{o_lat / b_lat:7.2f}x {o_polls / b_polls:5.2f}x | "
            f"{'met' if met else 'MISSED'} (≤ {goal_lat} s, ≤ {goal_polls:.0f} polls)"
        )
    print()
    print("ratios are ours / baseline (lower is better).")
    print(
        f"all goals met: {'yes' if all_met else 'no'}; "
        f"benchmark took {time.monotonic() - started:.0f} s"
    )
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
