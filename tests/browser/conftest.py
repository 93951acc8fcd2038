"""Fixtures for real-browser tests: a Jupyter server on loopback and headless Debian
chromium driven by Playwright (sync API), adapted from ../../shared browser recipe.

`jupyter_server` is parametrized over the two front ends the panel supports: JupyterLab 4
("lab") and Notebook 7 ("notebook"). Each test using it runs once per front end, against
one server at a time (pytest finishes the first before starting the second).

The server's root is a temp folder holding a copy of `notebooks/panel.ipynb`; the server,
its kernels and chromium get an environment without TOAPIS_* variables, so the notebook
chooses the built-in simulator itself. Everything started here is stopped by PID.
Browser tests skip when chromium is absent, unless E2E_REQUIRED=1 (then they fail).
Env: CHROMIUM=/path, E2E_LOG_DIR=dir (keeps the server logs, one per front end).

The fixtures are module-scoped, not session-scoped: Playwright's sync API marks an event
loop as running in the main thread while it is started, which would make every later
`asyncio.run` of the suite fail; stopping it when the browser module ends avoids that.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
# front end -> (python -m module, URL path of an open notebook, extra server options)
FRONT_ENDS = {
    "lab": (
        "jupyterlab",
        "/lab/tree/",
        [
            "--LabApp.news_url=None",  # the server never fetches the news feed
            (
                "--LabApp.check_for_updates_class="
                "jupyterlab.handlers.announcements.NeverCheckForUpdate"
            ),
        ],
    ),
    "notebook": ("notebook", "/notebooks/", []),
}
# user settings, read by both front ends: no news toast over the page; every cell attached
# to the DOM (no virtualised notebook)
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": '{"fetchNews": "false", "checkForUpdates": false}',
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _reap(procs: list[psutil.Process], timeout: float = 5) -> None:
    """SIGTERM, then SIGKILL, exactly these processes (psutil guards against PID reuse)."""
    alive = [p for p in procs if p.is_running()]
    for p in alive:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(alive, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)


def _wait_for_status(base: str, token: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + 60
    request = urllib.request.Request(
        f"{base}/api/status", headers={"Authorization": f"token {token}"}
    )
    while True:
        if proc.poll() is not None:
            raise RuntimeError("jupyter server exited:\n" + log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError("jupyter server did not come up:\n" + log.read_text()[-3000:])
        time.sleep(0.2)


@pytest.fixture(scope="module", params=list(FRONT_ENDS))
def jupyter_server(request):
    """A JupyterLab 4 or Notebook 7 server (`request.param`); yields its base URL, token,
    root folder, front-end name ("app") and `url(name)` for opening a notebook."""
    app = request.param
    module, notebook_path, app_options = FRONT_ENDS[app]
    root = Path(tempfile.mkdtemp(prefix=f"banana-e2e-{app}-"))
    nbdir = root / "nb"
    nbdir.mkdir()
    shutil.copy(NOTEBOOKS / "panel.ipynb", nbdir / "panel.ipynb")
    for rel, body in LAB_SETTINGS.items():
        target = root / "settings" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOAPIS_", "NANOBANANA_"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(root / "cfg"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
        IPYTHONDIR=str(root / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    cmd = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={nbdir}",
        *app_options,
    ]
    log_path = root / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115  (kept open for the server's lifetime)
    proc = subprocess.Popen(
        cmd,
        cwd=nbdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_status(base, token, proc, log_path)
        yield {
            "base": base,
            "token": token,
            "root": nbdir,
            "app": app,
            "url": lambda name: f"{base}{notebook_path}{name}?token={token}",
        }
    finally:
        # kernels run in their own sessions: snapshot the server's descendants first
        kids = _descendants(proc.pid)
        try:
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{base}/api/shutdown",
                    method="POST",
                    data=b"",
                    headers={"Authorization": f"token {token}"},
                ),
                timeout=5,
            ).close()
        except OSError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _reap(kids)
        log.close()
        if os.environ.get("E2E_LOG_DIR"):
            shutil.copy(log_path, Path(os.environ["E2E_LOG_DIR"]) / f"jupyter-{app}.log")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def chromium_browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: apt-get update && apt-get install -y chromium"
        if os.environ.get("E2E_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    me = psutil.Process()
    before = {p.pid for p in me.children()}
    pw = sync_playwright().start()  # Playwright's node driver, a child of this process
    browser, started = None, []
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        new = [p for p in me.children() if p.pid not in before]
        started = new + [d for p in new for d in _descendants(p.pid)]
        yield browser
    finally:
        try:
            if browser is not None:
                browser.close()
        finally:
            pw.stop()
        _reap(started)


DOCS = Path(__file__).resolve().parents[2] / "docs"
#: set to 1 to refresh the README's screenshots in docs/ (tracked files) from this run
UPDATE_SCREENSHOTS_ENV = "UPDATE_DOCS_SCREENSHOTS"


@pytest.fixture
def screenshot_folder():
    """Where screenshots for the README go: the given temporary folder, or docs/ when
    UPDATE_DOCS_SCREENSHOTS=1, so an ordinary run never rewrites tracked files."""

    def folder(temporary: Path) -> Path:
        return DOCS if os.environ.get(UPDATE_SCREENSHOTS_ENV) == "1" else temporary

    return folder
