"""The main job: `nanobanana demo` executes every tutorial notebook in a real kernel.

Together these tests execute every notebook under notebooks/ against the simulator the
notebooks select themselves (no key in the environment), so the tutorials cannot rot.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from nanobanana_magic._demo import NOTEBOOKS, execute_notebook, notebooks_dir

pytestmark = pytest.mark.kernel
REPO = Path(__file__).resolve().parent.parent


def _errors(nb) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def _run_folders(root: Path) -> set[str]:
    return {p.name for p in (root / "runs").iterdir()} if (root / "runs").exists() else set()


def test_demo_writes_executed_notebooks_and_html_with_grids(tmp_path):
    out = tmp_path / "demo_output"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOAPIS_", "NANOBANANA_"))}
    command = [sys.executable, "-m", "nanobanana_magic._cli", "demo", "--out", str(out)]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "simulator" in first.stdout
    assert "without encryption" not in first.stderr  # the kernels talk over private sockets
    for name in NOTEBOOKS:
        executed = nbformat.read(out / name, as_version=4)
        assert not _errors(executed), _errors(executed)
        page = (out / name).with_suffix(".html").read_text()
        assert str(out / name.replace(".ipynb", ".html")) in first.stdout
        assert page.count("class='banana-thumb'") + page.count('class="banana-thumb"') >= 2
        assert "data:image/webp;base64," in page
        assert "Traceback" not in page
    runs = _run_folders(out / "banana_outputs")
    assert runs, "the demo stored no runs"
    for run_id in runs:
        manifest = json.loads(
            (out / "banana_outputs" / "runs" / run_id / "manifest.json").read_text()
        )
        assert manifest["simulated"] is True
        for image in manifest["images"]:
            assert (out / "banana_outputs" / "runs" / run_id / image["path"]).stat().st_size

    # the same notebooks again: everything comes from the cache, no new run is made
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert _run_folders(out / "banana_outputs") == runs


def test_every_other_notebook_executes_against_the_simulator(tmp_path, monkeypatch):
    others = sorted(p for p in notebooks_dir().glob("*.ipynb") if p.name not in NOTEBOOKS)
    assert others, "expected notebooks beyond the demo's (e.g. panel.ipynb)"
    for source in others:
        executed, page = execute_notebook(
            source, tmp_path / source.stem, env={"NANOBANANA_OUTPUT_DIR": str(tmp_path / "out")}
        )
        nb = nbformat.read(executed, as_version=4)
        assert not _errors(nb), (source.name, _errors(nb))
        assert page.stat().st_size > 0


def test_demo_with_a_key_asks_before_spending(tmp_path):
    env = dict(os.environ, TOAPIS_API_KEY="sk-real-looking-key-123")
    result = subprocess.run(
        [sys.executable, "-m", "nanobanana_magic._cli", "demo", "--out", str(tmp_path / "d")],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 1
    assert "real money" in result.stdout and "Nothing was sent" in result.stdout
    assert not (tmp_path / "d").exists()
    assert "sk-real-looking-key-123" not in result.stdout + result.stderr
