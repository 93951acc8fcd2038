"""`%%banana` in a real Jupyter kernel (nbclient), against a simulator run by this process.

The kernel inherits TOAPIS_BASE_URL / TOAPIS_API_KEY / NANOBANANA_OUTPUT_DIR from
os.environ (the `sim_env` fixture). Kernel starts cost seconds, so each test groups
several checks on one execution.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import nbformat
import pytest
from conftest import TEST_KEY
from jupyter_client import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook
from PIL import Image

from nanobanana_magic._display import PROVENANCE_MIME
from nanobanana_magic._store import Store
from nanobanana_magic._wording import WRAP_COLUMNS

pytestmark = pytest.mark.kernel

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MAX_BYTES_PER_IMAGE = 60_000


class RecordingClient(NotebookClient):
    """An nbclient that also keeps every iopub message, per cell, in arrival order."""

    def __init__(self, nb, **kwargs):
        super().__init__(
            nb, timeout=120, kernel_name="python3", kernel_manager_class=KernelManager, **kwargs
        )
        self.messages: dict[int, list[dict]] = {}

    def process_message(self, msg, cell, cell_index):
        self.messages.setdefault(cell_index, []).append(msg)
        return super().process_message(msg, cell, cell_index)

    def kinds(self, cell_index: int) -> list[str]:
        return [
            m["msg_type"]
            for m in self.messages.get(cell_index, [])
            if m["msg_type"] not in ("status", "execute_input")
        ]


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [new_code_cell(source) for source in sources]
    return nb


def execute(nb, workdir: Path, **kwargs) -> RecordingClient:
    client = RecordingClient(nb, resources={"metadata": {"path": str(workdir)}}, **kwargs)
    client.execute()
    return client


def outputs_of(nb, index: int, kind: str) -> list[dict]:
    return [o for o in nb.cells[index].outputs if o["output_type"] == kind]


def assert_one_paragraph_error(output: dict, ename: str, words: str) -> None:
    assert output["output_type"] == "error" and output["ename"] == ename
    lines = output["traceback"]  # one paragraph, wrapped between words
    assert all(len(line) <= WRAP_COLUMNS or " " not in line for line in lines)
    line = " ".join(lines)
    assert words in line and "Traceback" not in line and "\x1b[" not in line


MAGIC_NOTEBOOK = (
    "%load_ext nanobanana_magic",
    "%%banana -n 2 --resolution 2K --size 16:9 --name lighthouse\n"
    "a lighthouse at dusk, <b>oil</b> & ink",
    "print(_ is lighthouse, lighthouse.run_id)",
    "%%banana --size 7:3\na fox",
    "%%banana\n[policy] a refused prompt",
    "%banana history",
)


def test_magic_in_a_kernel_live_display_grid_provenance_size_and_cache(sim_env, out_dir, tmp_path):
    sim_env.configure(duration=1.5)
    nb = notebook(*MAGIC_NOTEBOOK)
    client = execute(nb, tmp_path, allow_errors=True)
    saved = tmp_path / "magic.ipynb"
    nbformat.write(nb, saved)
    stats = sim_env.stats()
    assert stats["tasks_created"] == 1
    (task_id,) = stats["tasks"]

    # one live display, created once and then updated in place; no stream of lines; then
    # the grid: a widget with rating controls, then its static HTML in an output of its own,
    # shown where the view is not (_rating_grid)
    kinds = [kind for kind in client.kinds(1) if not kind.startswith("comm_")]
    assert kinds[0] == "display_data" and kinds.count("display_data") == 3
    assert kinds.count("update_display_data") >= 2 and "stream" not in kinds
    assert kinds[-1] == "display_data" and "execute_result" not in kinds
    live_id, grid_id, static_id = (
        m["content"]["transient"]["display_id"]
        for m in client.messages[1]
        if m["msg_type"] == "display_data"
    )
    updated = {
        m["content"]["transient"]["display_id"]
        for m in client.messages[1]
        if m["msg_type"] == "update_display_data"
    }
    assert updated == {live_id} and len({live_id, grid_id, static_id}) == 3
    live_html = [
        m["content"]["data"]["text/html"]
        for m in client.messages[1]
        if m["msg_type"] == "update_display_data"
    ]
    assert any("banana-progress" in h and "elapsed" in h for h in live_html)
    # in the user's words, with the estimate and the badge; no task id, no API word
    assert any("generating" in h for h in live_html)
    assert all("estimate $0.060" in h and "SIMULATED" in h for h in live_html[:-1])
    assert not any(task_id in h or "in_progress" in h for h in live_html)

    # saved: the live display's final state, then the grid: its view, its static HTML
    live, view, result = outputs_of(nb, 1, "display_data")
    assert "1 task: 1 done" in live["data"]["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in view["data"]
    assert "text/html" not in view["data"] and "banana-rating-tail" in result["data"]["text/html"]
    grid = result["data"]["text/html"]
    assert grid.count("<img") == 2 and grid.count("src='data:image/webp;base64,") == 2
    assert "&lt;b&gt;oil&lt;/b&gt; &amp; ink" in grid and "<b>oil</b>" not in grid
    assert "16:9 · 2K · #0" in grid and "$0.030" in grid and "full size" in grid
    provenance = result["metadata"][PROVENANCE_MIME]
    assert provenance == live["metadata"][PROVENANCE_MIME]
    assert provenance["task_ids"] == [task_id] and provenance["cached"] is False
    assert provenance["request"]["n"] == 2 and provenance["request"]["resolution"] == "2K"
    run_id = provenance["run_id"]
    assert nb.cells[2].outputs[0]["text"] == f"True {run_id}\n"
    assert f"runs/{run_id}/{run_id}-0.png" in grid

    # small notebook, full-size files on disk
    assert len(json.dumps(result)) <= 2 * MAX_BYTES_PER_IMAGE
    run = Store(out_dir).load_run(run_id)
    for image in run.images:
        with Image.open(image.path) as full, Image.open(image.thumbnail) as thumb:
            assert full.width >= 2048 and max(thumb.size) <= 512
        assert image.path.stat().st_size > MAX_BYTES_PER_IMAGE
    assert saved.stat().st_size <= 2 * MAX_BYTES_PER_IMAGE + 20_000
    assert TEST_KEY not in saved.read_text()

    # our errors: one short paragraph, no traceback
    (bad_option,) = nb.cells[3].outputs
    assert_one_paragraph_error(bad_option, "ValidationError", "Invalid request: Unknown size")
    refused = nb.cells[4].outputs[-1]
    assert_one_paragraph_error(refused, "ContentPolicyError", "Content policy (422)")
    assert "banana-history" in outputs_of(nb, 5, "execute_result")[0]["data"]["text/html"]

    # the same notebook again, in a fresh kernel: images from the cache, no new task
    again = nbformat.read(saved, as_version=4)
    execute(again, tmp_path, allow_errors=True)
    assert sim_env.stats()["tasks_created"] == 1
    result = outputs_of(again, 1, "display_data")[2]
    assert result["metadata"][PROVENANCE_MIME]["run_id"] == run_id
    assert result["metadata"][PROVENANCE_MIME]["cached"] is True
    assert (
        f"From the cache (run {run_id})"
        in outputs_of(again, 1, "display_data")[0]["data"]["text/html"]
    )


def test_interrupt_stops_polling_and_leaves_the_task_resumable(sim_env, out_dir, tmp_path):
    sim_env.configure(duration=30)
    nb = notebook("%load_ext nanobanana_magic", "%%banana\na very slow lighthouse", "1 + 1")
    client = RecordingClient(nb, resources={"metadata": {"path": str(tmp_path)}})
    timing = {}

    def interrupt_once_submitted():
        while not Store(out_dir).pending_tasks():
            time.sleep(0.05)
        time.sleep(0.5)  # let it poll a little
        timing["interrupt"] = time.monotonic()
        client.km.interrupt_kernel()

    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        interrupter = threading.Thread(target=interrupt_once_submitted)
        interrupter.start()
        with pytest.raises(CellExecutionError):
            client.execute_cell(nb.cells[1], 1)
        stopped = time.monotonic()
        interrupter.join()
        client.execute_cell(nb.cells[2], 2)  # the kernel is still usable

    print(f"cell stopped {stopped - timing['interrupt']:.2f} s after the interrupt")
    (pending,) = Store(out_dir).pending_tasks()
    assert sim_env.stats()["tasks"][pending["task_id"]]["status"] != "completed"
    error = nb.cells[1].outputs[-1]
    assert_one_paragraph_error(error, "Interrupted", "Interrupted after")
    assert "%banana resume collects them" in " ".join(error["traceback"])
    assert "`" not in " ".join(error["traceback"])
    (live,) = outputs_of(nb, 1, "display_data")  # the stopped rows; the error says it once
    assert "Interrupted" not in live["data"]["text/html"]
    assert "polling stopped" not in live["data"]["text/html"]
    assert "stopped" in live["data"]["text/html"]  # the row, in the user's word
    assert pending["task_id"] not in live["data"]["text/html"]
    assert outputs_of(nb, 2, "execute_result")[0]["data"]["text/plain"] == "2"


def run_quickstart(workdir: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    execute(nb, workdir)  # raises on any error
    return nb


def quickstart_checks(nb) -> None:
    text = json.dumps(nb)
    assert "Nothing was sent" in text and "From the cache (run" in text
    assert "os.environ['TOAPIS_API_KEY']" in text and TEST_KEY not in text
    assert "banana-history" in text


def test_quickstart_selects_the_simulator_without_a_key(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOBANANA_OUTPUT_DIR", str(tmp_path / "outputs"))
    nb = run_quickstart(tmp_path)
    quickstart_checks(nb)
    assert "images are SIMULATED" in json.dumps(nb).replace("\\n", " ")  # wrapped lines
    assert len(Store(tmp_path / "outputs").run_ids()) == 4


def test_quickstart_against_a_simulator_given_by_the_environment(sim_env, out_dir, tmp_path):
    nb = run_quickstart(tmp_path)
    quickstart_checks(nb)
    assert f"Using the API at {sim_env.base_url}" in json.dumps(nb)
    assert sim_env.stats()["tasks_created"] == 4 and sim_env.stats()["uploads"] == 1
    assert len(Store(out_dir).run_ids()) == 4
