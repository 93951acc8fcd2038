"""A sweep in history (issue 12 item 13) and `%banana summary SWEEP` (issue 13 §2): the
sweep is recorded in the output folder as one entry with its axes, `show` draws its whole
grid again from disk, `summary` gives its per-axis table from disk, the index rebuilds
sweeps from the files, and a tampered record is refused with one warning. Through a real
IPython shell, the Python API and the `nanobanana` command against the simulator."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import TEST_KEY, assert_one_sentence_naming_the_fix
from test_cli import as_json, cli, run_cli

from nanobanana_magic import asweep, generate, resume, sweep
from nanobanana_magic._displayables import History
from nanobanana_magic._errors import ValidationError
from nanobanana_magic._index import INDEX_FILE
from nanobanana_magic._run import Run
from nanobanana_magic._store import Store
from nanobanana_magic._sweep_plan import BudgetExceededError
from nanobanana_magic._sweep_record import SweepEntry, UnreadableSweepError
from nanobanana_magic._sweep_result import SweepRun

SWEEP_CELL = "%%banana --sweep size=1:1,16:9 --sweep style=ink,oil,clay\nA fox, {style}"


def sent(sim) -> int:
    return sim.stats()["submit_requests"]


@pytest.fixture
def swept(shell, sim_env):
    """A run made on its own, then a 2 × 3 sweep whose first cell the cache serves."""
    alone = shell.run("%%banana --size 1:1\nA fox, ink")
    result = shell.run(SWEEP_CELL)
    return alone, result


# -- one history entry -----------------------------------------------------------------------
def test_a_sweep_is_one_history_entry_with_its_axes_and_cached_cells(shell, swept):
    alone, result = swept
    assert result.sweep_id is not None and result.sweep_id in result.status_line()
    history = shell.run("%banana history")
    assert isinstance(history, History) and len(history) == 2
    entry, run = history
    assert isinstance(entry, SweepEntry) and entry.sweep_id == result.sweep_id
    assert isinstance(run, Run) and run.run_id == alone.run_id
    sweep_row, run_row = history.rows()
    assert sweep_row["params"] == "sweep 2×3: size × style · 6 cells"
    assert sweep_row["cached"] == "1 of 6 cells" and sweep_row["images"] == 6
    assert sweep_row["cost"] == "$0.125" and sweep_row["status"] == "completed"
    assert sweep_row["prompt"] == "A fox, {style}"
    assert run_row["cached"] == "sent, reused ×1"  # the sweep's first cell came from it
    cells = {run.run_id for _, run in result}
    assert not cells & {row["id"] for row in history.rows()} - {alone.run_id}
    listing = repr(history)
    assert "sweep 2×3: size × style" in listing and "1 of 6 cells" in listing
    assert "banana-history" in history._repr_html_()
    again = shell.run(SWEEP_CELL)  # Run All once more: the cache serves every cell
    assert all(run.cached for _, run in again) and again.sweep_id == result.sweep_id
    assert len(shell.run("%banana history")) == 2  # still one entry for the sweep


def test_history_filters_find_a_sweep_by_its_cells(shell, swept):
    _, result = swept
    result["16:9", "oil"].images[0].rate(5)
    result["16:9", "oil"].images[0].pick()
    found = shell.run("%banana history --min-rating 4")
    assert [entry.sweep_id for entry in found] == [result.sweep_id]
    assert next(found.rows())["marks"] == "★5 1 picked"
    assert [type(e) for e in shell.run("%banana history --search ink")] == [SweepEntry, Run]
    assert len(shell.run("%banana history --size 4:3")) == 0


# -- show from disk --------------------------------------------------------------------------
def test_show_draws_the_whole_sweep_grid_again_from_disk(shell, swept, sim_env):
    alone, result = swept
    sim_env.stop()  # nothing may be sent
    for ref in ("last", result.sweep_id, result.sweep_id[-6:], "-1"):
        shown = shell.run(f"%banana show {ref}")
        assert isinstance(shown, SweepRun) and shown.sweep_id == result.sweep_id
        assert shown.html() == result.html()  # the same labelled grid, the same words
        assert {k: r.run_id for k, r in shown} == {k: r.run_id for k, r in result}
    assert shown.runs["1:1", "ink"].cached and not shown.runs["16:9", "ink"].cached
    assert shown.status_line().endswith(
        f"1 from the cache; $0.125 spent (estimate $0.125). Recorded as {result.sweep_id}."
    )
    assert shell.run("%banana show -2").run_id == alone.run_id
    assert shell.run("%banana rate last#0 4") is None  # RUN#i still names the newest run
    error = shell.run_failing(f"%banana rate {result.sweep_id}#0 4")
    assert_one_sentence_naming_the_fix(str(error), f"is a sweep.*%banana show {result.sweep_id}")


def test_a_stopped_sweep_is_recorded_and_shows_its_cells_once_resumed(sim_env, out_dir):
    # long enough that no poll can find a task done before both are submitted and the
    # sweep is stopped (the first poll comes a second after a submit); the resume below
    # waits for what is left of it
    sim_env.configure(duration=3.0)
    submitted = []

    async def stop_when_submitted():
        def listener(event):
            if event.kind == "submitted":
                submitted.append(event.index)
                if len(submitted) == 2:
                    task.cancel()

        task = asyncio.ensure_future(asweep("a {c} kite", {"c": "red,blue"}, listener=listener))
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(stop_when_submitted())
    store = Store(out_dir)
    (entry,) = History(*_history(store))
    assert entry.status() == "2 cancelled"
    shown = store.index().entries()[0]
    assert shown[0] == "sweep"
    sim_env.configure(duration=0.2)
    resume()
    from nanobanana_magic._sweep_record import load_sweep

    again = load_sweep(store, shown[1])
    assert [run.ok for _, run in again] == [True, True]


def _history(store):
    from nanobanana_magic._explore_commands import recent_history
    from nanobanana_magic._history_filter import RunFilter

    found = recent_history(store, 20, RunFilter())
    return list(found), found.reuse


def test_the_python_api_gives_what_the_magic_gives(shell, swept, out_dir):
    import nanobanana_magic as nb

    _, result = swept
    assert list(nb.history(output_dir=out_dir).rows()) == list(shell.run("%banana history").rows())
    assert list(nb.history(1, output_dir=out_dir, search="ink").rows()) == list(
        shell.run("%banana history 1 --search ink").rows()
    )
    shown = nb.show(output_dir=out_dir)
    assert isinstance(shown, SweepRun) and shown.html() == shell.run("%banana show last").html()
    assert nb.show(result.sweep_id[-6:], output_dir=out_dir).sweep_id == result.sweep_id
    assert nb.show("-2", output_dir=out_dir).run_id == shell.run("%banana show -2").run_id
    with pytest.raises(ValidationError, match="1 to 5"):
        nb.history(output_dir=out_dir, min_rating=9)


def test_a_sweep_from_the_panel_is_one_entry_too(shell, sim_env):
    from test_panel import fill
    from test_panel import generate as click_generate

    p = shell.run("%banana panel")
    fill(p, prompt="a heron at dawn", sweep_key="size", sweep_values="4:3, 1:1")
    runs = click_generate(p)
    (entry,) = shell.run("%banana history")
    assert isinstance(entry, SweepEntry) and entry.description == "sweep 2: size"
    shown = shell.run("%banana show last")
    assert {run.run_id for _, run in shown} == {run.run_id for run in runs}


# -- summary from disk -----------------------------------------------------------------------
def test_summary_of_a_stored_sweep_is_its_own_table_from_disk(shell, swept, sim_env):
    _, result = swept
    for key, rating in {("1:1", "ink"): 2, ("1:1", "oil"): 5, ("16:9", "oil"): 4}.items():
        result[key].images[0].rate(rating)
    result["16:9", "clay"].images[0].pick()
    live = result.summary()
    sim_env.stop()
    for ref in ("last", result.sweep_id, result.sweep_id[-6:]):
        stored = shell.run(f"%banana summary {ref}")
        assert stored.rows() == live.rows() and stored.best == {"size": "16:9", "style": "oil"}
        assert stored.interaction == live.interaction
        assert stored.interaction[:2] == ("size", "style")
    assert repr(stored) == repr(live) and "★" in stored.html()
    error = shell.run_failing(f"%banana summary {result['1:1', 'oil'].run_id}")
    assert "a sweep, or two or more runs" in str(error)


# -- rerun -----------------------------------------------------------------------------------
def test_rerun_of_a_sweep_comes_from_the_cache_or_asks_for_yes(shell, swept, sim_env):
    _, result = swept
    before = sent(sim_env)
    again = shell.run(f"%banana rerun {result.sweep_id}")
    assert isinstance(again, SweepRun) and sent(sim_env) == before
    assert all(run.cached for _, run in again) and again.sweep_id == result.sweep_id
    error = shell.run_failing(f"%banana rerun {result.sweep_id} --no-cache --budget 0.05")
    assert isinstance(error, BudgetExceededError) and "--yes" in str(error)
    assert sent(sim_env) == before
    fresh = shell.run(f"%banana rerun {result.sweep_id} --no-cache --budget 0.05 --yes")
    assert sent(sim_env) == before + 6 and not any(run.cached for _, run in fresh)


# -- the index is derived: deleting it rebuilds sweeps from the files ----------------------
def test_deleting_the_index_rebuilds_sweeps_from_the_files(sim, out_dir):
    options = dict(base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir)
    generate("a heron", resolution="0.5K", **options)
    first = sweep("a {c} kite", {"c": "red,blue"}, resolution="0.5K", **options)
    second = sweep("a {c} kite", {"c": "red,green", "size": "1:1,4:3"}, **options)
    store = Store(out_dir)
    before = (store.index().entries(), _history(store))
    assert [kind for kind, _ in before[0]] == ["sweep", "sweep", "run"]
    assert [id_ for _, id_ in before[0][:2]] == [second.sweep_id, first.sweep_id]
    journal = out_dir / "journal.jsonl"
    for damage in ("index deleted", "journal without its sweep lines (a copied folder)"):
        if damage.startswith("journal"):  # the sweeps/ folder alone is enough
            lines = journal.read_text().splitlines(keepends=True)
            journal.write_text("".join(line for line in lines if '"sweep"' not in line))
        store.index().close()
        for suffix in ("", "-wal", "-shm"):
            (out_dir / (INDEX_FILE + suffix)).unlink(missing_ok=True)
        store = Store(out_dir)
        assert (store.index().entries(), _history(store)) == before, damage
        with sqlite3.connect(out_dir / INDEX_FILE) as db:
            assert db.execute("SELECT COUNT(*) FROM sweeps").fetchone()[0] == 2
            assert db.execute("SELECT COUNT(*) FROM sweep_cells").fetchone()[0] == 6


# -- everything on disk is untrusted ---------------------------------------------------------
def _edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _outside_run(data):
    data["cells"][1]["run_id"] = "../../../etc"


def _link_outside(path):
    outside = path.parent.parent.parent / "elsewhere.json"
    shutil.copy(path, outside)
    path.unlink()
    path.symlink_to(outside)


def _folder_link_outside(path):
    folder = path.parent
    outside = folder.parent.parent / "synced-sweeps"
    shutil.move(folder, outside)
    folder.symlink_to(outside, target_is_directory=True)


TAMPERINGS = {
    "not json": lambda path: path.write_text("{not json"),
    "a cell's run outside": lambda path: _edit(path, _outside_run),
    "another sweep's id": lambda path: _edit(path, lambda d: d.update(sweep_id="x")),
    "a value no axis lists": lambda path: _edit(
        path, lambda d: d["cells"][0].update(values=["5:4"])
    ),
    "a link outside the folder": _link_outside,
    "sweeps/ a link outside the folder": _folder_link_outside,
}


@pytest.mark.parametrize("kind", sorted(TAMPERINGS))
def test_a_tampered_sweep_record_gives_one_warning_and_stays_inside(
    kind, shell, sim_env, out_dir, caplog
):
    result = shell.run("%%banana --sweep size=1:1,16:9\nA tampered fox")
    record = out_dir / "sweeps" / f"{result.sweep_id}.json"
    TAMPERINGS[kind](record)
    with open(out_dir / "journal.jsonl", "a") as journal:  # a forged line is skipped
        journal.write(json.dumps({"event": "sweep", "sweep_id": "../../etc/passwd"}) + "\n")
    with caplog.at_level(logging.WARNING, logger="nanobanana_magic"):
        history = shell.run("%banana history")
    warnings = [r.getMessage() for r in caplog.records if str(record) in r.getMessage()]
    assert len(warnings) == 1 and "unreadable" in warnings[0]
    # the cells are not lost: they are listed as the runs they are
    assert {entry.run_id for entry in history} == {run.run_id for _, run in result}
    error = shell.run_failing(f"%banana show {result.sweep_id}")
    assert isinstance(error, UnreadableSweepError)
    assert_one_sentence_naming_the_fix(str(error), "unreadable.*restore that file or delete it")
    if kind.startswith("sweeps/"):  # nothing is written through the link either
        outside = sorted((out_dir.parent / "synced-sweeps").iterdir())
        with caplog.at_level(logging.WARNING, logger="nanobanana_magic"):
            shell.run("%%banana --sweep size=1:1,4:3\nA second fox")
        assert sorted((out_dir.parent / "synced-sweeps").iterdir()) == outside
        assert any("could not be recorded" in r.getMessage() for r in caplog.records)


# -- the command line agrees with the magic --------------------------------------------------
def test_the_command_line_lists_shows_and_reruns_a_sweep(sim, tmp_path):
    out = tmp_path / "out"
    options = ("--sweep", "c=red,blue", "--resolution", "0.5K", "--json")
    made = as_json(run_cli(sim, out, "sweep", "a {c} lamp", *options))
    history = as_json(cli("history", "--out", str(out), "--json"))
    assert len(history) == 1 and history[0]["sweep_id"] == made["sweep_id"]
    assert history[0]["sweep"] == "sweep 2: c" and history[0]["cells"] == 2
    assert history[0]["cached"] == 0 and history[0]["cost"] == pytest.approx(0.05)
    text = cli("history", "--out", str(out)).stdout
    assert "sweep 2: c · 2 cells" in text and "0 of 2 cells" in text
    shown = cli("show", "last", "--out", str(out), "--json")
    page = json.loads(shown.stdout)["page"]
    html = Path(page).read_text(encoding="utf-8")
    assert "banana-sweep-grid" in html and made["sweep_id"] in html
    before = sim.stats()["submit_requests"]
    again = as_json(run_cli(sim, out, "rerun", made["sweep_id"][-6:], "--json"))
    assert len(again["cells"]) == 2 and all(cell["cached"] for cell in again["cells"])
    assert sim.stats()["submit_requests"] == before
    refused = run_cli(sim, out, "rerun", "last", "--no-cache", "--budget", "0.01")
    assert refused.returncode == 3 and "--yes" in refused.stderr
    assert sim.stats()["submit_requests"] == before
