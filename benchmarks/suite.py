"""How long the in-process test suite takes: as the README's test command runs it, serially,
and as the suite stood when issue 10 asked for it to run in half its time.

    python benchmarks/suite.py [--workers 6] [--baseline-commit 75c6ee6] [--no-serial]

In one run, on this machine, one after the other (the machine is shared: nothing else of
ours runs meanwhile):

* baseline: the in-process tests (`-m "not browser and not kernel"`) of
  `--baseline-commit` (default: the commit on which issue 10 was filed), exported with
  `git archive` into a temporary folder and run serially, as its README ran them, with
  this checkout's virtualenv;
* ours: this checkout's in-process tests as `scripts/test.sh` runs them (`-n WORKERS`);
* serial: the same tests without workers (skip with `--no-serial`).

Printed: wall time, CPU time of pytest and its children, and the number of tests of each,
and the ratios to the baseline. Goal (issue 10): the README's command runs the in-process
suite in at most half the baseline's time. The serial figure shows what the workers buy:
most of a test's time is spent waiting on simulated tasks, not computing.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "not browser and not kernel"
GOAL = 0.5


def run_suite(tree: Path, *extra: str) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the children, tests passed) of one pytest run in
    `tree`, which must pass."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    answer = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "-m", MARK, *extra],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = answer.stdout.strip().splitlines()[-1] if answer.stdout.strip() else ""
    if answer.returncode != 0:
        failed = [line for line in answer.stdout.splitlines() if line.startswith("FAILED")]
        raise SystemExit(f"the suite in {tree} failed: {summary}\n" + "\n".join(failed))
    passed = re.search(r"(\d+) passed", summary)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, int(passed.group(1)) if passed else 0


def export(commit: str, into: Path) -> Path:
    """The tree of `commit` (tests included) in `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=6, help="as scripts/test.sh runs it")
    parser.add_argument("--baseline-commit", default="75c6ee6")
    parser.add_argument("--no-serial", action="store_true", help="skip the serial run")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nanobanana-suite-") as tmp:
        old = export(args.baseline_commit, Path(tmp))
        print(f"baseline: {args.baseline_commit}, serially ...", flush=True)
        rows.append((f"baseline {args.baseline_commit}, serial", *run_suite(old)))
        print("  {1:.1f} s wall, {2:.1f} s CPU, {3} tests".format(*rows[-1]), flush=True)
    print(f"ours: -n {args.workers} ...", flush=True)
    rows.append(
        (f"ours, -n {args.workers} (scripts/test.sh)", *run_suite(ROOT, "-n", str(args.workers)))
    )
    if not args.no_serial:
        print("ours: serially ...", flush=True)
        rows.append(("ours, serial", *run_suite(ROOT)))
    base_wall = rows[0][1]
    print()
    print(f"{'in-process suite':40} {'tests':>6} {'wall':>8} {'CPU':>8} {'vs baseline':>12}")
    for name, wall, cpu, tests in rows:
        print(f"{name:40} {tests:6d} {wall:7.1f}s {cpu:7.1f}s {wall / base_wall:11.2f}x")
    ratio = rows[1][1] / base_wall
    print()
    print(
        f"README's command over the baseline: {ratio:.2f}x (goal <= {GOAL}: "
        f"{'met' if ratio <= GOAL else 'MISSED'}); per test "
        f"{rows[0][1] / rows[0][3]:.3f} s -> {rows[1][1] / rows[1][3]:.3f} s"
    )
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
