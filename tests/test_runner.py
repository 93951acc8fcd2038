"""The shared pieces of the front ends, through the real layers: one state vocabulary on
every engine event, one progress reducer read by every view, one batch runner with one
error handling, and the declared table of line commands with its generated help."""

from __future__ import annotations

import asyncio
import html
import io
import logging
import re

import pytest
from conftest import TEST_KEY
from IPython.core.error import UsageError

from nanobanana_magic import _display as display
from nanobanana_magic import _errors as errors
from nanobanana_magic._answers import TASK_STATES
from nanobanana_magic._cli_progress import PlainProgress
from nanobanana_magic._engine import DOWNLOADING, Engine
from nanobanana_magic._line_commands import COMMANDS, Arg, command, help_text
from nanobanana_magic._panel import ProgressRow
from nanobanana_magic._progress import ROW_STATES, WORDS, BatchProgress
from nanobanana_magic._runner import BatchView, run_batch
from nanobanana_magic._store import Store
from nanobanana_magic._sweep_plan import plan_sweep
from nanobanana_magic._sweep_result import SweepRun


def engine_for(sim, out_dir):
    return Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim.base_url)


def recorded_sweep(sim, out_dir):
    """A two-cell sweep against a server that says `pending` and `rendering`: the plan and
    every event the engine emitted."""
    sim.configure(
        initial_status="pending", unknown_status="rendering", queue_delay=1.0, duration=3.0
    )
    engine = engine_for(sim, out_dir)
    plan = plan_sweep("a {thing} at dusk", {"thing": "fox,owl"}, engine=engine, cache=False)
    events = []
    asyncio.run(engine.run([r for _, r in plan.cells], listener=events.append, cache=False))
    return plan, events


# -- one state vocabulary ---------------------------------------------------------------------
def test_every_event_carries_the_clients_state_and_keeps_the_servers_word(sim, out_dir):
    _, events = recorded_sweep(sim, out_dir)
    assert {event.state for event in events} <= set(TASK_STATES)
    progress = [event for event in events if event.kind == "progress"]
    assert progress, "the server was polled while the tasks ran"
    words = {event.status for event in progress}
    # the server's own words, kept for display, and the engine's word for fetching images
    assert words <= {"pending", "rendering", DOWNLOADING}
    assert {e.state for e in progress if e.status == "pending"} <= {"queued"}
    assert {e.state for e in progress if e.status == "rendering"} <= {"running"}
    assert [e.state for e in events if e.kind == "completed"] == ["completed", "completed"]


# -- one progress reducer ---------------------------------------------------------------------
def visible_text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def test_the_board_the_panel_row_the_sweep_grid_and_the_cli_show_the_same_words(sim, out_dir):
    plan, events = recorded_sweep(sim, out_dir)
    labels = ["fox", "owl"]
    board = display.ProgressBoard(labels)
    result = SweepRun(plan)
    panel_rows = [ProgressRow(label) for label in labels]
    panel_progress = BatchProgress(labels)
    cli_lines = io.StringIO()
    cli = PlainProgress(labels, cli_lines)
    task_ids = {event.run.task_id for event in events if event.run and event.run.task_id}
    assert task_ids
    seen = set()
    for event in events:
        board.apply(event)
        result.apply(event)
        cli.changed(event, cli.apply(event))
        panel_rows[event.index].show(panel_progress.apply(event))
        shown_now = [visible_text(board.html()), visible_text(result.html(live=True))]
        shown_now += [row.status.value for row in panel_rows]
        for index, (key, _) in enumerate(plan.cells):
            shown = board.rows[index].shown
            seen.add(shown)
            assert board.rows[index].state in ROW_STATES and shown in WORDS.values()
            assert result.row(key) == board.rows[index]
            assert panel_rows[index].status.value.split(" · ")[0] == shown
            assert panel_rows[index].bar.value == board.rows[index].progress
            if result.runs[key] is None:  # the grid's pending cell shows the same word
                assert f"{shown}" in visible_text(result.html())
        for text in shown_now:  # never the server's words, never a task id
            assert not re.search(r"\b(pending|rendering|running|submitted|completed)\b", text)
            assert not any(task_id in text for task_id in task_ids), text
    assert {"queued", "generating", "downloading", "done"} <= seen
    assert board.summary() == "2 done"
    cli_words = [line.split(": ", 1)[1] for line in cli_lines.getvalue().splitlines()]
    assert {"generating", "downloading"} <= set(cli_words)  # queued from the start
    assert "done (1 image)" in cli_words  # the same words, one line per change
    assert not any(task_id in cli_lines.getvalue() for task_id in task_ids)
    assert [record["status"] for record in result.records()] == ["completed", "completed"]


# -- one runner ---------------------------------------------------------------------------------
class RecordingView(BatchView):
    def __init__(self, labels=(), sweep=None):
        super().__init__(labels, sweep=sweep)
        self.calls = []

    def changed(self, event, row):
        self.calls.append(("changed", event.kind, row.state))

    def finished(self, runs):
        self.calls.append(("finished", len(runs)))

    def failed(self, error):
        self.calls.append(("failed", type(error).__name__))

    def crashed(self, error):
        self.calls.append(("crashed", type(error).__name__))

    def stopped(self):
        self.calls.append(("stopped", [row.state for row in self.progress.rows]))


def test_the_runner_ends_a_view_once_for_each_way_a_batch_ends(sim, out_dir, caplog):
    from nanobanana_magic._request import ImageRequest

    engine = engine_for(sim, out_dir)
    requests = [ImageRequest.create("a fox"), ImageRequest.create("an owl")]

    def start(listener):
        return engine.run(requests, listener=listener, cache=False)

    done = RecordingView(["fox", "owl"])
    runs = asyncio.run(run_batch(start, done))
    assert done.calls[-1] == ("finished", 2) and all(run.ok for run in runs)
    assert [c for c in done.calls if c[0] == "changed"][-1][2] == "completed"

    no_key = RecordingView(["fox"])
    keyless = Engine(store=Store(out_dir), api_key=None, base_url=sim.base_url)
    with pytest.raises(errors.ConfigurationError):
        asyncio.run(
            run_batch(
                lambda listener: keyless.run(requests[:1], listener=listener, cache=False), no_key
            )
        )
    assert no_key.calls == [("failed", "ConfigurationError")]

    async def broken(listener):
        raise RuntimeError("a bug")

    bug = RecordingView(["fox"])
    with caplog.at_level(logging.ERROR, "nanobanana_magic"), pytest.raises(RuntimeError):
        asyncio.run(run_batch(broken, bug))
    assert bug.calls == [("crashed", "RuntimeError")] and "unexpectedly" in caplog.text

    sim.configure(duration=30)
    stopped = RecordingView(["fox", "owl"])

    async def cancel_when_submitted():
        task = asyncio.ensure_future(run_batch(start, stopped))
        while sum(1 for c in stopped.calls if c[1] == "submitted") < 2:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_when_submitted())
    assert stopped.calls[-1] == ("stopped", ["cancelled", "cancelled"])


@pytest.mark.kernel
def test_a_background_cell_that_cannot_run_says_so_in_its_display(sim, monkeypatch, tmp_path):
    """In a real kernel, `--background` goes through the same runner: without a key its
    display (the same display id) ends as the one-sentence error, nothing left waiting."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("TOAPIS_BASE_URL", sim.base_url)
    monkeypatch.setenv("NANOBANANA_OUTPUT_DIR", str(tmp_path / "out"))
    nb = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        }
    )
    client = NotebookClient(nb, timeout=60, resources={"metadata": {"path": str(tmp_path)}})

    async def messages_of(kc, code, until):
        """The iopub messages of one cell, up to the first of type `until` (or 30 s)."""
        parent, seen = kc.execute(code), []
        while not any(m["msg_type"] == until for m in seen):
            msg = await kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == parent:
                seen.append(msg)
        return seen

    async def scenario():
        async with client.async_setup_kernel():
            await messages_of(client.kc, "%load_ext nanobanana_magic", "execute_input")
            return await messages_of(
                client.kc, "%%banana --background\na fox", "update_display_data"
            )

    seen = asyncio.run(scenario())
    shown = [m for m in seen if m["msg_type"] in ("display_data", "update_display_data")]
    assert "banana-progress" in shown[0]["content"]["data"]["text/html"]
    board = shown[0]["content"]["transient"]["display_id"]
    # the empty output kept for a grid stays empty; the board itself ends as the error
    others = [m for m in shown if m["content"]["transient"]["display_id"] != board]
    assert all(not m["content"]["data"].get("text/html") for m in others)
    final = html.unescape(
        [m for m in shown if m["content"]["transient"]["display_id"] == board][-1]["content"][
            "data"
        ]["text/html"]
    )
    assert "banana-error" in final and "%banana login" in final and "waiting" not in final
    assert sim.stats()["submit_requests"] == 0


def test_a_sweeps_view_reads_the_sweeps_own_rows(sim, out_dir, caplog):
    engine = engine_for(sim, out_dir)
    plan = plan_sweep("a {thing}", {"thing": "fox,owl"}, engine=engine, cache=False)
    result = SweepRun(plan)
    view = RecordingView(sweep=result)
    with caplog.at_level(logging.ERROR, "nanobanana_magic"):
        asyncio.run(
            run_batch(
                lambda listener: engine.run(
                    [r for _, r in plan.cells], listener=listener, cache=False
                ),
                view,
            )
        )
    assert "listener failed" not in caplog.text
    assert view.progress is result.progress and view.calls[-1] == ("finished", 2)
    assert all(run is not None and run.ok for run in result.runs.values())
    assert [result.row(key).state for key, _ in plan.cells] == ["completed", "completed"]


# -- the declared table of line commands ------------------------------------------------------
def test_help_is_generated_from_the_table(shell):
    text = shell.run("%banana help")
    for name, declared in COMMANDS.items():
        assert f"`{declared.synopsis}`" in text and declared.help in text, name
    assert text == help_text()


def test_a_declared_command_is_dispatched_parsed_and_listed_in_help(shell):
    @command(
        "echo-test",
        "WORD [--twice]",
        "repeat a word",
        Arg("word"),
        Arg("--twice", action="store_true"),
    )
    def _echo(magic, args):
        return args.word * (2 if args.twice else 1)

    try:
        shell.ns["word"] = "ab"
        assert shell.run("%banana echo-test $word --twice") == "abab"
        assert "`echo-test WORD [--twice]`" in shell.run("%banana help")
        error = shell.run_failing("%banana echo-test")
        assert isinstance(error, UsageError) and "echo-test WORD [--twice]" in str(error)
        assert isinstance(shell.run_failing("%banana echo-test a --thrice"), UsageError)
    finally:
        COMMANDS.pop("echo-test")


# -- one plan -----------------------------------------------------------------------------------
def test_the_magic_and_the_panel_plan_the_same_batch(shell, sim_env):
    """One plan object: the magic's dry run and the panel's estimate send the same payloads,
    price them alike and see the same cache."""
    from nanobanana_magic._panel import panel

    def both():
        dry = shell.run("%%banana --dry-run --size 16:9 -n 2\na fox at dawn")
        p = panel(prompt="a fox at dawn", size="16:9", n=2)
        try:
            plan, _ = p.plan()
            return dry, plan, html.unescape(p.cost.value)
        finally:
            p.close()

    dry, plan, estimate = both()
    assert dry.payloads == plan.payloads() and len(dry.payloads) == 1
    assert "$0.050" in dry.text and "$0.050" in estimate and "2 new images" in estimate
    shell.run("%%banana --size 16:9 -n 2\na fox at dawn")
    dry, plan, estimate = both()
    assert dry.payloads == plan.payloads() == []
    assert "the cache already holds this request" in dry.text and "1 cached (free)" in estimate
    assert plan.estimate == 0 and not plan.over_budget(0)
