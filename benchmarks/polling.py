"""Benchmark: how soon after the server finishes a task is its image on disk, and at what
cost in status queries? Our engine against a fixed 3 s poller measured in the same run.

    python benchmarks/polling.py [--tasks 8] [--repeat 3] [--quick]

Workloads (issue 14): tasks of 20 s ± 30 % (the main one), 8 s ± 50 % and 45 s ± 20 %,
8 submitted together, for each way of reporting progress: "none" (0 until done),
"coarse" (0 → 50 → 100) and "fine" (1 %). Each (workload, progress) pair is a chain with
its own simulator process, run as two waves:

* cold: a fresh process runs our engine on an empty output folder (nothing learned);
* warm: a NEW process runs it again on the same output folder, so all it knows is what
  the cold process left there (durations.jsonl); nothing is carried in memory.

In every wave the same simulator also serves 8 tasks to a baseline: a small httpx loop
that polls every 3 s and downloads on `completed`. Both sides run in interpreters of
their own, so neither is slowed by the other's work. Tasks run for real (no time
scaling); a round runs the chains side by side to take a few minutes, and `--repeat`
rounds (one after the other: the machine is shared) are pooled.

Figures: the median time from the simulator's `finished_at` to the image file being
written (its mtime), the mean status queries per task as the simulator counted them, and
the median time from `finished_at` to the first status query that found the task done
(the poller's own share of the lateness), all over the pooled tasks: one wave's median
of 8 wanders by about a sixth of the poll interval, so a single round is too few.

Goals (20 s tasks): none cold <= 1.5 s and <= 7.5 queries, none warm <= 1.3 s and <= 5.5;
coarse cold <= 1.0 s and <= 7 (warm better); fine <= 0.15 s and <= 4. For 8 s and 45 s
tasks: not behind the 3 s poller (latency within 10 % + 0.1 s of it, queries within
5 % + 0.3).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from nanobanana_magic.simulator import SIM_API_KEY

QUEUE_DELAY = 0.2
RESOLUTION = "0.5K"
BASELINE_INTERVAL = 3.0
WORKLOADS = {"20 s ± 30 %": (20.0, 0.30), "8 s ± 50 %": (8.0, 0.50), "45 s ± 20 %": (45.0, 0.20)}
MAIN = "20 s ± 30 %"
MODES = {"none": "none", "coarse": "coarse", "fine": "linear"}
GOALS = {  # (workload, mode, phase): (seconds late, queries per task)
    (MAIN, "none", "cold"): (1.5, 7.5),
    (MAIN, "none", "warm"): (1.3, 5.5),
    (MAIN, "coarse", "cold"): (1.0, 7.0),
    (MAIN, "coarse", "warm"): (1.0, 7.0),
    (MAIN, "fine", "cold"): (0.15, 4.0),
    (MAIN, "fine", "warm"): (0.15, 4.0),
}


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

    def configure(self, **knobs) -> None:
        """Change the simulator's knobs (benchmarks/soak.py sets its faults this way)."""
        httpx.post(f"{self.base_url}/_sim/config", json=knobs, timeout=30).raise_for_status()

    def stats(self) -> dict:
        return httpx.get(f"{self.base_url}/_sim/stats", timeout=30).raise_for_status().json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def in_new_process(side: str, base_url: str, out: Path, prompts: list[str]) -> dict[str, float]:
    """One side ("ours" or "baseline") in a fresh interpreter, so that neither shares an
    interpreter (and its lock) with the other or with other chains; returns
    {task_id: time the image file was written}."""
    answer = subprocess.run(
        [sys.executable, __file__, f"--{side}", base_url, str(out), json.dumps(prompts)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def ours_main(base_url: str, out: str, prompts: list[str]) -> None:
    from nanobanana_magic._engine import Engine
    from nanobanana_magic._request import ImageRequest
    from nanobanana_magic._store import Store

    engine = Engine(
        store=Store(out), api_key=SIM_API_KEY, base_url=base_url, concurrency=len(prompts)
    )
    requests = [ImageRequest.create(p, size="1:1", resolution=RESOLUTION) for p in prompts]
    runs = asyncio.run(engine.run(requests, cache=False))
    on_disk = {}
    for run in runs:
        if not run.ok:
            raise SystemExit(f"our engine failed a task: {run.error}")
        on_disk[run.task_id] = run.images[0].path.stat().st_mtime
    print(json.dumps(on_disk))


async def baseline(base_url: str, out: Path, prompts: list[str]) -> dict[str, float]:
    """A fixed-interval poller: submit, then GET every 3 s; download on `completed`."""
    out.mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {SIM_API_KEY}"}

    async def one(client, files, index: int, prompt: str) -> tuple[str, float]:
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
        httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client,
        httpx.AsyncClient(timeout=30) as files,
    ):
        pairs = await asyncio.gather(*(one(client, files, i, p) for i, p in enumerate(prompts)))
    return dict(pairs)


def measure(stats: dict, on_disk: dict[str, float]) -> list[tuple[float, int, float]]:
    """(seconds from finish to file, status queries, seconds from finish to the status
    query that found it done) of each of some tasks."""
    tasks = stats["tasks"]
    return [
        (
            on_disk[t] - tasks[t]["finished_at"],
            tasks[t]["polls"],
            tasks[t]["seen_done_at"] - tasks[t]["finished_at"],
        )
        for t in on_disk
    ]


def summarise(tasks: list[tuple[float, int, float]]) -> tuple[float, float, float]:
    """(median seconds from finish to file, mean queries per task, median seconds from
    finish to the query that found it done)."""
    return (
        statistics.median(d for d, _, _ in tasks),
        statistics.mean(q for _, q, _ in tasks),
        statistics.median(f for _, _, f in tasks),
    )


def chain(workload: str, mode: str, count: int, root: Path, seed: int) -> list[tuple]:
    """One simulator; a cold then a warm wave: [(workload, mode, phase, ours, baseline)]
    with per-task figures (`measure`)."""
    duration, jitter = WORKLOADS[workload]
    sim = SimulatorProcess(
        *("--duration", str(duration), "--duration-jitter", str(jitter)),
        *("--queue-delay", str(QUEUE_DELAY), "--seed", str(seed)),
        f"--set=progress_mode={json.dumps(MODES[mode])}",
    )
    out = root / f"{duration:.0f}-{mode}-{seed}"
    rows = []
    try:
        for phase in ("cold", "warm"):
            ours_prompts = [f"{workload} {mode} {phase} ours #{i}" for i in range(count)]
            base_prompts = [f"{workload} {mode} {phase} baseline #{i}" for i in range(count)]
            with ThreadPoolExecutor(1) as side:
                ours_future = side.submit(
                    in_new_process, "ours", sim.base_url, out / "ours", ours_prompts
                )
                base_out = out / f"baseline-{phase}"
                base = in_new_process("baseline", sim.base_url, base_out, base_prompts)
                ours = ours_future.result()
            stats = sim.stats()
            rows.append((workload, mode, phase, measure(stats, ours), measure(stats, base)))
            print(f"  done: {workload}, {mode} progress, {phase}", flush=True)
    finally:
        sim.stop()
    return rows


def verdict(workload: str, mode: str, phase: str, ours, base) -> tuple[bool, str]:
    goal = GOALS.get((workload, mode, phase))
    if goal is not None:
        met = ours[0] <= goal[0] and ours[1] <= goal[1]
        return met, f"{'met' if met else 'MISSED'} (≤ {goal[0]} s, ≤ {goal[1]})"
    met = ours[0] <= base[0] * 1.1 + 0.1 and ours[1] <= base[1] * 1.05 + 0.3
    return met, "not behind" if met else "BEHIND the 3 s poller"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=8, help="tasks per side per wave")
    parser.add_argument("--repeat", type=int, default=3, help="rounds pooled per pair")
    parser.add_argument("--quick", action="store_true", help="only the 20 s workload")
    parser.add_argument("--ours", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ours:
        ours_main(args.ours[0], args.ours[1], json.loads(args.ours[2]))
        return 0
    if args.baseline:
        url, out, prompts = args.baseline
        print(json.dumps(asyncio.run(baseline(url, Path(out), json.loads(prompts)))))
        return 0
    started = time.monotonic()
    workloads = [MAIN] if args.quick else list(WORKLOADS)
    jobs = [(w, m) for w in workloads for m in MODES]
    print(
        f"{args.repeat} rounds, each running {len(jobs)} chains side by side (cold then "
        f"warm, {args.tasks} tasks a side); the rounds' tasks are pooled"
    )
    pooled: dict[tuple[str, str, str], tuple[list, list]] = {}
    with tempfile.TemporaryDirectory(prefix="nanobanana-polling-") as tmp:
        for round_ in range(args.repeat):  # one round at a time: the machine is shared
            with ThreadPoolExecutor(len(jobs)) as pool:
                futures = [
                    pool.submit(chain, w, m, args.tasks, Path(tmp), seed + len(jobs) * round_)
                    for seed, (w, m) in enumerate(jobs)
                ]
                for future in futures:
                    for workload, mode, phase, ours, base in future.result():
                        mine, theirs = pooled.setdefault((workload, mode, phase), ([], []))
                        mine.extend(ours)
                        theirs.extend(base)
    results = [(*key, summarise(ours), summarise(base)) for key, (ours, base) in pooled.items()]
    print()
    print(
        f"Simulator (own process per chain): queue {QUEUE_DELAY} s, {RESOLUTION} images; "
        f"{args.tasks} tasks a side submitted together, {args.repeat} rounds pooled; "
        "baseline polls every "
        f"{BASELINE_INTERVAL:.0f} s. cold = new process, empty folder; warm = NEW process, "
        "same folder."
    )
    print(
        "late = median seconds from the server finishing a task to its image file; "
        "queries = status queries per task (mean), counted by the simulator; found = median "
        "seconds from finishing to the status query that found it done (the poller's part "
        "of `late`; the rest is the download and filing, which a loaded machine slows)."
    )
    print()
    header = (
        f"{'tasks':12} {'progress':8} {'state':5} | {'ours late':>9} {'queries':>7} "
        f"{'found':>6} | {'3 s late':>8} {'queries':>7} {'found':>6} | goal"
    )
    print(header)
    print("-" * len(header))
    all_met = True
    for workload, mode, phase, ours, base in results:
        met, words = verdict(workload, mode, phase, ours, base)
        all_met &= met
        print(
            f"{workload:12} {mode:8} {phase:5} | {ours[0]:8.2f}s {ours[1]:7.1f} "
            f"{ours[2]:5.2f}s | {base[0]:7.2f}s {base[1]:7.1f} {base[2]:5.2f}s | {words}"
        )
    print()
    print(
        f"all goals met: {'yes' if all_met else 'no'}; "
        f"benchmark took {time.monotonic() - started:.0f} s"
    )
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
