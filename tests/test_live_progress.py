"""The live display of a single run, as a user reads it: the state in words (queued,
generating, downloading, done; failed, stopped), the time elapsed and, once the poll
planner predicts it, the time left; the estimate and the SIMULATED badge in the same
header a sweep has; never the server's status words or a task id. `%banana resume`
names each task by its prompt and parameters.

A real IPython shell runs the magics against the simulator over loopback; the shell is
given a `kernel` attribute so the magic draws its rich live display, and every frame it
publishes (the first display and each update in place) is captured and read.
"""

from __future__ import annotations

import asyncio
import html
import re

import pytest
from conftest import TEST_KEY
from IPython.utils.capture import capture_output

from nanobanana_magic import _display as display
from nanobanana_magic._engine import Engine
from nanobanana_magic._generate import agenerate
from nanobanana_magic._progress import BatchProgress, TaskProgress, task_label, time_left_text
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store

#: what the server says and what a user must never see in a row
API_WORDS = re.compile(r"\b(in_progress|submitted|pending|rendering|running|completed)\b")


@pytest.fixture
def rich_shell(shell, monkeypatch):
    """The test shell drawing the rich live display, as in a Jupyter kernel."""
    monkeypatch.setattr(shell.ip, "kernel", object(), raising=False)
    return shell


def live_frames(captured) -> list[str]:
    """The visible text of every frame of the live display, in the order drawn (not the
    grid with rating controls that follows it: a widget view, then its static HTML)."""
    return [
        html.unescape(re.sub(r"<[^>]+>", " ", out.data["text/html"]))
        for out in captured.outputs
        if "text/html" in out.data and "banana-rating-tail" not in out.data["text/html"]
    ]


def task_ids(sim) -> list[str]:
    return list(sim.stats()["tasks"])


def assert_in_users_words(frames: list[str], sim) -> None:
    ids = task_ids(sim)
    assert ids, "tasks were sent"
    for frame in frames:
        assert not API_WORDS.search(frame), frame
        assert not any(task_id in frame for task_id in ids), frame
        assert "task_img_" not in frame


def test_a_running_cell_shows_words_elapsed_time_left_estimate_and_badge(rich_shell, sim_env):
    sim_env.configure(duration=3.0, progress_mode="linear")
    with capture_output() as captured:
        run = rich_shell.run("%%banana --resolution 2K -n 2\na lighthouse at dusk")
    assert run.ok
    frames = live_frames(captured)
    running = frames[:-1]  # the last frame is the summary the display ends as
    assert len(running) >= 3
    assert_in_users_words(frames, sim_env)
    assert all("elapsed" in frame for frame in running)
    assert all("estimate $0.060" in frame and "SIMULATED" in frame for frame in running)
    assert any("generating" in frame for frame in running)
    # the time left appears once the planner predicts the end, never before a first answer
    assert "left" not in running[0]
    assert any(re.search(r"about \d+ s left|almost done", frame) for frame in running)
    assert re.search(r"1 task: 1 done in \d+\.\d s", frames[-1])


def test_a_failed_task_says_failed_in_its_row(rich_shell, sim_env):
    rich_shell.run("%config Banana.show_tracebacks = False")
    with capture_output() as captured:
        rich_shell.run_failing("%%banana\n[fail] a broken prompt")
    frames = live_frames(captured)
    assert_in_users_words(frames, sim_env)
    assert "1 failed" in frames[-1]


def test_resume_rows_name_the_prompt_and_parameters_not_the_task(rich_shell, sim_env, out_dir):
    sim_env.configure(duration=1.5)
    engine = Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim_env.base_url)
    requests = [
        ImageRequest.create("a heron standing in reeds", size="16:9"),
        ImageRequest.create("a red fox in deep snow under pines at dawn", resolution="2K"),
    ]

    async def submit_and_walk_away():
        task = asyncio.ensure_future(engine.run(requests, cache=False))
        while len(Store(out_dir).pending_tasks()) < 2:
            await asyncio.sleep(0.05)
        task.cancel()  # as an interrupt would: both tasks stay in the journal
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(submit_and_walk_away())
    with capture_output() as captured:
        runs = rich_shell.run("%banana resume")
    assert sorted(run.request.prompt for run in runs) == sorted(r.prompt for r in requests)
    frames = live_frames(captured)
    assert_in_users_words(frames, sim_env)
    first = frames[0]
    assert "a heron standing in reeds · 16:9 · 1K · n=1" in first
    assert "a red fox in deep snow under pines at… · 1:1 · 2K · n=1" in first
    assert "task " not in first and "SIMULATED" in first
    assert "Resumed 2 tasks: 2 done." in frames[-1]


def test_generate_in_a_notebook_shows_the_same_live_display(rich_shell, sim_env):
    sim_env.configure(duration=1.5)
    with capture_output() as captured:
        run = asyncio.run(agenerate("a paper boat", size="3:2"))
    assert run.ok
    frames = live_frames(captured)
    assert_in_users_words(frames, sim_env)
    assert any("1 task: 1 queued" in f or "1 generating" in f for f in frames[:-1])
    assert all("SIMULATED" in f and "estimate $0.025" in f for f in frames[:-1])
    assert "1 task: 1 done" in frames[-1]
    with capture_output() as quiet:  # a caller's own listener: no display of ours
        asyncio.run(agenerate("a paper kite", listener=lambda event: None))
    assert quiet.outputs == []


def test_generate_in_a_script_shows_nothing(sim_env, capsys):
    run = asyncio.run(agenerate("a paper crane"))
    assert run.ok and capsys.readouterr() == ("", "")


# -- the rows, event by event ---------------------------------------------------------------
class FakeEvent:
    def __init__(self, kind, *, state=None, status=None, seconds_left=None, at=1000.0):
        self.kind, self.index, self.run, self.error = kind, 0, None, None
        self.state, self.status, self.progress = state, status, None
        self.seconds_left, self.at = seconds_left, at


def test_the_time_left_is_known_only_once_every_unfinished_task_has_a_prediction():
    progress = BatchProgress(["a", "b"])
    assert progress.seconds_left(now=1000.0) is None
    progress.apply(FakeEvent("progress", state="running", status="in_progress", seconds_left=8))
    assert progress.rows[0].describe(now=1002.0) == "generating · about 6 s left"
    assert progress.seconds_left(now=1002.0) is None  # b has no prediction yet
    progress.rows[1].state = "completed"
    assert progress.seconds_left(now=1002.0) == 6.0
    progress.apply(FakeEvent("progress", state="completed", status="downloading"))
    assert progress.rows[0].describe() == "downloading"
    assert TaskProgress(state="cancelled").describe() == "stopped"
    assert [time_left_text(s) for s in (0.4, 12.2, 130)] == [
        "almost done",
        "about 12 s left",
        "about 2 min left",
    ]


def test_a_long_prompt_label_is_cut_between_words():
    label = task_label(ImageRequest.create("an extraordinarily detailed lighthouse " * 3))
    assert label.startswith("an extraordinarily detailed lighthouse…")
    assert label.endswith(" · 1:1 · 1K · n=1")


def test_the_board_header_is_the_one_a_sweep_uses():
    board = display.ProgressBoard(["x"], estimate=0.05, simulated=True)
    header = display.status_header(board.header_text(), simulated=True)
    assert header in board.html()
    assert "estimate $0.050" in header and "SIMULATED" in header


def test_a_fanned_out_run_also_gets_a_time_left(sim, out_dir):
    """n one-image tasks for one run (a gateway that refuses n > 1): the run's time left is
    the latest of its parts' predicted ends, once every part has one."""
    sim.configure(duration=3.0, progress_mode="linear")
    engine = Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim.base_url, fanout="always")
    events = []
    (run,) = asyncio.run(
        engine.run([ImageRequest.create("two kites", n=2)], listener=events.append, cache=False)
    )
    assert run.ok and sim.stats()["tasks_created"] == 2
    lefts = [e.seconds_left for e in events if e.kind == "progress" and e.state == "running"]
    assert any(left is not None and left >= 0 for left in lefts)


def test_a_failed_row_says_why_without_the_task_id(sim, out_dir):
    engine = Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim.base_url)
    progress = BatchProgress(["broken"])
    (run,) = asyncio.run(
        engine.run([ImageRequest.create("[fail] a broken prompt")], listener=progress.apply)
    )
    assert not run.ok and run.task_id in run.error  # the error itself names the task
    text = progress.rows[0].describe()
    assert text.startswith("failed: The task failed: ") and run.task_id not in text
    assert not API_WORDS.search(text)
