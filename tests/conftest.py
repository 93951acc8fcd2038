"""Shared fixtures and helpers: a real simulator on loopback, an output folder, a real
IPython shell, a recording HTTP server for hostile answers, and a fake clock for tests of
retry timing over `httpx.MockTransport`.

Every test starts from a clean slate: no ToAPIs variables from the environment and no
learned task durations. Limiters and the traceback setting belong to the magic, the panel
or the engine that uses them, so no other state needs resetting.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


@pytest.fixture(scope="module")
def module_sim():
    """One simulator for a whole test module, for slow setup done once (output folders
    that tests then get copies of: `copy_folder`). Tests that count the simulator's
    requests or change its knobs use their own `sim`."""
    simulator = Simulator(duration=0.4, queue_delay=0.05).start()
    try:
        yield simulator
    finally:
        simulator.stop()


def copy_folder(template, out_dir):
    """A test's own copy of an output folder made once for its module (`module_sim`):
    the same files the runs wrote, at the test's `out_dir`."""
    shutil.copytree(template, out_dir, symlinks=True)
    return out_dir


@pytest.fixture(scope="module")
def one_image_folder(module_sim, tmp_path_factory):
    """An output folder holding one run of one image ("a seed image"), made once for the
    module; tests take a `copy_folder` of it."""
    from nanobanana_magic import generate

    folder = tmp_path_factory.mktemp("one_image") / "banana_outputs"
    generate("a seed image", base_url=module_sim.base_url, api_key=TEST_KEY, output_dir=folder)
    return folder


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
    """The (singleton) shell with the extension loaded; `%config Banana.x = y` also lands in
    the shell's config, so it is forgotten before and after each test."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.config.pop("Banana", None)
    ip.run_line_magic("load_ext", "nanobanana_magic")
    try:
        yield Shell(ip)
    finally:
        ip.run_line_magic("unload_ext", "nanobanana_magic")
        ip.user_ns.pop("_", None)
        ip.config.pop("Banana", None)


# -- helpers shared by several test modules ------------------------------------------------
def png_bytes(size=(64, 48), color=(200, 120, 40), fmt="PNG") -> bytes:
    """A small image file's bytes (PNG unless `fmt` names another Pillow format)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


class RecordingServer:
    """An HTTP server on `host` that records (method, path, headers) of every request.

    `respond(method, path, body)` returns (status, headers, body bytes); by default every
    GET is answered with a small PNG and everything else with 404.
    """

    def __init__(self, host: str = "127.0.0.2", respond=None):
        self.requests: list[dict] = []
        self.respond = respond or self.serve_png
        self._png = png_bytes()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    }
                )
                status, headers, data = owner.respond(self.command, self.path, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def serve_png(self, method, path, body):
        if method == "GET":
            return 200, {"Content-Type": "image/png"}, self._png
        return 404, {"Content-Type": "application/json"}, b'{"error":{"message":"no"}}'

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def saw_authorization(self) -> bool:
        return any("authorization" in r["headers"] for r in self.requests)


def json_answer(status: int, payload) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


class FakeClock:
    """A monotonic clock that `sleep` advances at once, recording every wait.

    Pass `now` and `sleep` to `ToAPIsClient(clock=..., sleep=...)` and to its
    `LimiterRegistry`: backoff, Retry-After and polling then take no real time.
    """

    def __init__(self, start: float = 1000.0):
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += max(0.0, seconds)


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def one_sentence(message: str) -> None:
    """A message shown to a user: one line, no traceback, a finished sentence, short."""
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith(".") and len(message) < 320, message


def assert_one_sentence_naming_the_fix(message: str, fix: str) -> None:
    """Bad input: exactly one sentence, naming the fix (a regular expression), no key."""
    text = message.strip()
    assert text, "no message at all"
    assert "\n" not in text, f"more than one line: {text!r}"
    assert text[-1] in ".?", f"not a finished sentence: {text!r}"
    assert len(_SENTENCE_BREAK.split(text)) == 1, f"more than one sentence: {text!r}"
    assert re.search(fix, text, re.IGNORECASE), f"does not name the fix ({fix!r}): {text!r}"
    assert TEST_KEY not in text


def assert_nothing_sent(sim) -> None:
    """The simulator saw no request that sends, uploads or downloads anything."""
    stats = sim.stats()
    for counter in ("submit_requests", "status_requests", "uploads", "downloads", "tasks_created"):
        assert stats[counter] == 0, f"{counter} = {stats[counter]}"
    assert stats["headers"] == {"api": [], "files": []}
