"""The control panel's logic, in process: real widgets (no front end), the real engine on a
running asyncio loop, the simulator over loopback HTTP and a real IPython shell for the
magic. `%%banana --background` runs in a real kernel (nbclient)."""

from __future__ import annotations

import asyncio
import datetime
import html
import re
from pathlib import Path

import nbformat
import pytest
from conftest import png_bytes
from nbclient import NotebookClient
from nbformat.v4 import new_notebook

from nanobanana_magic._errors import ValidationError
from nanobanana_magic._panel import NO_WIDGETS_TEXT, BananaPanel, PanelForm, panel
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store

NOW = datetime.datetime.now(datetime.timezone.utc)


def fill(p: BananaPanel, **values) -> None:
    widgets = {
        "prompt": p.prompt,
        "model": p.model,
        "size": p.size,
        "resolution": p.resolution,
        "n": p.count,
        "urls": p.urls,
        "sweep_key": p.sweep_key,
        "sweep_values": p.sweep_values,
    }
    for name, value in values.items():
        widgets[name].value = value


def generate(p: BananaPanel):
    """Click Generate on a running loop, check it returned at once, await the task."""

    async def scenario():
        p.generate_button.click()
        assert p.task is not None and p.busy  # the click handler returned; work goes on
        return await p.task

    return asyncio.run(scenario())


def error_text(p: BananaPanel) -> str:
    return html.unescape(p.error.value)


def statuses(p: BananaPanel) -> list[str]:
    return [row.status.value.split(" ")[0].rstrip(":") for row in p.progress.children]


def test_form_builds_the_same_request_as_the_magic(sim_env, tmp_path):
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes())
    p = panel(prompt="a fox", reference_images=[ref, "https://example.com/a.png"])
    fill(p, size="16:9", resolution="2K", n=3)
    plan, _engine = p.plan()
    (request,) = plan.requests
    assert request == ImageRequest.create(
        "a fox",
        size="16:9",
        resolution="2K",
        n=3,
        reference_images=[ref, "https://example.com/a.png"],
    )
    assert "Estimate: 1 task, 3 new images, $0.090." in p.cost.value
    assert p.form().cell_text() == (
        f"%%banana --model nano-banana-2 --size 16:9 --resolution 2K -n 3 --ref {ref} "
        "--ref https://example.com/a.png\na fox"
    )
    assert p._repr_mimebundle_()["text/plain"] == NO_WIDGETS_TEXT


def test_the_estimate_says_why_it_is_missing(sim_env):
    p = panel(prompt="a {creature} at dawn")
    with pytest.raises(ValidationError) as refused:
        p.plan()
    plan_error = refused.value
    assert p.cost.value.count("No estimate yet: ") == 1 and "creature" in p.cost.value
    assert html.escape(str(plan_error)) in p.cost.value  # the sentence Generate would give


def test_sweep_axis_expands_parameters_and_prompt_names(sim_env):
    p = panel(prompt="a fox")
    fill(p, sweep_key="size", sweep_values=" 1:1, 16:9 ,9:16")
    plan, _ = p.plan()
    assert [r.size for r in plan.requests] == ["1:1", "16:9", "9:16"]
    assert plan.labels == ["size = 1:1", "size = 16:9", "size = 9:16"]
    assert "--sweep size=1:1,16:9,9:16" in p.cell_text() and "--size" not in p.cell_text()
    assert "sweep of 3 cells, 3 new images, $0.075" in p.cost.value

    fill(p, prompt="a {animal} at dawn")
    assert ("{animal}", "animal") in p.sweep_key.options
    fill(p, sweep_key="animal", sweep_values="fox, snow owl", n=2)
    plan, _ = p.plan()
    assert [r.prompt for r in plan.requests] == ["a fox at dawn", "a snow owl at dawn"]
    assert {r.n for r in plan.requests} == {2}
    assert "--sweep 'animal=fox,snow owl'" in p.cell_text()


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"prompt": "   "}, "The prompt is empty"),
        ({"prompt": "a {creature}"}, "no variable 'creature' is defined"),
        ({"prompt": "fox", "sweep_key": "size", "sweep_values": " , "}, "has no values"),
        ({"prompt": "fox", "sweep_key": "size", "sweep_values": "1:1,7:7"}, "Unknown size '7:7'"),
        ({"prompt": "fox", "sweep_key": "n", "sweep_values": "1,many"}, "needs whole numbers"),
        ({"prompt": "fox", "urls": "ftp://example.com/a.png"}, "is not an http(s) URL"),
    ],
)
def test_bad_input_shows_one_sentence_and_sends_nothing(sim_env, values, expected):
    p = panel()
    fill(p, **values)

    async def scenario():
        p.generate_button.click()

    asyncio.run(scenario())
    assert p.task is None
    assert expected in error_text(p) and "banana-error" in p.error.value
    assert "Traceback" not in p.error.value
    stats = sim_env.stats()
    assert stats["submit_requests"] == 0 and stats["uploads"] == 0


def test_generate_runs_in_the_background_and_escapes_the_prompt(sim_env, out_dir):
    p = panel(prompt="<script>alert('x')</script> a fox", n=2)

    async def scenario():
        other_work = []

        async def meanwhile():
            while p.busy:  # the loop stays free while the panel works
                other_work.append(statuses(p)[0])
                await asyncio.sleep(0.02)

        task = p.generate()
        assert task is not None and not task.done()
        await asyncio.gather(task, meanwhile())
        return other_work, task.result()

    other_work, runs = asyncio.run(scenario())
    assert other_work and "done" not in other_work[0]
    # the row speaks the words of every live view: no server word, no task id
    assert set(other_work) <= {"queued", "generating", "downloading", "done"}
    (run,) = runs
    assert run.ok and len(run.images) == 2 and not p.busy
    assert statuses(p) == ["done"] and run.task_id not in p.progress.children[0].status.value
    grid = p.results_html
    assert grid.count("class='banana-thumb'") == 2 and "data:image/webp;base64," in grid
    # the finished grid: a card per image (in an Output widget, so the front end resolves
    # the file links) with its rating controls underneath
    (finished,) = p.tiles.children
    cards = [tile.card.outputs[0]["data"]["text/html"] for tile in finished.tiles]
    assert len(cards) == 2 and not p.grid.outputs  # the grid filling in made way for it
    assert all("banana-thumb" in card and "mathjax_ignore" in card for card in cards)
    assert "<script>" not in grid and "&lt;script&gt;" in grid
    assert "Spent $0.050 on 2 images" in p.cost.value and p.error.value == ""
    assert p.generate_button.disabled is False and p.cancel_button.disabled is True
    assert sim_env.stats()["tasks_created"] == 1
    assert p.history.options[1][1] == run.run_id  # the new run heads the history


def test_copy_as_cell_round_trips_through_the_magic(shell, sim_env, tmp_path):
    p = shell.run("%banana panel")
    assert isinstance(p, BananaPanel)
    ref = tmp_path / "ref.png"
    ref.write_bytes(png_bytes(color="blue"))
    p.upload.value = (
        {
            "name": "ref.png",
            "type": "image/png",
            "size": ref.stat().st_size,
            "content": memoryview(ref.read_bytes()),
            "last_modified": NOW,
        },
    )
    fill(p, prompt="a fox with {{braces}}", size="4:3", n=2)
    (run,) = generate(p)
    assert run.ok and run.request.prompt == "a fox with {braces}"
    cell = p.cell_text()
    # the button in the page holds the cell, ready for the clipboard (browser test)
    assert f'data-cell="{html.escape(cell)}"' in p.copy_button.value
    assert p.cell.value == cell and cell.startswith("%%banana ")
    created = sim_env.stats()["tasks_created"]

    line, body = cell.split("\n", 1)
    again = shell.run(f"%%banana {line[len('%%banana ') :]}\n{body}")
    assert again.cached and again.run_id == run.run_id and again.request_key == run.request_key
    assert sim_env.stats()["tasks_created"] == created  # no new task

    fill(p, sweep_key="size", sweep_values="4:3, 1:1")
    generate(p)
    created = sim_env.stats()["tasks_created"]
    swept = shell.run(p.cell_text())
    assert all(r is not None and r.cached for _, r in swept)
    assert sim_env.stats()["tasks_created"] == created


def test_panel_spending_counts_in_the_magics_cost_with_simulated_apart(shell, sim_env, capsys):
    p = shell.run("%banana panel")
    fill(p, prompt="a heron at dawn", n=2)
    (run,) = generate(p)
    assert run.ok and run.simulated and run.spent == 0.05
    capsys.readouterr()
    shell.run("%banana cost")
    said = capsys.readouterr().out
    assert "This kernel spent $0.000 (plus $0.050 of simulated images" in said


def test_history_restores_a_magic_run_from_disk(shell, sim_env, out_dir):
    made = shell.run(
        "%%banana --size 16:9 --resolution 2K -n 2 --ref https://example.com/r.png\na heron in fog"
    )
    p = shell.run("%banana panel")
    fill(p, prompt="something else", size="1:1")
    requests_before = sim_env.stats()["submit_requests"]
    labels = dict((value, label) for label, value in p.history.options)
    assert "a heron in fog" in labels[made.run_id]

    p.history.value = made.run_id
    form = p.form()
    assert (form.prompt, form.size, form.resolution, form.n) == ("a heron in fog", "16:9", "2K", 2)
    assert form.urls == "https://example.com/r.png"
    assert p.results_html.count("class='banana-thumb'") == 2
    assert made.run_id in p.cost.value and "nothing was sent" in p.cost.value
    assert sim_env.stats()["submit_requests"] == requests_before


def test_uploads_are_saved_shown_and_removable(sim_env, out_dir):
    p = panel(prompt="fox")
    content = png_bytes(color="green")
    p.upload.value = (
        {
            "name": "a.png",
            "type": "image/png",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": NOW,
        },
        {
            "name": "notes.txt",
            "type": "text/plain",
            "size": 5,
            "content": memoryview(b"hello"),
            "last_modified": NOW,
        },
    )
    saved = list((out_dir / "uploads").iterdir())
    assert len(saved) == 1 and saved[0].suffix == ".png" and saved[0].read_bytes() == content
    assert p.form().uploads == (str(saved[0]),)
    assert "'notes.txt' is not a png, jpeg, webp or gif image" in error_text(p)
    (card,) = p.thumbs.children
    thumb, remove = card.children
    assert thumb.value[:3] == b"\xff\xd8\xff"  # a small JPEG of the reference
    remove.click()
    assert p.thumbs.children == () and p.form().uploads == ()


def test_cancel_keeps_submitted_tasks_for_resume(shell, sim_env, out_dir):
    sim_env.configure(duration=1.5)
    p = shell.run("%banana panel")
    fill(p, prompt="a slow fox")
    store = Store(out_dir)

    async def scenario():
        task = p.generate()
        while not store.pending_tasks():  # submitted and journaled
            await asyncio.sleep(0.02)
        p.cancel_button.click()
        return await task

    assert asyncio.run(scenario()) == []
    assert statuses(p) == ["stopped"]
    assert "`%banana resume` collects them" in p.cost.value and not p.busy
    (pending,) = store.pending_tasks()
    assert "cancelled" in [label for label, _ in p.history.options][1]

    resumed = shell.run("%banana resume")
    assert [r.task_id for r in resumed] == [pending["task_id"]] and resumed[0].ok
    assert store.pending_tasks() == []


def test_cancel_says_what_was_submitted_and_may_be_charged(shell, sim_env, out_dir):
    sim_env.configure(duration=1.5)
    p = shell.run("%banana panel")
    fill(p, prompt="a slow fox", n=2)
    store = Store(out_dir)

    async def scenario():
        task = p.generate()
        while not store.pending_tasks():
            await asyncio.sleep(0.02)
        p.cancel_button.click()
        return await task

    asyncio.run(scenario())
    (pending,) = store.pending_tasks()
    shown = html.unescape(p.cost.value + str(getattr(p.grid, "outputs", "")))
    assert "$0.000 spent" not in shown and "nothing" not in shown
    assert "1 task was already submitted" in shown and pending["task_id"] in shown
    assert "may be charged (about $0.050)" in shown and "`%banana resume`" in shown


def test_without_a_loop_or_a_key_the_panel_says_what_to_do(out_dir):
    p = panel(prompt="fox", output_dir=out_dir)
    p.generate_button.click()  # no running loop here
    assert "needs a running Jupyter kernel" in error_text(p) and p.task is None

    async def scenario():
        return await p.generate()

    assert asyncio.run(scenario()) == []
    assert "No ToAPIs API key is set" in error_text(p) and "%banana use sim" in error_text(p)


def test_simulator_is_chosen_explicitly_and_stopped_with_the_panel(out_dir):
    p = panel(simulator={"duration": 0.2, "queue_delay": 0.0}, output_dir=out_dir, prompt="fox")
    sim = p.session.simulator
    assert "SIMULATED images, nothing paid" in p.header.value and sim.running
    (run,) = generate(p)
    assert run.ok and run.simulated
    assert f"--out {out_dir}" in p.cell_text()
    p.close()
    assert not sim.running


@pytest.mark.parametrize(
    "launch",
    ["%banana panel", "panel(magic, simulator={'duration': 0.2})", "panel(magic, output_dir='x')"],
)
def test_a_panel_from_a_configured_magic_uses_its_engine_settings(shell, sim_env, launch):
    shell.run("%config Banana.task_timeout = 7.5")
    shell.run("%config Banana.download_timeout = 9.5")
    shell.run("%config Banana.download_retries = 5")
    shell.run("%config Banana.max_poll_interval = 3.5")
    shell.run("%config Banana.concurrency = 3")
    shell.ns["magic"] = shell.ip.magics_manager.registry["Banana"]
    shell.ns["panel"] = panel
    p = shell.run(launch)
    try:
        engine = p.session.engine()
        assert (engine.task_timeout, engine.max_poll_interval, engine.concurrency) == (7.5, 3.5, 3)
        assert engine.client_options == {"download_timeout": 9.5, "download_retries": 5}
    finally:
        p.close()
        for name in ("magic", "panel"):
            shell.ns.pop(name)


def test_panel_refuses_unknown_defaults():
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        panel(simulator=True, colour="red")
    with pytest.raises(ValidationError, match="The panel has no size '5:1'"):
        panel(simulator=True, size="5:1")


def test_form_from_run_round_trips(sim_env):
    form = PanelForm(
        prompt="x",
        size="9:16",
        resolution="4K",
        n=4,
        urls="https://example.com/1.png https://example.com/2.png",
    )
    request = ImageRequest.create(form.prompt, **form.request_options())
    from nanobanana_magic._run import Run

    assert PanelForm.from_run(Run("r", request, request.key())) == form


async def _next_message(kc, parent: str, timeout: float = 60.0) -> dict:
    """The next iopub message a front end would route to the cell that sent `parent`."""
    while True:
        msg = await kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") == parent:
            return msg


async def _run_cell(kc, code: str) -> list[dict]:
    """Execute `code`; return its iopub messages up to the kernel going idle."""
    parent = kc.execute(code)
    messages = []
    while True:
        msg = await _next_message(kc, parent)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
        messages.append(msg)


@pytest.mark.kernel
def test_background_cell_returns_at_once_and_fills_in(sim_env, tmp_path):
    """In a real kernel: the cell goes idle showing the progress board, another cell runs,
    and later an update of the same display (routed to the same cell) brings the grid."""
    sim_env.configure(duration=1.0)
    nb = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        }
    )
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )

    async def scenario():
        async with client.async_setup_kernel():
            kc = client.kc
            await _run_cell(kc, "%load_ext nanobanana_magic")
            parent = kc.execute("%%banana --background -n 2 --name fox_run\na fox in a kernel")
            returned = []
            while True:
                msg = await _next_message(kc, parent)
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
                returned.append(msg)
            other = await _run_cell(kc, "print('meanwhile', 'fox_run' in globals())")
            updates = []
            while not any("banana-thumb" in str(m["content"]["data"]) for m in updates):
                msg = await _next_message(kc, parent)
                if msg["msg_type"] == "update_display_data":
                    updates.append(msg)
            final = await _run_cell(kc, "print(fox_run.ok, len(fox_run.images))")
            python = await _run_cell(
                kc, "from nanobanana_magic import generate\nkite = generate('a kite in a kernel')"
            )
            return returned, other, updates, final, python

    returned, other, updates, final, python = asyncio.run(scenario())
    # the live board, and an empty output kept after it for the grid's static half
    board, slot = [m for m in returned if m["msg_type"] == "display_data"]
    display_id = board["content"]["transient"]["display_id"]
    slot_id = slot["content"]["transient"]["display_id"]
    assert "banana-progress" in board["content"]["data"]["text/html"]
    assert not slot["content"]["data"].get("text/plain")
    assert not any("banana-thumb" in str(m["content"]) for m in returned)
    assert [m["content"]["text"] for m in other if m["msg_type"] == "stream"] == [
        "meanwhile False\n"
    ]  # another cell ran while the task was still going
    assert {m["content"]["transient"]["display_id"] for m in updates} <= {display_id, slot_id}
    (grid,) = [
        m["content"]["data"]["text/html"]
        for m in updates
        if m["content"]["transient"]["display_id"] == slot_id
    ]
    assert grid.count("class='banana-thumb'") == 2 and "a fox in a kernel" in grid
    assert [m["content"]["text"] for m in final if m["msg_type"] == "stream"] == ["True 2\n"]
    # the live frames of the background cell and of generate(): the user's words, the
    # estimate and the badge, never a task id or the server's words
    task_ids = list(sim_env.stats()["tasks"])
    assert len(task_ids) == 2
    frames = [board["content"]["data"]["text/html"]] + [
        m["content"]["data"]["text/html"]
        for m in updates
        if "banana-progress" in m["content"]["data"].get("text/html", "")
    ]
    assert len(frames) > 1  # the board was redrawn while the task ran
    shown = [
        m["content"]["data"]["text/html"]
        for m in python
        if m["msg_type"] in ("display_data", "update_display_data")
    ]
    assert shown and "1 task: 1 done" in shown[-1]
    assert all("estimate $0.050" in f and "SIMULATED" in f for f in frames)
    assert all("estimate $0.025" in f and "SIMULATED" in f for f in shown[:-1])
    assert any(re.search(r"\b(queued|generating)\b", f) for f in frames)
    for frame in frames + shown:
        assert not any(task_id in frame for task_id in task_ids)
        assert not re.search(r"\b(in_progress|submitted|running)\b", frame)


@pytest.mark.kernel
def test_tutorial_notebook_runs_against_the_simulator_without_a_key(tmp_path):
    notebook = Path(__file__).parents[1] / "notebooks" / "panel.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs)
    assert "Using the built-in simulator" in text and "panel busy: False" in text
    (view,) = [
        out for out in outputs if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]
    assert view.data["text/plain"] == NO_WIDGETS_TEXT
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    header = [
        m["state"]["value"]
        for m in state.values()
        if "banana-header" in m["state"].get("_dom_classes", ())
    ]
    assert header and "SIMULATED images, nothing paid" in header[0]
