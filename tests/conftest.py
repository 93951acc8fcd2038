"""Shared fixtures: a real simulator on loopback, an output folder, a real IPython shell.

Every test starts from a clean slate: no ToAPIs variables from the environment and no
learned task durations. Limiters and the traceback setting belong to the magic, the panel
or the engine that uses them, so no other state needs resetting.
"""

from __future__ import annotations

import pytest

from nanobanana_magic import _engine as engine_module
from nanobanana_magic.simulator import SIM_API_KEY, Simulator

TEST_KEY = SIM_API_KEY


@pytest.fixture(autouse=True)
def clean_state(monkeypatch, tmp_path):
    for name in ("TOAPIS_API_KEY", "TOAPIS_BASE_URL", "NANOBANANA_OUTPUT_DIR", "NANOBANANA_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    engine_module._DURATIONS.clear()


@pytest.fixture
def sim():
    """A fresh simulator with quick tasks; knobs via sim.configure(...)."""
    simulator = Simulator(duration=0.4, queue_delay=0.05).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def out_dir(tmp_path):
    return tmp_path / "banana_outputs"


@pytest.fixture
def sim_env(sim, monkeypatch, out_dir):
    """The environment a user with a key would have, pointed at the simulator."""
    monkeypatch.setenv("TOAPIS_BASE_URL", sim.base_url)
    monkeypatch.setenv("TOAPIS_API_KEY", TEST_KEY)
    monkeypatch.setenv("NANOBANANA_OUTPUT_DIR", str(out_dir))
    return sim


class Shell:
    """A real IPython InteractiveShell with the extension loaded; `run` raises on errors."""

    def __init__(self, ip):
        self.ip = ip

    def run(self, cell: str):
        result = self.ip.run_cell(cell, store_history=True)
        result.raise_error()
        return result.result

    def run_failing(self, cell: str) -> BaseException:
        result = self.ip.run_cell(cell)
        error = result.error_before_exec or result.error_in_exec
        assert error is not None, f"expected {cell!r} to fail"
        return error

    @property
    def ns(self):
        return self.ip.user_ns


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nanobanana_magic")
    try:
        yield Shell(ip)
    finally:
        ip.run_line_magic("unload_ext", "nanobanana_magic")
        ip.user_ns.pop("_", None)
