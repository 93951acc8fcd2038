"""The SQLite index of an output folder: derived from the journal, manifests and
annotations, rebuilt after deletion or damage, caught up with other writers."""

import json
import multiprocessing
import os
import sqlite3

import pytest
from conftest import TEST_KEY, copy_folder

from nanobanana_magic import _annotations as annotations
from nanobanana_magic import _index as index_module
from nanobanana_magic import generate
from nanobanana_magic._index import INDEX_FILE
from nanobanana_magic._store import Store


def make(sim, out_dir, prompt, **options):
    options.setdefault("resolution", "0.5K")
    return generate(prompt, base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir, **options)


def folder_truth(store: Store) -> dict:
    """What the journal and the manifests say, read the slow way."""
    ids = sorted(p.name for p in (store.root / "runs").iterdir() if (p / "manifest.json").is_file())
    runs = [store.load_run(run_id) for run_id in ids]
    return {
        "ids": ids,
        "cost": round(sum(run.cost for run in runs if run.ok), 6),
        "hits": {e["run_id"] for e in store.read_journal() if e.get("event") == "cache_hit"},
    }


@pytest.fixture(scope="module")
def folder_made_once(module_sim, tmp_path_factory):
    """Three runs, a cache hit and annotations, made once for the module."""
    root = tmp_path_factory.mktemp("indexed") / "banana_outputs"
    runs = [make(module_sim, root, prompt) for prompt in ("a red fox", "a heron", "a Fox cub")]
    make(module_sim, root, "a red fox")  # served from the cache
    annotations.tag(root, runs[1].run_id, ["keeper"])
    annotations.rate(root, runs[2].run_id, 0, 5)
    annotations.note(root, runs[1].run_id, "looks like a FOX")
    Store(root).index().close()
    return root, [run.run_id for run in runs]


@pytest.fixture
def folder(folder_made_once, out_dir):
    """This test's copy of that folder, and its runs as read from it."""
    template, run_ids = folder_made_once
    store = Store(copy_folder(template, out_dir))
    return store, [store.load_run(run_id) for run_id in run_ids]


def test_the_index_agrees_with_the_journal_and_manifests(folder):
    store, runs = folder
    truth = folder_truth(store)
    index = store.index()
    assert index.run_ids() == truth["ids"]
    assert index.search() == truth["ids"][::-1]  # newest first
    assert index.totals() == (0.0, pytest.approx(truth["cost"]))
    assert set(index.reuse_counts(truth["ids"])) == truth["hits"] == {runs[0].run_id}
    # text over prompts, notes and tags, case-insensitively, as `history --search`
    assert set(index.search("fox")) == {r.run_id for r in runs}
    assert index.search(tag="keeper") == [runs[1].run_id]
    assert index.search(min_rating=5) == [runs[2].run_id]
    assert index.count("fox", min_rating=4) == 1
    assert index.cached_run_id(runs[0].request_key) == runs[0].run_id
    assert index.resolve(runs[1].run_id[:-2]) == [runs[1].run_id]


def test_a_deleted_or_damaged_index_is_rebuilt_with_the_same_answers(folder):
    store, runs = folder
    before = (store.index().search(), store.index().search(tag="keeper"))
    for damage in ("delete", "garbage"):
        path = store.root / INDEX_FILE
        store.index().close()
        for suffix in ("", "-wal", "-shm"):
            (store.root / (INDEX_FILE + suffix)).unlink(missing_ok=True)
        if damage == "garbage":
            path.write_bytes(b"this is not a database" * 100)
        fresh = Store(store.root)
        assert (fresh.index().search(), fresh.index().search(tag="keeper")) == before
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(runs)


def _other_kernel(root, prompt, base_url):
    generate(prompt, base_url=base_url, api_key=TEST_KEY, output_dir=root, resolution="0.5K")
    annotations.tag(root, Store(root).index().search(prompt)[0], ["from-elsewhere"])


def test_the_index_catches_up_with_another_kernel_writing_the_folder(folder, sim):
    store, _runs = folder
    assert len(store.index().search()) == 3
    process = multiprocessing.get_context("spawn").Process(
        target=_other_kernel, args=(str(store.root), "a lynx", sim.base_url)
    )
    process.start()
    process.join(60)
    assert process.exitcode == 0
    newest = store.index().search()[0]
    assert store.load_run(newest).request.prompt == "a lynx"
    assert store.index().search(tag="from-elsewhere") == [newest]
    assert store.index().run_ids() == folder_truth(store)["ids"]


def test_tampered_lines_and_manifests_are_left_out(folder):
    store, runs = folder
    manifest = runs[2].folder / "manifest.json"
    manifest.write_text("{not json")
    with open(store.journal_path, "a") as journal:
        journal.write(json.dumps({"event": "completed", "run_id": "../../etc"}) + "\n")
        journal.write(json.dumps({"event": "completed", "run_id": runs[2].run_id}) + "\n")
    assert runs[2].run_id not in store.index().search()
    assert store.index().search(min_rating=1) == []
    assert store.resolve_run_id(runs[0].run_id[:-1]) == runs[0].run_id


def test_a_folder_that_cannot_be_written_is_indexed_in_memory(folder, monkeypatch):
    store, _runs = folder
    expected = store.index().search()
    for suffix in ("", "-wal", "-shm"):
        (store.root / (INDEX_FILE + suffix)).unlink(missing_ok=True)
    index_module._OPEN.clear()
    real_access = os.access
    # a read-only folder, as the store sees it (root may write anywhere on this machine)
    monkeypatch.setattr(
        os, "access", lambda path, mode: not mode & os.W_OK and real_access(path, mode)
    )
    try:
        assert Store(store.root).index().search() == expected
        assert Store(store.root).index().search(tag="keeper") == [_runs[1].run_id]
        assert not (store.root / INDEX_FILE).exists()
    finally:
        index_module._OPEN.clear()
