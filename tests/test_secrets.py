"""The API key stays secret: it appears in no output, file, log, repr or error message, and
the Authorization header reaches only the API's host.

A distinctive key is used everywhere and then searched for, byte for byte, in everything a
run leaves behind. Result files live on another loopback address (the simulator's files
server on 127.0.0.2) and may be redirected to a third one (127.0.0.3); both record every
header they receive.
"""

from __future__ import annotations

import asyncio
import logging
import traceback

import nbformat
import pytest
from conftest import RecordingServer, json_answer, png_bytes
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from nanobanana_magic import _errors as errors
from nanobanana_magic import generate, resume
from nanobanana_magic._client import ToAPIsClient
from nanobanana_magic._engine import Engine
from nanobanana_magic._imaging import read_parameters
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._settings import resolve_api_key
from nanobanana_magic._store import Store
from nanobanana_magic.simulator import Simulator

KEY = "sk-ZEBRA-7f3a9c2e51d84b6f-TOPSECRET"
KEY_PARTS = (KEY, "7f3a9c2e51d84b6f", "TOPSECRET")  # no fragment of it either


def assert_secret_absent(text, where: str) -> None:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    for part in KEY_PARTS:
        assert part not in text, f"the key leaked into {where}"


def assert_folder_clean(root) -> int:
    """Search every file under `root` (journal, manifests, PNGs, thumbnails); return count."""
    files = [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        assert_secret_absent(path.read_bytes(), str(path))
    return len(files)


@pytest.fixture
def split_sim():
    """A simulator whose result files come from another loopback address (127.0.0.2)."""
    simulator = Simulator(duration=0.3, queue_delay=0.05, files_host="127.0.0.2").start()
    try:
        yield simulator
    finally:
        simulator.stop()


def authorization_seen(headers: list[dict]) -> list[str]:
    return [h["authorization"] for h in headers if "authorization" in h]


@pytest.mark.timeout(60)
def test_python_api_logs_files_reprs_and_headers_keep_the_key(split_sim, out_dir, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "nanobanana_magic", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    reference = tmp_path / "ref.png"
    reference.write_bytes(png_bytes())

    run = generate(
        "a lighthouse at dusk",
        n=2,
        reference_images=[reference],
        base_url=split_sim.base_url,
        api_key=KEY,
        output_dir=out_dir,
    )
    assert run.ok and len(run.images) == 2

    with RecordingServer("127.0.0.3") as elsewhere:  # result files redirected off-site
        split_sim.configure(redirect_files_to=elsewhere.url)
        moved = generate(
            "a lighthouse at dawn", base_url=split_sim.base_url, api_key=KEY, output_dir=out_dir
        )
        assert moved.ok and elsewhere.requests
        assert not elsewhere.saw_authorization()

    # the header went to the API, and only there
    headers = split_sim.stats()["headers"]
    assert authorization_seen(headers["api"]) and set(authorization_seen(headers["api"])) == {
        f"Bearer {KEY}"
    }
    assert headers["files"] and authorization_seen(headers["files"]) == []

    # files: journal, manifests, images (with their parameters) and thumbnails
    assert assert_folder_clean(out_dir) >= 8
    parameters = read_parameters(run.images[0].path)
    assert parameters["request"]["prompt"] == "a lighthouse at dusk"
    assert_secret_absent(repr(parameters), "the PNG parameters")

    # reprs and displays
    engine = Engine(store=Store(out_dir), api_key=KEY, base_url=split_sim.base_url)
    client = ToAPIsClient(api_key=KEY, base_url=split_sim.base_url)
    secret = resolve_api_key(KEY)
    for name, value in {
        "run": repr(run),
        "images": repr(run.images),
        "engine": repr(engine),
        "client": repr(client),
        "secret": repr(secret),
        "str": str(secret),
        "html": run._repr_html_(),
        "bundle": repr(run._repr_mimebundle_()),
        "manifest": repr(run.to_manifest()),
        "store": repr(engine.store),
        "provenance": repr(run.provenance()),
    }.items():
        assert_secret_absent(value, f"the {name} repr")

    # logs at DEBUG, httpx and httpcore included
    assert caplog.records, "nothing was logged; the log check would prove nothing"
    assert any(r.name.startswith("httpx") for r in caplog.records)
    assert_secret_absent(caplog.text, "the log")
    for record in caplog.records:
        assert_secret_absent(record.getMessage(), f"a log record of {record.name}")


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(getattr(exc, "body", ""))


@pytest.mark.timeout(60)
def test_error_messages_and_tracebacks_never_carry_the_key(sim, out_dir):
    sim.configure(api_keys={"sk-somebody-else-entirely"})
    with pytest.raises(errors.AuthenticationError) as caught:
        generate("a refused request", base_url=sim.base_url, api_key=KEY, output_dir=out_dir)
    assert caught.value.status_code == 401
    assert_secret_absent(full_text(caught.value), "the 401 error")
    assert_secret_absent(caught.value._render_traceback_()[0], "the notebook rendering")
    assert_folder_clean(out_dir)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("status", [401, 403, 500])
def test_a_server_that_echoes_the_key_back_is_redacted(out_dir, status):
    def echo(method, path, body):
        return json_answer(
            status,
            {"error": {"message": f"token Bearer {KEY} rejected (key {KEY})", "code": status}},
        )

    with RecordingServer("127.0.0.1", respond=echo) as api:
        with pytest.raises(errors.APIError) as caught:
            generate("echo", base_url=api.url, api_key=KEY, output_dir=out_dir)
    assert_secret_absent(full_text(caught.value), f"the {status} error")
    assert "[redacted]" in str(caught.value) or status == 500
    assert_folder_clean(out_dir)


@pytest.mark.timeout(60)
def test_resume_sends_the_key_only_to_the_api(split_sim, out_dir):
    split_sim.configure(status_malformed_json=1.0)
    engine = Engine(
        store=Store(out_dir),
        api_key=KEY,
        base_url=split_sim.base_url,
        client_options={"max_retries": 1, "backoff_cap": 0.2},
    )
    (failed,) = asyncio.run(engine.run([ImageRequest.create("resumed later")]))
    assert not failed.ok
    split_sim.configure(status_malformed_json=0.0)
    (run,) = resume(output_dir=out_dir, api_key=KEY, base_url=split_sim.base_url)
    assert run.ok
    assert authorization_seen(split_sim.stats()["headers"]["files"]) == []
    assert_folder_clean(out_dir)


# -- the magic ---------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_magic_in_a_shell_never_shows_the_key(
    split_sim, shell, monkeypatch, tmp_path, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "magic_out"
    monkeypatch.setenv("TOAPIS_API_KEY", KEY)
    monkeypatch.setenv("TOAPIS_BASE_URL", split_sim.base_url)
    monkeypatch.setenv("NANOBANANA_OUTPUT_DIR", str(out))
    run = shell.run("%%banana -n 2 --name fox\na fox in the snow")
    shown = [repr(run), run._repr_html_(), repr(run._repr_mimebundle_())]
    shell.run("%banana config")
    shown.append(repr(shell.run("%banana history")))
    shown.append(shell.run(f"%banana export {run.run_id} --as curl"))
    shown.append(shell.run(f"%banana export {run.run_id} --as python"))
    shell.run("%banana cost")
    split_sim.configure(api_keys={"sk-not-this-one"})
    error = shell.run_failing("%%banana --no-cache\na fox in the snow")
    shown.append(full_text(error))
    captured = capsys.readouterr()
    shown += [captured.out, captured.err, caplog.text]
    for index, text in enumerate(shown):
        assert_secret_absent(text, f"magic output #{index}")
    assert_folder_clean(out)
    assert authorization_seen(split_sim.stats()["headers"]["files"]) == []


@pytest.mark.kernel
@pytest.mark.timeout(120)
def test_a_saved_notebook_run_in_a_real_kernel_holds_no_key(split_sim, tmp_path, monkeypatch):
    refusing = Simulator(duration=0.2, queue_delay=0.05, api_keys={"sk-only-this-one"}).start()
    try:
        out = tmp_path / "nb_out"
        monkeypatch.setenv("TOAPIS_API_KEY", KEY)
        monkeypatch.setenv("TOAPIS_BASE_URL", split_sim.base_url)
        monkeypatch.setenv("NANOBANANA_OUTPUT_DIR", str(out))
        cells = [
            "%load_ext nanobanana_magic",
            "%%banana -n 2\na secret garden",
            "%%banana --sweep size=1:1,16:9\na secret garden at noon",
            "%banana config",
            "%banana history",
            "%banana export last --as curl",
            "import nanobanana_magic as nb\n"
            f"nb.generate('refused', base_url={refusing.base_url!r})",
            "%config Banana.show_tracebacks = True",
            f"%banana use {refusing.base_url}",
            "%%banana\nrefused again",
        ]
        nb = new_notebook(cells=[new_code_cell(source) for source in cells])
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=60,
            allow_errors=True,
            resources={"metadata": {"path": str(tmp_path)}},
        )
        client.execute()
        saved = tmp_path / "secret.ipynb"
        nbformat.write(nb, saved)
    finally:
        refusing.stop()
    text = saved.read_text()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert any(o.get("output_type") == "error" and "401" in str(o) for o in outputs), (
        "the refused cells did not fail as planned"
    )
    assert "banana-grid" in text  # the image grids really were rendered
    assert_secret_absent(text, "the saved notebook")
    assert_folder_clean(out)
    assert authorization_seen(split_sim.stats()["headers"]["files"]) == []
