"""`nanobanana demo`: execute the tutorial notebooks in a real kernel, save them and HTML.

Without TOAPIS_API_KEY the notebooks select the built-in simulator themselves; with a
key they call ToAPIs, so the demo asks before spending money (unless --yes).
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
from pathlib import Path

NOTEBOOKS = ("quickstart.ipynb", "sweeps.ipynb", "explore.ipynb")


def notebooks_dir() -> Path:
    """The tutorial notebooks: package data in an installed wheel, else (in a checkout,
    editable installs included) the repository's notebooks/ folder the wheel is built from."""
    package = Path(__file__).resolve().parent
    installed = package / "notebooks"
    return installed if installed.is_dir() else package.parent / "notebooks"


def kernel_manager(sockets: Path):
    """A manager for a python3 kernel whose channels stay private to this user: Unix
    sockets (IPC) in the private folder `sockets` where the system has them, else TCP
    with CurveZMQ keys the manager provisions (when the kernel declares support). Plain
    TCP is readable by anyone on the machine, and ipykernel warns about it."""
    from jupyter_client.manager import KernelManager

    if os.name == "posix":  # an absolute path: the kernel runs in another folder
        return KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "kernel"))
    return KernelManager(kernel_name="python3", transport_encryption="auto")


def execute_notebook(
    source: Path, out_dir: Path, *, env: dict | None = None, timeout: int = 600
) -> tuple[Path, Path]:
    """Run one notebook with nbclient in `out_dir`; write it and its HTML rendering there."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(source, as_version=4)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ)
    for name, value in (env or {}).items():  # None removes a variable
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    sockets = tempfile.TemporaryDirectory(prefix="nanobanana-kernel-")
    try:  # the kernel inherits this process's environment
        NotebookClient(
            nb,
            km=kernel_manager(Path(sockets.name)),
            timeout=timeout,
            kernel_name="python3",
            store_widget_state=True,
            resources={"metadata": {"path": str(out_dir)}},
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sockets.cleanup()
    executed = out_dir / source.name
    nbformat.write(nb, executed)
    page = executed.with_suffix(".html")
    page.write_text(html_page(nb), encoding="utf-8")
    return executed, page


def html_page(nb) -> str:
    """The notebook as one HTML page showing each widget's static HTML record.

    The page has no kernel and may have no network for the widget manager's scripts, and
    nbconvert falls back to a widget's static record only when the notebook carries no
    widget state; the .ipynb itself keeps the state for JupyterLab."""
    from nbconvert import HTMLExporter

    page_nb = copy.deepcopy(nb)
    page_nb.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(page_nb)
    return body


def run_demo(
    out: str = "demo_output", *, yes: bool = False, force_sim: bool = False, names=NOTEBOOKS
) -> int:
    out_dir = Path(out).resolve()
    env: dict[str, str | None] = {"NANOBANANA_OUTPUT_DIR": str(out_dir / "banana_outputs")}
    if os.environ.get("TOAPIS_API_KEY") and not force_sim:
        print(
            "TOAPIS_API_KEY is set: the demo will call ToAPIs and spend real money "
            "(about $0.75 at today's prices)."
        )
        if not yes:
            answer = input("Go ahead? [y/N] ") if sys.stdin.isatty() else ""
            if answer.strip().lower() not in ("y", "yes"):
                print("Nothing was sent. Use --yes to go ahead, or --sim for the simulator.")
                return 1
    else:
        env["TOAPIS_API_KEY"] = None  # the notebooks then choose the simulator
        print(
            "No TOAPIS_API_KEY (or --sim): the notebooks use the built-in simulator; "
            "images are simulated placeholders."
        )
    for name in names:
        print(f"executing notebooks/{name} ...", flush=True)
        executed, page = execute_notebook(notebooks_dir() / name, out_dir, env=env)
        print(f"  {executed}\n  {page}")
    print(f"Images and the journal: {out_dir / 'banana_outputs'}")
    return 0
