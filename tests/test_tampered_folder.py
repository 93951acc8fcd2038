"""A tampered output folder: shared, synced or edited by hand, it must not make the package
read or write outside it, run code, or hide the runs that are still fine (issue 11, items
11-14).

Every case starts from real runs made against the simulator through the Python API or the
magic, edits the folder on disk as an attacker or a careless sync would, and then uses the
real front ends (`%banana show/history/cost/export`, `generate`, `resume`).
"""

from __future__ import annotations

import ast
import base64
import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import (
    TEST_KEY,
    RecordingServer,
    assert_one_sentence_naming_the_fix,
    copy_folder,
    json_answer,
)

from nanobanana_magic import _errors as errors
from nanobanana_magic import generate, resume
from nanobanana_magic._export import export_request
from nanobanana_magic._store import Store

SECRET_TEXT = b"root:x:0:0:TOP-SECRET-OUTSIDE-THE-FOLDER"


def make_run(sim, out_dir, prompt="a fox in the snow"):
    return generate(prompt, base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir)


def edit_manifest(run, change) -> Path:
    path = run.folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def outside_file(tmp_path) -> Path:
    """A file beside the output folder that nothing may read (a stand-in for /etc/passwd)."""
    path = tmp_path / "passwd"
    path.write_bytes(SECRET_TEXT)
    return path


# -- item 11: nothing read or written outside a run's folder -----------------------------------
def folder_of_runs(sim, tmp_path_factory, *prompts: str) -> tuple[Path, list[str]]:
    """An output folder with a real run of each prompt (made once for the module by the
    fixtures below; each test tampers with its own `copy_folder`), and their run ids."""
    root = tmp_path_factory.mktemp("runs") / "banana_outputs"
    return root, [make_run(sim, root, prompt).run_id for prompt in prompts]


def copied_runs(made, out_dir) -> list:
    """The runs of a folder made once, as read from this test's copy of it."""
    template, run_ids = made
    store = Store(copy_folder(template, out_dir))
    return [store.load_run(run_id) for run_id in run_ids]


@pytest.fixture(scope="module")
def fox_and_another(module_sim, tmp_path_factory):
    return folder_of_runs(module_sim, tmp_path_factory, "a fox in the snow", "another fox")


@pytest.mark.parametrize("field", ["thumbnail", "path"])
@pytest.mark.parametrize("how", ["relative", "absolute", "symlink"])
def test_a_manifest_naming_a_file_outside_its_run_is_refused(
    field, how, fox_and_another, sim_env, shell, out_dir, outside_file
):
    run, _another = copied_runs(fox_and_another, out_dir)
    target = run.folder / run.images[0].path.name if field == "path" else run.images[0].thumbnail
    if how == "symlink":  # the manifest is untouched; the file itself points away
        target.unlink()
        target.symlink_to(outside_file)
    else:
        named = "../../../passwd" if how == "relative" else str(outside_file)
        edit_manifest(run, lambda data: data["images"][0].update({field: named}))

    error = shell.run_failing(f"%banana show {run.run_id}")
    assert isinstance(error, errors.ValidationError)
    assert_one_sentence_naming_the_fix(str(error), "outside the run's folder.*delete the run")
    with pytest.raises(errors.ValidationError):
        Store(out_dir).load_run(run.run_id)._repr_png_()  # never gets to read the file
    # history still lists the folder's other runs, and never embeds the file
    history = shell.run("%banana history")
    assert [r.request.prompt for r in history] == ["another fox"]
    assert base64.b64encode(SECRET_TEXT).decode()[:20] not in history._repr_html_()


def test_a_cache_entry_naming_a_run_outside_the_folder_is_ignored(sim, out_dir, tmp_path):
    first = make_run(sim, out_dir)
    # a complete run, planted beside the output folder, and a cache entry pointing at it
    evil = tmp_path / "evilrun"
    shutil.copytree(first.folder, evil)
    data = json.loads((evil / "manifest.json").read_text())
    data["run_id"] = "../../evilrun"
    (evil / "manifest.json").write_text(json.dumps(data))
    (out_dir / "cache" / first.request_key).write_text("../../evilrun")

    again = make_run(sim, out_dir)
    assert again.folder.parent == out_dir / "runs"
    assert not again.cached and sim.stats()["tasks_created"] == 2


def test_a_journal_entry_with_a_run_id_leading_outside_is_skipped(sim, out_dir, tmp_path, caplog):
    sim.configure(duration=2.5)  # longer than the 1 s task timeout below
    store = Store(out_dir)
    victim = tmp_path / "x"
    # a pending task the journal says belongs to run "../../x", a folder beside the outputs
    good = make_run_pending(sim, out_dir)
    shutil.copytree(good.folder, victim)
    data = json.loads((victim / "manifest.json").read_text())
    data["run_id"] = "../../x"
    (victim / "manifest.json").write_text(json.dumps(data))
    entry = next(e for e in store.read_journal() if e["event"] == "submitted")
    store.journal("submitted", **{**_fields(entry), "run_id": "../../x"})  # same task
    with caplog.at_level(logging.WARNING, logger="nanobanana_magic"):
        runs = resume(base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir)
    assert [run.run_id for run in runs] == [good.run_id] and runs[0].ok
    assert sorted(p.name for p in victim.iterdir()) == ["manifest.json"]  # nothing written
    (warning,) = [r.getMessage() for r in caplog.records if "journal" in r.getMessage()]
    assert "1 " in warning and "skipped" in warning


def make_run_pending(sim, out_dir):
    """A run whose task was submitted and is still pending (the kernel 'died')."""
    from nanobanana_magic._engine import Engine

    engine = Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim.base_url)
    with pytest.raises(errors.TaskTimeoutError):
        generate(
            "a pending fox",
            base_url=sim.base_url,
            api_key=TEST_KEY,
            output_dir=out_dir,
            task_timeout=1,
        )
    (entry,) = engine.pending_tasks()
    return engine.store.load_run(entry["run_id"])


def _fields(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("ts", "event", "pid")}


def test_run_ids_of_another_form_are_refused(sim, out_dir):
    make_run(sim, out_dir)
    store = Store(out_dir)
    for bad in ("../../x", "20260101-120000-abc123/../..", "{__import__('os')}"):
        with pytest.raises(errors.ValidationError) as caught:
            store.load_run(bad)
        assert_one_sentence_naming_the_fix(str(caught.value), "history")


# -- item 12: export never turns stored values into code ---------------------------------------
def test_export_refuses_a_base_url_that_would_be_code(sim_env, shell):
    run = shell.run("%%banana\na fox")
    for base in (
        'https://x"\nimport os; os.system("touch pwned")\n"',
        "https://$(touch pwned).example.com",
    ):
        edit_manifest(run, lambda data, base=base: data.update(base_url=base))
        for kind in ("python", "curl"):
            error = shell.run_failing(f"%banana export {run.run_id} --as {kind}")
            assert_one_sentence_naming_the_fix(str(error), "not a usable API address")
    assert not Path("pwned").exists()


def test_exported_python_holds_stored_values_as_data_never_as_code(sim, out_dir):
    run = make_run(sim, out_dir)
    run.run_id = "{__import__('os').system('touch pwned')}"
    run.request = run.request.replace(prompt='a fox"""\nimport os\n"""')
    code = export_request(run, Store(out_dir), "python")
    tree = ast.parse(code)
    calls = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not calls & {"__import__", "system"}
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("RUN_ID", "payload")
    }
    assert values["RUN_ID"] == run.run_id
    assert values["payload"]["prompt"] == run.request.prompt


def test_exported_curl_quotes_the_url_and_runs_nothing_else(sim, out_dir, tmp_path):
    run = make_run(sim, out_dir)
    run.base_url = "https://api.example.com:8443"
    run.request = run.request.replace(prompt="a fox $(touch pwned) `touch pwned2`")
    curl = export_request(run, Store(out_dir), "curl")
    assert curl.startswith("# NOTE: api.example.com is not a ToAPIs host")
    # run it in a real shell with `curl` replaced by a function that prints its arguments
    script = "curl() { printf '%s\\n' \"$@\"; }\nTASK_ID=t1\n" + curl
    shown = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert "https://api.example.com:8443/v1/images/generations" in shown
    assert not list(tmp_path.glob("pwned*"))


def test_an_export_for_another_host_says_the_key_goes_there(sim_env, shell):
    run = shell.run("%%banana\na fox")
    edit_manifest(run, lambda data: data.update(base_url="https://collector.example.net"))
    python = shell.run(f"%banana export {run.run_id}")
    assert (
        "collector.example.net is not a ToAPIs host; this code sends TOAPIS_API_KEY there" in python
    )
    home = shell.run("%%banana\na fox at home")
    edit_manifest(home, lambda data: data.update(base_url="https://toapis.com"))
    assert "NOTE" not in shell.run(f"%banana export {home.run_id}")


# -- item 13: one corrupt manifest does not break the folder -----------------------------------
CORRUPTIONS = {
    "not-json": lambda path: path.write_text("{ this is not json"),
    "empty-object": lambda path: path.write_text("{}"),
    "a-list": lambda path: path.write_text("[]"),
    "image-without-path": lambda path: _rewrite(path, lambda d: d["images"][0].pop("path")),
    "size-null": lambda path: _rewrite(path, lambda d: d["request"].update(size=None)),
    "width-null": lambda path: _rewrite(path, lambda d: d["images"][0].update(width=None)),
}


def _rewrite(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def good_and_bad(module_sim, tmp_path_factory):
    return folder_of_runs(module_sim, tmp_path_factory, "a good fox", "a fox whose manifest breaks")


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_one_corrupt_manifest_is_skipped_with_a_warning(
    kind, good_and_bad, sim_env, shell, out_dir, caplog, capsys
):
    good, bad = copied_runs(good_and_bad, out_dir)
    manifest = bad.folder / "manifest.json"
    CORRUPTIONS[kind](manifest)

    with caplog.at_level(logging.WARNING, logger="nanobanana_magic"):
        history = shell.run("%banana history")
        shell.run("%banana cost")
    assert [run.run_id for run in history] == [good.run_id]
    warnings = [r.getMessage() for r in caplog.records if str(manifest) in r.getMessage()]
    assert len(warnings) == 2 and "unreadable" in warnings[0]  # once for each command
    assert "$0.025 of simulated ones" in capsys.readouterr().out

    error = shell.run_failing(f"%banana show {bad.run_id}")
    assert_one_sentence_naming_the_fix(str(error), "manifest .* is unreadable")
    assert "Unknown run id" not in str(error)


# -- item 14: the key in use is redacted whatever its shape --------------------------------------
def test_a_key_of_any_shape_echoed_by_the_server_is_redacted_everywhere(out_dir):
    key = "Zq9_custom.KEY-plain-shape-123456"

    def api(method, path, body):
        if method == "POST":
            return json_answer(200, {"id": "task-echo", "status": "queued"})
        return json_answer(
            200,
            {
                "id": "task-echo",
                "status": "failed",
                "error": {"message": f"key {key} has no access to this model"},
            },
        )

    with RecordingServer("127.0.0.1", respond=api) as server:
        with pytest.raises(errors.TaskFailedError) as caught:
            generate("a fox", base_url=server.url, api_key=key, output_dir=out_dir)
    assert "has no access" in str(caught.value) and key not in str(caught.value)
    stored = [out_dir / "journal.jsonl", *out_dir.glob("runs/*/manifest.json")]
    assert len(stored) == 2
    for path in stored:
        text = path.read_text()
        assert key not in text and "[redacted]" in text
