"""Two processes writing to one output folder at once: the shared journal still parses line
by line and loses no entry, and every run's folder and manifest are intact.

Each worker is a plain Python process running the engine against the same simulator,
while a second thread of it appends large entries to the journal as fast as it can, so
the writers really overlap.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections import Counter

import pytest
from conftest import TEST_KEY

from nanobanana_magic._store import Store

TASKS_PER_WORKER = 10
STRESS_ENTRIES = 200
STRESS_PADDING = 6000  # bytes per stress entry: larger than a pipe buffer's atomic write

WORKER = r"""
import asyncio, os, sys, threading, time
from pathlib import Path
from nanobanana_magic._engine import Engine
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store

base_url, key, out, name, go, tasks, stress, padding = sys.argv[1:9]
store = Store(out)
while not Path(go).exists():  # start both workers at the same moment
    time.sleep(0.005)

def hammer():
    for i in range(int(stress)):
        store.journal("stress", worker=name, i=i, padding="x" * int(padding))

thread = threading.Thread(target=hammer)
thread.start()
engine = Engine(store=store, api_key=key, base_url=base_url, concurrency=8,
                client_options={"submit_limits": ((100, 1.0),)})
requests = [ImageRequest.create(f"{name} picture {i}", resolution="0.5K")
            for i in range(int(tasks))]
runs = asyncio.run(engine.run(requests, cache=False))
thread.join()
bad = [r.error for r in runs if not r.ok]
print("ok" if not bad else bad)
"""


@pytest.mark.timeout(90)
def test_two_processes_share_one_journal_without_losing_entries(sim, out_dir, tmp_path):
    sim.configure(duration=0.3)
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                sim.base_url,
                TEST_KEY,
                str(out_dir),
                name,
                str(go),
                str(TASKS_PER_WORKER),
                str(STRESS_ENTRIES),
                str(STRESS_PADDING),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    try:
        time.sleep(0.5)  # let both import and wait at the start line
        go.touch()
        results = [worker.communicate(timeout=80) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for (out, err), worker in zip(results, workers):
        assert worker.returncode == 0 and out.strip() == "ok", err[-2000:]

    raw = (out_dir / "journal.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    entries = [json.loads(line) for line in lines]  # every single line parses
    assert len(entries) == 2 * (STRESS_ENTRIES + 3 * TASKS_PER_WORKER)

    pids = {entry["pid"] for entry in entries}
    assert len(pids) == 2
    counts = Counter((entry["pid"], entry["event"]) for entry in entries)
    for pid in pids:
        assert counts[(pid, "stress")] == STRESS_ENTRIES
        for event in ("submit_attempt", "submitted", "completed"):
            assert counts[(pid, event)] == TASKS_PER_WORKER
    for name in ("alpha", "beta"):
        numbers = sorted(e["i"] for e in entries if e.get("worker") == name)
        assert numbers == list(range(STRESS_ENTRIES))
        assert all(len(e["padding"]) == STRESS_PADDING for e in entries if e.get("worker") == name)

    # the writes really overlapped: the two workers' entries are interleaved
    order = [entry["pid"] for entry in entries]
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches > 10, "the workers did not run at the same time"

    store = Store(out_dir)
    assert store.pending_tasks() == []
    assert len(store.run_ids()) == 2 * TASKS_PER_WORKER
    for run_id in store.run_ids():
        run = store.load_run(run_id)
        assert run.ok and all(image.path.is_file() for image in run.images)
    assert sim.stats()["tasks_created"] == 2 * TASKS_PER_WORKER
