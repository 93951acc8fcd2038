"""Benchmark: questions to a big output folder, 10,000 runs against 100.

    python benchmarks/history.py [--runs 10000]

Builds two output folders in the store's own format (run folders with manifest, image and
thumbnail, the journal, the request-key cache, annotations: a tag on every 10th run, a
rating on every 7th, a note on every 50th, cache hits on every 20th) — one of 100 runs
and one of 10,000 — and times, through a real IPython shell with the extension loaded:

* `%banana history --search fox` (a text filter over prompts, notes and tags);
* `%banana show <run id prefix>`;
* `%banana cost`;
* the cache lookup: `Engine.run` of a request whose results are stored (no network);
* opening the gallery: `gallery(output_dir)` builds the widget and its first page of
  12 image tiles (one `RunIndex.images` query, then only those runs read from disk).

Each figure is the median of repeated calls after one warm-up call; the index is built
(or caught up) on first use and its one-off build time is printed apart. Goal: each
question on 10,000 runs takes at most 3 × its time on 100 runs. For reference, the
10,000-run folder is also asked the history and cost questions the way the package did
before the index (reading every manifest).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from nanobanana_magic._engine import Engine
from nanobanana_magic._gallery import gallery
from nanobanana_magic._imaging import make_thumbnail
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._run import RunImage, image_file_name
from nanobanana_magic._store import Store

GOAL = 3.0
SUBJECTS = ["fox", "heron", "lighthouse", "teapot", "cactus", "violin", "harbour"]
REPEATS = 15


def build_folder(root: Path, count: int, image: Path, thumb: Path) -> list[str]:
    """`count` completed runs in the store's format; returns their run ids."""
    store = Store(root).ensure()
    journal, notes, ids = [], [], []
    start = time.time() - count * 60
    for i in range(count):
        request = ImageRequest.create(
            f"a {SUBJECTS[i % len(SUBJECTS)]} number {i}, watercolour", resolution="1K"
        )
        while True:  # thousands of runs a second can draw the same random id suffix
            try:
                run = store.new_run(
                    request, "sim-" + request.key(), base_url="http://sim", simulated=True
                )
                break
            except FileExistsError:
                continue
        run.created_at = start + i * 60
        os.link(image, run.folder / image_file_name(run.run_id, 0))
        os.link(thumb, run.folder / "thumb-0.webp")
        run.images = [
            RunImage(
                path=run.folder / image_file_name(run.run_id, 0),
                thumbnail=run.folder / "thumb-0.webp",
                url="http://sim/files/x.png",
                task_id=f"task-{i}",
                index=0,
                request=request,
                width=1024,
                height=1024,
            )
        ]
        run.task_id, run.status, run.cost, run.elapsed = f"task-{i}", "completed", 0.025, 9.0
        store.save_run(run)
        ids.append(run.run_id)
        stamp = {"ts": round(run.created_at, 3), "pid": 1}
        key = {"run_id": run.run_id, "request_key": run.request_key}
        journal += [
            {**stamp, "event": "submit_attempt", **key, "payload": request.to_payload([])},
            {**stamp, "event": "submitted", **key, "task_id": run.task_id, "base_url": "x"},
            {**stamp, "event": "completed", "run_id": run.run_id, "task_id": run.task_id},
        ]
        if i % 20 == 0:
            journal.append({**stamp, "event": "cache_hit", **key})
        if i % 10 == 0:
            notes.append({**stamp, "kind": "tag", "run_id": run.run_id, "value": "keeper"})
        if i % 7 == 0:
            notes.append({**stamp, "kind": "rating", "run_id": run.run_id, "index": 0, "value": 4})
        if i % 50 == 0:
            notes.append({**stamp, "kind": "note", "run_id": run.run_id, "value": "fox-like"})
    for name, entries in (("journal.jsonl", journal), ("annotations.jsonl", notes)):
        with open(root / name, "a") as handle:
            handle.writelines(json.dumps(e, sort_keys=True) + "\n" for e in entries)
    return ids


def timed(call, repeats: int = REPEATS) -> float:
    call()  # warm-up (and the index catching up)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def questions(shell, root: Path, ids: list[str]) -> dict[str, float]:
    shell.run_line_magic("config", f"Banana.output_dir = {str(root)!r}")
    store = Store(root)
    engine = Engine(store=store, api_key="sk-unused", base_url="http://127.0.0.1:9")
    stored = store.load_run(ids[len(ids) // 2]).request
    quiet = contextlib.redirect_stdout(io.StringIO())

    def cost():
        with contextlib.redirect_stdout(io.StringIO()):
            shell.run_line_magic("banana", "cost")

    def open_gallery():
        gallery(output_dir=root).close()

    import asyncio

    with quiet:
        return {
            "history --search fox": timed(
                lambda: shell.run_line_magic("banana", "history --search fox")
            ),
            "show <prefix>": timed(
                lambda: shell.run_line_magic("banana", f"show {ids[len(ids) // 3][:-2]}")
            ),
            "cost": timed(cost),
            "cache lookup (Engine.run, hit)": timed(lambda: asyncio.run(engine.run([stored]))),
            "gallery (open, first page)": timed(open_gallery),
        }


def without_index(root: Path) -> dict[str, float]:
    """History and cost the way they were answered before the index: every manifest."""
    from nanobanana_magic import _annotations
    from nanobanana_magic._history_filter import RunFilter, filter_runs

    store = Store(root)

    def every_run():
        names = sorted(p.name for p in (root / "runs").iterdir() if (p / "manifest.json").exists())
        return [store.load_run(name) for name in reversed(names)]

    def history():
        filter_runs(every_run(), _annotations.load(root), RunFilter(search="fox"), 20)
        store.read_journal()

    def cost():
        sum(run.cost for run in every_run() if run.ok)

    return {"history --search fox": timed(history, 3), "cost": timed(cost, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args(argv)
    started = time.monotonic()
    from IPython.core.interactiveshell import InteractiveShell
    from PIL import Image

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nanobanana_magic")
    with tempfile.TemporaryDirectory(prefix="nanobanana-history-") as tmp:
        tmp = Path(tmp)
        Image.new("RGB", (64, 64), (200, 120, 40)).save(tmp / "image.png")
        make_thumbnail(tmp / "image.png", tmp / "thumb.webp", 64)
        figures, built = {}, {}
        for count in (100, args.runs):
            root = tmp / f"runs-{count}"
            print(f"building a folder of {count} runs …", flush=True)
            t0 = time.perf_counter()
            ids = build_folder(root, count, tmp / "image.png", tmp / "thumb.webp")
            t1 = time.perf_counter()
            Store(root).index().refresh()
            built[count] = (t1 - t0, time.perf_counter() - t1)
            figures[count] = questions(shell, root, ids)
        before = without_index(tmp / f"runs-{args.runs}")
    small, big = figures[100], figures[args.runs]
    print()
    print(
        f"Index build from scratch (journal + manifests + annotations): "
        f"{built[100][1] * 1000:.0f} ms for 100 runs, {built[args.runs][1]:.2f} s for "
        f"{args.runs} runs (folders written in {built[100][0]:.1f} s / "
        f"{built[args.runs][0]:.1f} s)."
    )
    header = f"{'question':34} | {'100 runs':>9} | {f'{args.runs} runs':>11} | ratio | goal ≤ {GOAL:.0f}×"
    print(header)
    print("-" * len(header))
    all_met = True
    for name in small:
        ratio = big[name] / small[name]
        met = ratio <= GOAL
        all_met &= met
        print(
            f"{name:34} | {small[name] * 1000:7.2f}ms | {big[name] * 1000:9.2f}ms | "
            f"{ratio:5.2f} | {'met' if met else 'MISSED'}"
        )
    print()
    print(
        f"without the index, {args.runs} runs: history --search "
        f"{before['history --search fox'] * 1000:.0f} ms, cost {before['cost'] * 1000:.0f} ms "
        "(every manifest read)."
    )
    print(
        f"all goals met: {'yes' if all_met else 'no'}; benchmark took "
        f"{time.monotonic() - started:.0f} s"
    )
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
