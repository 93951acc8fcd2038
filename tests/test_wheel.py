"""The package as a user gets it: built with `python -m build`, installed from the wheel
into a fresh virtual environment (a real `pip install`, dependencies included), and used
from there, far from this checkout.

One module-scoped build serves every test here; the install takes seconds because pip
finds the dependencies in its cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.kernel
REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))


def _run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-3000:])
    return result


def _clean_env(venv: Path) -> dict:
    """No key, no settings of ours, and the venv's scripts first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOAPIS_", "NANOBANANA_"))}
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    # setuptools warns that byte-compiling is off when this is set; a user's build has it not
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = _run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)], env=env)
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    return wheel, sdist, result.stdout + result.stderr


@pytest.fixture(scope="module")
def venv(built, tmp_path_factory):
    wheel, _, _ = built
    where = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", str(where)])
    python = where / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "--quiet", f"{wheel}[demo]"],
        env=_clean_env(where),
    )
    return where


def test_the_build_is_clean(built):
    _, _, log = built
    noisy = [
        line for line in log.splitlines() if "warning" in line.lower() or "deprecat" in line.lower()
    ]
    assert not noisy, noisy


def test_the_wheel_carries_the_notebooks_and_nothing_else_there(built):
    wheel, _, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(
        n.removeprefix("nanobanana_magic/notebooks/")
        for n in names
        if n.startswith("nanobanana_magic/notebooks/")
    )
    assert NOTEBOOKS and shipped == NOTEBOOKS
    assert "nanobanana_magic/simulator/server.py" in names
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "scripts/"))]


def test_the_sdist_carries_tests_notebooks_and_scripts(built):
    _, sdist, _ = built
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in (
        "pyproject.toml",
        "README.md",
        "tests/conftest.py",
        "tests/test_wheel.py",
        "scripts/demo.sh",
        "scripts/make_quickstart.py",
        "benchmarks/polling.py",
        *(f"notebooks/{name}" for name in NOTEBOOKS),
    ):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.startswith(".venv")]


def test_the_installed_package_is_the_wheel_not_this_checkout(venv, tmp_path):
    result = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import nanobanana_magic; print(nanobanana_magic.__file__)",
        ],
        cwd=tmp_path,
        env=_clean_env(venv),
    )
    assert Path(result.stdout.strip()).is_relative_to(venv)


def test_the_demo_runs_from_the_installed_wheel(venv, tmp_path):
    out = tmp_path / "demo_output"
    result = _run(
        [str(venv / "bin" / "nanobanana"), "demo", "--out", str(out)],
        cwd=tmp_path,
        env=_clean_env(venv),
    )
    assert "simulator" in result.stdout
    assert "without encryption" not in result.stderr, result.stderr[-2000:]
    for name in ("quickstart.ipynb", "sweeps.ipynb"):
        executed = nbformat.read(out / name, as_version=4)
        errors = [
            o
            for cell in executed.cells
            for o in cell.get("outputs", [])
            if o.get("output_type") == "error"
        ]
        assert not errors, errors
        assert (out / name).with_suffix(".html").stat().st_size
    assert list((out / "banana_outputs" / "runs").iterdir())


def test_magic_simulator_and_panel_from_the_installed_wheel(venv, tmp_path):
    script = """
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "nanobanana_magic")
ip.run_line_magic("banana", "use sim")
run = ip.run_cell_magic("banana", "--resolution 0.5K", "a pear from the wheel")
print("images", len(run.images), run.simulated)
panel = ip.run_line_magic("banana", "panel")
print("panel", type(panel).__name__)
ip.run_line_magic("banana", "use toapis")
"""
    result = _run(
        [str(venv / "bin" / "python"), "-c", script],
        cwd=tmp_path,
        env=_clean_env(venv),
    )
    assert "images 1 True" in result.stdout
    assert "panel " in result.stdout
    assert list((tmp_path / "banana_outputs" / "runs").iterdir())
