"""Parameter sweeps end to end: the Python API and `%%banana --sweep` in a real
InteractiveShell, against the simulator over loopback HTTP; the tutorial notebook in a
real kernel (nbclient)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from conftest import TEST_KEY
from PIL import Image

from nanobanana_magic._engine import _AdaptiveGate
from nanobanana_magic._errors import ValidationError
from nanobanana_magic._generate import make_engine
from nanobanana_magic._store import Store
from nanobanana_magic._sweep import sweep
from nanobanana_magic._sweep_plan import BudgetExceededError, SweepPlan, plan_sweep
from nanobanana_magic._sweep_result import SweepRun

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture
def run_sweep(sim, out_dir):
    """`sweep(...)` against the test simulator and output folder."""

    def run(prompt, axes, **options):
        return sweep(
            prompt, axes, base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir, **options
        )

    return run


@pytest.fixture
def refs(tmp_path):
    """Three small reference PNGs made with Pillow."""
    paths = {}
    for name, colour in (
        ("red.png", (220, 40, 40)),
        ("blue.png", (40, 60, 220)),
        ("green.png", (40, 180, 60)),
    ):
        path = tmp_path / name
        Image.new("RGB", (64, 64), colour).save(path)
        paths[name] = path
    return paths


def sent(sim) -> int:
    return sim.stats()["submit_requests"]


# -- the Python API -----------------------------------------------------------------------------------
def test_product_of_a_parameter_and_a_template_axis(run_sweep, sim):
    result = run_sweep("a {animal} in snow", {"size": ["1:1", "16:9"], "animal": "fox,owl"})
    assert isinstance(result, SweepRun) and len(result) == 4 and not result.failed
    assert sim.stats()["tasks_created"] == 4
    fox_wide = result["16:9", "fox"]
    assert fox_wide.ok and fox_wide.request.prompt == "a fox in snow"
    assert fox_wide.request.size == "16:9"
    with Image.open(fox_wide.images[0].path) as image:
        assert image.width > image.height
    assert result.cell(size="1:1", animal="owl").request.prompt == "a owl in snow"
    assert {r.request.prompt for _, r in result} == {"a fox in snow", "a owl in snow"}
    assert result.spent == pytest.approx(4 * 0.025)


def test_zip_pairs_values_position_by_position(run_sweep, sim):
    result = run_sweep(
        "a kite, {style}",
        {"size": ["1:1", "16:9", "9:16"], "style": ["ink", "oil", "pastel"]},
        zip=True,
    )
    assert len(result) == 3 and sim.stats()["tasks_created"] == 3
    assert [(r.request.size, r.request.prompt) for _, r in result] == [
        ("1:1", "a kite, ink"),
        ("16:9", "a kite, oil"),
        ("9:16", "a kite, pastel"),
    ]
    (page,) = result.pages()  # a zipped sweep is one labelled row
    assert page.col_labels[1] == "size = 16:9 · style = oil"


def test_zip_with_unequal_lengths_is_refused_before_sending(run_sweep, sim):
    with pytest.raises(
        ValidationError,
        match=r"same number of values \(size has 2, "
        r"style has 3\)",
    ):
        run_sweep("a kite, {style}", {"size": "1:1,16:9", "style": "ink,oil,pastel"}, zip=True)
    assert sent(sim) == 0


def test_n_and_resolution_axes_and_the_cost_estimate(sim, out_dir):
    engine = make_engine(output_dir=out_dir, base_url=sim.base_url, api_key=TEST_KEY)
    plan = plan_sweep("a lamp", {"n": "1,2", "resolution": ["1K", "4K"]}, engine=engine)
    assert [(r.n, r.resolution) for _, r in plan.cells] == [
        (1, "1K"),
        (1, "4K"),
        (2, "1K"),
        (2, "4K"),
    ]
    assert plan.images == 6
    assert plan.estimate == pytest.approx(3 * 0.025 + 3 * 0.040)
    assert "3 × 1K at $0.025, 3 × 4K at $0.040" in plan.describe()
    custom = plan_sweep(
        "a lamp", {"resolution": ["1K", "4K"]}, engine=engine, prices={"1K": 0.5, "4K": 2.0}
    )
    assert custom.estimate == pytest.approx(2.5)
    assert sent(sim) == 0


def test_reference_set_axis_uploads_each_file_once(run_sweep, sim, refs):
    red, blue, green = (str(refs[n]) for n in ("red.png", "blue.png", "green.png"))
    result = run_sweep("a teapot", {"ref": [f"{red}+{blue}", green, "none"]})
    assert not result.failed and sim.stats()["tasks_created"] == 3
    assert sim.stats()["uploads"] == 3
    counts = [len(run.request.reference_images) for _, run in result]
    assert counts == [2, 1, 0]
    (page,) = result.pages()
    assert page.col_labels == ["red.png + blue.png", "green.png", "no refs"]
    assert [r["refs"] for r in result.records()] == ["red.png + blue.png", "green.png", ""]


def test_budget_refusal_sends_nothing_and_yes_goes_ahead(run_sweep, sim):
    axes = {"size": ["1:1", "16:9"], "resolution": ["0.5K", "2K"]}
    with pytest.raises(BudgetExceededError) as caught:
        run_sweep("a bridge", axes, budget=0.10)
    message = str(caught.value)
    assert "estimated $0.110" in message and "above the $0.100 budget" in message
    assert "pass yes=True to go ahead, or raise budget." in message and "--yes" not in message
    assert "\n" not in message
    assert sent(sim) == 0
    result = run_sweep("a bridge", axes, budget=0.10, yes=True)
    assert sim.stats()["tasks_created"] == 4 and result.spent == pytest.approx(0.11)


def test_default_budget_is_one_dollar(run_sweep, sim):
    axes = {
        "size": ["1:1", "16:9", "9:16", "4:3", "3:4"],
        "resolution": ["1K", "4K"],
        "n": [4],
    }  # 40 images, $1.30
    with pytest.raises(BudgetExceededError, match=r"above the \$1\.00 budget"):
        run_sweep("a bridge", axes)
    assert sent(sim) == 0


def test_dry_run_returns_the_plan_and_sends_nothing(run_sweep, sim, refs):
    plan = run_sweep(
        "a {thing}", {"thing": ["cup", "jug"], "ref": [str(refs["red.png"])]}, dry_run=True
    )
    assert isinstance(plan, SweepPlan)
    assert [p["prompt"] for p in plan.payloads()] == ["a cup", "a jug"]
    assert plan.payloads()[0]["image_urls"] == ["<upload of red.png>"]
    assert "Nothing was sent" in plan._repr_html_()
    assert sent(sim) == 0 and sim.stats()["uploads"] == 0


def test_one_failed_cell_shows_its_error_in_place(run_sweep, sim):
    result = run_sweep("a {thing} on a table", {"thing": ["cup", "[fail] vase", "jug"]})
    assert result.failed == [("[fail] vase",)]
    failed = result["[fail] vase"]
    assert failed.status == "failed" and "failed" in failed.error
    assert result["cup"].ok and result["jug"].ok
    html = result.html()
    cells = html.split("class='banana-sweep-cell'")[1:]
    assert len(cells) == 3 and "banana-error" in cells[1] and "banana-thumb" in cells[0] + cells[2]
    assert "2 of 3 cells done" in html and "1 failed" in html
    rows = result.records()
    assert rows[1]["status"] == "failed" and rows[1]["path"] is None and rows[1]["error"]


def test_extending_a_sweep_only_pays_for_the_new_column(run_sweep, sim):
    first = run_sweep("a {fruit} still life", {"size": ["1:1", "16:9"], "fruit": ["pear", "plum"]})
    assert sim.stats()["tasks_created"] == 4 and first.spent == pytest.approx(0.10)
    plan = run_sweep(
        "a {fruit} still life",
        {"size": ["1:1", "16:9"], "fruit": ["pear", "plum", "fig"]},
        dry_run=True,
    )
    assert len(plan.cached) == 4 and len(plan.to_send) == 2
    assert plan.estimate == pytest.approx(0.05)
    assert "4 cells from the cache for free" in plan.describe()
    extended = run_sweep(
        "a {fruit} still life", {"size": ["1:1", "16:9"], "fruit": ["pear", "plum", "fig"]}
    )
    assert sim.stats()["tasks_created"] == 6
    assert extended.spent == pytest.approx(0.05)
    assert (
        extended["1:1", "pear"].cached
        and extended["1:1", "pear"].run_id == first["1:1", "pear"].run_id
    )
    assert not extended["1:1", "fig"].cached
    assert "from the cache" in extended.html()


def test_headers_are_labelled_and_escaped(run_sweep):
    result = run_sweep(
        "a sign reading {text}", {"size": ["1:1", "16:9"], "text": ["<b>OPEN</b>", "Tom & Jerry"]}
    )
    html = result.html()
    assert "<b>OPEN</b>" not in html and "&lt;b&gt;OPEN&lt;/b&gt;" in html
    assert "Tom &amp; Jerry" in html
    cols = re.findall(r"class='banana-sweep-col'[^>]*>(.*?)</div>", html)
    rows = re.findall(r"class='banana-sweep-row'[^>]*>(.*?)</div>", html)
    assert cols == ["&lt;b&gt;OPEN&lt;/b&gt;", "Tom &amp; Jerry"] and rows == ["1:1", "16:9"]
    assert "size ↓" in html and "text →" in html


def test_one_axis_is_a_labelled_row(run_sweep):
    result = run_sweep("a boat", {"size": ["1:1", "21:9"]})
    (page,) = result.pages()
    assert page.row_labels == [""] and page.col_labels == ["1:1", "21:9"]
    assert page.col_axis == "size" and len(page.keys) == 1


def test_more_than_two_axes_make_one_grid_per_remaining_combination(run_sweep):
    result = run_sweep(
        "a {animal}, {style}",
        {"animal": ["cat", "dog"], "size": ["1:1"], "style": ["ink", "oil", "clay"]},
        resolution="0.5K",
    )
    pages = result.pages()
    assert [p.title for p in pages] == ["style = ink", "style = oil", "style = clay"]
    assert all(p.row_labels == ["cat", "dog"] and p.col_labels == ["1:1"] for p in pages)
    assert result[pages[2].keys[1][0]].request.prompt == "a dog, clay"
    html = result.html()
    assert html.count("class='banana-sweep-grid'") == 3 and "<table" not in html
    assert re.search(r"class='banana-sweep-title'[^>]*>style = oil</div>", html)


def test_cells_fill_in_live_from_engine_events(sim, out_dir):
    """What the magic does: feed the engine's events to a SweepRun, re-render its HTML."""
    engine = make_engine(output_dir=out_dir, base_url=sim.base_url, api_key=TEST_KEY)
    plan = plan_sweep("a {colour} kite", {"colour": ["red", "blue"]}, engine=engine)
    result = SweepRun(plan)
    assert "banana-sweep-pending" in result.html() and "estimated $0.050" in result.html()
    snapshots = []

    def listener(event):
        result.apply(event)
        if event.kind == "completed":
            snapshots.append(result.html())

    asyncio.run(engine.run([request for _, request in plan.cells], listener=listener))
    assert "1 of 2 cells done" in snapshots[0] and "banana-sweep-pending" in snapshots[0]
    assert "2 of 2 cells done" in snapshots[1]
    assert "banana-sweep-pending" not in snapshots[1]


def test_contact_sheet_is_one_labelled_png(run_sweep, tmp_path):
    result = run_sweep(
        "a {animal}",
        {"size": ["9:16"], "animal": ["cat", "[fail] dog"], "n": [1, 2]},
        resolution="0.5K",
    )
    path = result.contact_sheet(tmp_path / "sheets" / "sheet.png", cell=200)
    with Image.open(path) as sheet:
        sheet.load()  # decodes the whole file
        assert sheet.format == "PNG"
        assert sheet.width >= 2 * 200 and sheet.height >= 2 * 200  # 2 pages of 1 row
        corner = sheet.getpixel((sheet.width - 5, sheet.height - 5))
        assert corner == (255, 255, 255)


def test_records_and_dataframe(run_sweep):
    pandas = pytest.importorskip("pandas")
    result = run_sweep("a {thing}", {"thing": ["cup", "jug"], "n": [1, 2]})
    rows = result.records()
    assert len(rows) == 6  # one per image
    first = rows[0]
    assert {
        "thing",
        "n",
        "size",
        "resolution",
        "model",
        "prompt",
        "path",
        "task_id",
        "elapsed",
        "cost",
        "index",
    } <= set(first)
    assert first["thing"] == "cup" and Path(first["path"]).exists() and first["task_id"]
    assert sum(r["cost"] for r in rows) == pytest.approx(6 * 0.025)
    frame = result.to_dataframe()
    assert isinstance(frame, pandas.DataFrame) and len(frame) == 6
    assert frame.groupby("n")["path"].count().to_dict() == {1: 2, 2: 4}


def test_a_template_axis_named_like_a_record_field_keeps_both(run_sweep):
    result = run_sweep("a {status} lamp", {"status": ["lit", "dark"]})
    row = result.records()[0]
    assert row["axis_status"] == "lit" and row["status"] == "completed"


def test_bounded_concurrency_never_exceeds_its_limit(run_sweep, sim):
    result = run_sweep("a {i}", {"i": list(range(4))}, concurrency=2)
    assert not result.failed
    tasks = sorted(sim.stats()["tasks"].values(), key=lambda t: t["created_at"])
    for task in tasks:  # a slot frees only after its task finished and was downloaded
        overlapping = [
            o
            for o in tasks
            if o is not task and o["created_at"] < task["created_at"] < o["finished_at"]
        ]
        assert len(overlapping) < 2


def test_rate_limits_slow_the_sweep_down_but_every_cell_completes(run_sweep, sim):
    sim.configure(submit_429=0.4, retry_after=0.05, seed=3)
    result = run_sweep("a {i}", {"i": list(range(4))}, concurrency=4)
    assert not result.failed and len(result.records()) == 4
    assert sim.stats()["faults_injected"]["submit_429"] > 0
    assert sim.stats()["tasks_created"] == 4


def test_the_adaptive_gate_halves_once_per_burst_of_rate_limits_and_grows_back(monkeypatch):
    from nanobanana_magic import _engine as engine_module

    async def scenario():
        gate = _AdaptiveGate(8)
        gate.slow_down()
        gate.slow_down()  # the same burst of 429s: halved once
        assert gate.limit == 4
        monkeypatch.setattr(engine_module, "_SLOWDOWN_DEBOUNCE", 0.0)
        gate.slow_down()  # a later burst halves again
        assert gate.limit == 2
        for _ in range(2):
            await gate.succeeded()
        assert gate.limit == 3
        for _ in range(3 + 4 + 5 + 6 + 7):
            await gate.succeeded()
        return gate.limit

    assert asyncio.run(scenario()) == 8


def test_the_gate_lets_waiting_jobs_in_one_per_free_slot_in_order():
    """Jobs enter in the order they came, never more than the bound at once; a waiter
    cancelled while it waits, or just as a slot is handed to it, loses no slot."""

    async def scenario():
        gate = _AdaptiveGate(2)
        entered, inside, most = [], [0], [0]
        release = asyncio.Event()

        async def job(name):
            async with gate:
                entered.append(name)
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                await release.wait()
                inside[0] -= 1

        jobs = [asyncio.ensure_future(job(i)) for i in range(8)]
        await asyncio.sleep(0)
        jobs[3].cancel()  # waiting: leaves the queue
        await asyncio.sleep(0)
        assert entered == [0, 1] and gate.active == 2
        release.set()
        jobs[4].cancel()  # a slot may be handed to it now: it must pass it on
        await asyncio.gather(*jobs, return_exceptions=True)
        return entered, most[0], gate.active

    entered, most, active = asyncio.run(scenario())
    assert entered == [0, 1, 2, 5, 6, 7] and most == 2 and active == 0


@pytest.mark.parametrize(
    "axes, words",
    [
        ({}, "at least one axis"),
        ({"colour": "red"}, "Cannot sweep over 'colour'"),
        ({"size": "1:1,7:3"}, "Unknown size '7:3'"),
        ({"n": "1,two"}, "needs whole numbers"),
        ({"size": "1:1,1:1"}, "lists '1:1' twice"),
        ({"resolution": "1K,8K"}, "Unknown resolution '8K'"),
        ({"ref": "missing.png"}, "does not exist"),
        ({"ref": "a.png+"}, "empty part"),
    ],
)
def test_bad_axes_are_one_sentence_before_sending(run_sweep, sim, axes, words):
    with pytest.raises(ValidationError) as caught:
        run_sweep("a lamp", axes)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert sent(sim) == 0


def test_a_swept_parameter_given_twice_is_refused(run_sweep, sim):
    with pytest.raises(ValidationError, match="size is swept and also given"):
        run_sweep("a lamp", {"size": "1:1,16:9"}, size="4:3")
    assert sent(sim) == 0


# -- the magic in a real InteractiveShell ---------------------------------------------------------------
def test_magic_sweep_with_namespace_list_and_parameter_axis(shell, sim_env, capsys):
    shell.run('colours = ["red", "teal"]')
    result = shell.run(
        "%%banana --sweep colour=$colours --sweep size=1:1,16:9 --name grid\n"
        "a {colour} kite over the sea"
    )
    assert isinstance(result, SweepRun) and shell.ns["grid"] is result
    assert sim_env.stats()["tasks_created"] == 4 and not result.failed
    assert result["teal", "16:9"].request.prompt == "a teal kite over the sea"
    assert "estimated $0.100" in capsys.readouterr().out  # the plan, before sending
    bundle, metadata = result._repr_mimebundle_()
    assert "colour ↓" in bundle["text/html"] and "size →" in bundle["text/html"]
    assert metadata["application/vnd.nanobanana.provenance+json"]["sweep"] == {
        "colour": ["red", "teal"],
        "size": ["1:1", "16:9"],
    }


def test_magic_zip_and_ref_sets(shell, sim_env, refs):
    # the fixture's files are in the working directory
    result = shell.run(
        "%%banana --zip --sweep ref=red.png+blue.png,green.png "
        "--sweep style=ink,oil\na teapot, {style}"
    )
    assert len(result) == 2 and sim_env.stats()["tasks_created"] == 2
    (page,) = result.pages()
    assert page.col_labels == [
        "ref = red.png + blue.png · style = ink",
        "ref = green.png · style = oil",
    ]
    assert sim_env.stats()["uploads"] == 3


def test_magic_budget_refusal_then_yes(shell, sim_env):
    cell = "%%banana --sweep size=1:1,16:9,9:16 --resolution 2K --budget 0.05{}\na dome"
    error = shell.run_failing(cell.format(""))
    assert isinstance(error, BudgetExceededError)
    assert "estimated $0.090" in str(error)
    assert "pass --yes to go ahead, or raise --budget." in str(error)
    assert "yes=True" not in str(error) and "(s)" not in str(error)
    assert sim_env.stats()["submit_requests"] == 0
    result = shell.run(cell.format(" --yes"))
    assert sim_env.stats()["tasks_created"] == 3 and result.spent == pytest.approx(0.09)


def test_magic_budget_and_price_settings_are_configurable(shell, sim_env):
    try:
        shell.run("%config Banana.budget = 0.04")
        error = shell.run_failing("%%banana --sweep size=1:1,16:9\na dome")
        assert isinstance(error, BudgetExceededError) and "$0.040 budget" in str(error)
        shell.run('%config Banana.prices = {"0.5K": 0.01, "1K": 0.01, "2K": 0.01, "4K": 0.01}')
        result = shell.run("%%banana --sweep size=1:1,16:9\na dome")
        assert result.spent == pytest.approx(0.02)
    finally:  # %config lives in the shell's config, which outlives this test's extension
        for name in ("budget", "prices"):
            shell.ip.config.Banana.pop(name, None)


def test_magic_dry_run_shows_plan_and_payloads_and_sends_nothing(shell, sim_env):
    shell.run('styles = ["ink", "oil <paint>"]')
    dry = shell.run("%%banana --dry-run --sweep style=$styles --sweep n=1,2\na harbour, {style}")
    text = repr(dry)
    assert "4 cells, 4 tasks to send for 6 images, estimated $0.150" in text
    assert "Nothing was sent" in text
    assert json.loads(text[text.index("[") :])[3] == {
        "model": "nano-banana-2",
        "prompt": "a harbour, oil <paint>",
        "size": "1:1",
        "n": 2,
        "metadata": {"resolution": "1K"},
    }
    assert "oil &lt;paint&gt;" in dry._repr_html_()
    assert sim_env.stats()["submit_requests"] == 0


def test_magic_dry_run_of_a_fully_cached_sweep_says_so(shell, sim_env):
    shell.run("%%banana --sweep size=1:1,16:9\na dome")
    created = sim_env.stats()["tasks_created"]
    dry = shell.run("%%banana --dry-run --sweep size=1:1,16:9\na dome")
    expected = (
        "Sweep over size (2 values): every one of its 2 cells comes from the cache, "
        "so nothing would be sent and nothing spent."
    )
    assert dry.payloads == [] and repr(dry) == expected
    html = dry._repr_html_()
    assert "every one of its 2 cells comes from the cache" in html
    assert "[]" not in html and "banana-payload" not in html
    assert sim_env.stats()["tasks_created"] == created


def test_magic_partial_failure_and_cache_reuse_on_extension(shell, sim_env):
    first = shell.run("%%banana --sweep thing=cup,[fail]vase\na {thing} on a shelf")
    assert first.failed == [("[fail]vase",)] and first["cup"].ok
    assert sim_env.stats()["tasks_created"] == 2
    extended = shell.run("%%banana --sweep thing=cup,jug\na {thing} on a shelf")
    assert extended["cup"].cached and not extended["jug"].cached
    assert sim_env.stats()["tasks_created"] == 3 and extended.spent == pytest.approx(0.025)


@pytest.mark.parametrize(
    "line, words",
    [
        ("--sweep size", "is malformed; write --sweep KEY=V1,V2"),
        ("--sweep =1:1", "is malformed"),
        ("--sweep size=", "is malformed"),
        ("--sweep size=1:1 --sweep size=16:9", "was given twice"),
        ("--sweep size=$nowhere", "$nowhere is not defined"),
        ("--sweep colour=red", "Cannot sweep over 'colour'"),
        ("--sweep size=7:3", "Unknown size '7:3'"),
        ("--sweep n=1,many", "needs whole numbers"),
        ("--sweep size=1:1,16:9 --size 4:3", "size is swept and also given as --size"),
        ("--zip --sweep size=1:1,16:9 --sweep n=1,2,3", "same number of values"),
        ("--sweep size=1:1 --budget lots", "--budget needs a number"),
    ],
)
def test_magic_malformed_sweeps_are_one_sentence_and_send_nothing(shell, sim_env, line, words):
    error = shell.run_failing(f"%%banana {line}\na lamp")
    message = str(error)
    assert words in message, message
    assert "\n" not in message and message.rstrip().endswith((".", "?"))
    assert sim_env.stats()["submit_requests"] == 0


# -- the tutorial notebook in a real kernel ------------------------------------------------------------
@pytest.mark.kernel
def test_sweeps_notebook_runs_top_to_bottom_with_the_simulator(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("NANOBANANA_OUTPUT_DIR", str(tmp_path / "outputs"))
    nb = nbformat.read(NOTEBOOKS / "sweeps.ipynb", as_version=4)
    assert all(
        not cell.get("outputs") and not cell.get("execution_count")
        for cell in nb.cells
        if cell.cell_type == "code"
    )
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = json.dumps(nb)
    assert "images are SIMULATED" in text.replace("\\n", " ")  # a message wrapped in lines

    def output_of(start: str) -> str:
        (cell,) = [c for c in nb.cells if c.source.startswith(start)]
        return json.dumps(cell.outputs)

    assert "Nothing was sent" in output_of("%%banana --dry-run --sweep size=1:1,16:9 ")
    refusal = output_of("from nanobanana_magic import BudgetExceededError")
    assert "Refused:" in refusal and "above the $1.00 budget" in refusal
    assert "6 from the cache" in text and "banana-sweep-grid" in text
    with Image.open(tmp_path / "sweep_contact_sheet.png") as sheet:
        assert sheet.format == "PNG"
        sheet.load()
    with Image.open(tmp_path / "sweep_contact_sheet.jpg") as preview:
        assert preview.format == "JPEG" and preview.size == sheet.size
    shown = output_of("from IPython.display import Image")
    assert "image/jpeg" in shown and "image/png" not in shown
    assert "stained glass" in output_of("rows = lighthouses.records()")
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    runs = Store(tmp_path / "outputs").run_ids()
    assert len(runs) >= 10
