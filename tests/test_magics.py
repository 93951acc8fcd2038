"""`%%banana` and `%banana` through a real IPython InteractiveShell against the simulator.

Every test drives the magic the way a user does (`run_cell`), over real loopback HTTP;
"nothing was sent" is checked on the simulator's own counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TEST_KEY, assert_nothing_sent, one_sentence
from IPython.core.error import UsageError
from PIL import Image

from nanobanana_magic import _errors as errors
from nanobanana_magic._cell_options import parse_cell_line
from nanobanana_magic._display import PROVENANCE_MIME
from nanobanana_magic._displayables import DryRun, History
from nanobanana_magic._engine import Engine
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._run import Run
from nanobanana_magic._runner import Interrupted
from nanobanana_magic._store import Store
from nanobanana_magic._wording import WRAP_COLUMNS


def magic(shell):
    return shell.ip.magics_manager.registry["Banana"]


def sent_payloads(out_dir: Path) -> list[dict]:
    """The payloads the engine POSTed, in order (journalled just before each submit)."""
    return [e["payload"] for e in Store(out_dir).read_journal() if e["event"] == "submit_attempt"]


@pytest.fixture
def ref_png(tmp_path):
    path = tmp_path / "reference.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(path)
    return path


# -- the cell magic: generation, value, cache ----------------------------------------------------
def test_cell_generates_images_and_its_value_is_the_run(shell, sim_env, out_dir, capsys):
    run = shell.run("%%banana -n 2 --size 16:9 --resolution 0.5K\na red fox in snow")
    assert isinstance(run, Run) and run.ok and not run.cached and len(run.images) == 2
    assert shell.run("_") is run
    for image in run.images:
        assert image.path.is_file() and image.path.parent.parent.parent == out_dir
        with Image.open(image.path) as full, Image.open(image.thumbnail) as thumb:
            assert full.width > full.height
            assert max(thumb.size) <= 512
    assert sim_env.stats()["tasks_created"] == 1
    (payload,) = sent_payloads(out_dir)
    assert payload == {
        "model": "nano-banana-2",
        "prompt": "a red fox in snow",
        "size": "16:9",
        "n": 2,
        "metadata": {"resolution": "0.5K"},
    }
    assert "1 task: 1 done" in capsys.readouterr().out
    bundle, metadata = run._repr_mimebundle_()
    assert bundle["text/html"].count("<img") == 2
    assert str(run.images[0].path) in bundle["text/plain"]  # terminal: the saved paths
    provenance = metadata[PROVENANCE_MIME]
    assert provenance["run_id"] == run.run_id and provenance["task_ids"] == [run.task_id]
    assert provenance["request"]["size"] == "16:9"


def test_rerun_shows_the_cache_and_sends_nothing(shell, sim_env, capsys):
    first = shell.run("%%banana --size 4:3\na lighthouse at dusk")
    capsys.readouterr()
    again = shell.run("%%banana --size 4:3\na lighthouse at dusk")
    assert again.cached and again.run_id == first.run_id and again.spent == 0
    assert shell.run("_").run_id == first.run_id
    assert f"From the cache (run {first.run_id})" in capsys.readouterr().out
    assert f"stored run {first.run_id}, from disk (nothing sent" in again._repr_html_()
    assert sim_env.stats()["tasks_created"] == 1

    fresh = shell.run("%%banana --size 4:3 --no-cache\na lighthouse at dusk")
    assert not fresh.cached and fresh.run_id != first.run_id
    assert sim_env.stats()["tasks_created"] == 2

    variant = shell.run("%%banana --size 4:3 --variant b\na lighthouse at dusk")
    assert not variant.cached and sim_env.stats()["tasks_created"] == 3
    assert (
        shell.run("%%banana --size 4:3 --variant b\na lighthouse at dusk").run_id == variant.run_id
    )
    assert sim_env.stats()["tasks_created"] == 3


def test_request_options_reach_the_wire(shell, sim_env, out_dir):
    run = shell.run(
        "%%banana --model gemini-3.1-flash-image-preview --size 9:16 -n 1 "
        "--resolution 1k --image-search --meta seed=7 --meta 'title=a b'\n"
        "a tall tower"
    )
    assert run.ok
    (payload,) = sent_payloads(out_dir)
    assert payload == {
        "model": "gemini-3.1-flash-image-preview",
        "prompt": "a tall tower",
        "size": "9:16",
        "n": 1,
        "metadata": {
            "seed": 7,
            "title": "a b",
            "resolution": "1K",
            "google_search": True,
            "google_image_search": True,
        },
    }
    (task,) = sim_env.stats()["tasks"].values()
    assert (task["size"], task["resolution"]) == ("9:16", "1K")
    shell.run("%%banana --search --no-cache\na tall tower")
    assert sent_payloads(out_dir)[-1]["metadata"] == {"resolution": "1K", "google_search": True}


def test_references_are_uploaded_once_and_sent_as_urls(shell, sim_env, out_dir, ref_png):
    shell.ns["ref"] = str(ref_png)
    run = shell.run("%%banana --ref $ref --ref https://example.com/style.png\nin this style")
    assert run.ok and sim_env.stats()["uploads"] == 1
    (payload,) = sent_payloads(out_dir)
    uploaded, remote = payload["image_urls"]
    assert uploaded.startswith("http://127.0.0.1") and remote == "https://example.com/style.png"
    shell.run("%%banana --ref $ref --ref https://example.com/style.png --no-cache\nin this style")
    assert sim_env.stats()["uploads"] == 1  # the journal remembers the upload
    assert sent_payloads(out_dir)[-1]["image_urls"] == [uploaded, remote]


def test_name_binds_the_run_and_out_chooses_the_folder(shell, sim_env, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    run = shell.run(f"%%banana --name fox_run --out {elsewhere}\na fox")
    assert shell.ns["fox_run"] is run
    assert run.images[0].path.is_relative_to(elsewhere)
    assert Store(elsewhere).pending_tasks() == [] and len(Store(elsewhere).run_ids()) == 1


def test_dry_run_shows_the_exact_payload_and_cost_and_sends_nothing(
    shell, sim_env, ref_png, out_dir
):
    shell.ns["ref"] = str(ref_png)
    dry = shell.run(
        "%%banana --dry-run -n 2 --resolution 2K --size 21:9 --search "
        "--meta seed=7 --ref $ref\na <b>bold</b> city"
    )
    assert isinstance(dry, DryRun)
    assert dry.payloads == [
        {
            "model": "nano-banana-2",
            "prompt": "a <b>bold</b> city",
            "size": "21:9",
            "n": 2,
            "image_urls": ["<upload of reference.png>"],
            "metadata": {"seed": 7, "resolution": "2K", "google_search": True},
        }
    ]
    assert "estimated $0.060" in dry.text and "Nothing was sent" in dry.text
    assert "<b>bold" not in dry._repr_html_() and "&lt;b&gt;bold" in dry._repr_html_()
    assert_nothing_sent(sim_env)
    assert not out_dir.exists()


def test_dry_run_of_a_cached_cell_says_the_cache_holds_it(shell, sim_env):
    shell.run("%%banana --size 4:3\na lighthouse at dusk")
    created = sim_env.stats()["tasks_created"]
    dry = shell.run("%%banana --dry-run --size 4:3\na lighthouse at dusk")
    assert dry.payloads == []
    assert dry.text == (
        "Dry run: the cache already holds this request, so nothing would be sent and nothing spent."
    )
    assert repr(dry) == dry.text and "[]" not in dry._repr_html_()
    assert "banana-payload" not in dry._repr_html_()
    assert sim_env.stats()["tasks_created"] == created


def test_an_interrupt_is_reported_once_in_plain_words(shell, sim_env, out_dir, capsys):
    sim_env.configure(duration=30)
    main = threading.main_thread().ident
    assert main is not None

    def interrupt_once_submitted():
        while not Store(out_dir).pending_tasks():
            time.sleep(0.05)
        signal.pthread_kill(main, signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_once_submitted)
    interrupter.start()
    try:
        error = shell.run_failing("%%banana\na very slow lighthouse")
    finally:
        interrupter.join()
    assert isinstance(error, Interrupted)
    assert str(error).startswith("after ") and "polling stopped" in str(error)
    assert "%banana resume collects them" in str(error)
    out = capsys.readouterr().out
    assert out.count("Interrupted") == 1 and out.count("polling stopped") == 1, out
    assert "`" not in out
    assert len(Store(out_dir).pending_tasks()) == 1


def test_sweep_options_parse_into_the_command(shell):
    shell.ns["styles"] = ["ink", "oil"]
    cmd = parse_cell_line(
        magic(shell).banana,
        "--sweep size=1:1,16:9 --sweep style=$styles --zip --concurrency 2 --budget 0.5 --yes",
        shell.ns,
    )
    assert cmd.sweep == {"size": "1:1,16:9", "style": ["ink", "oil"]}
    assert (cmd.zip, cmd.concurrency, cmd.budget, cmd.yes) == (True, 2, 0.5, True)


# -- bad options: one sentence, nothing sent ---------------------------------------------------
BAD_LINES = [
    ("--bogus", UsageError, "Unknown option --bogus"),
    ("--res 2K", UsageError, "Unknown option --res"),
    ("stray --size 1:1", UsageError, "Unexpected 'stray'"),
    ("--size 1:1 --size 16:9", UsageError, "--size was given twice"),
    ("-n 1 --n 2", UsageError, "given twice"),
    ("--size", UsageError, "--size needs a value after it"),
    ("--image-search=yes", UsageError, "--image-search: ignored explicit argument"),
    ("--meta 'unclosed", UsageError, "balance the quotes"),
    ("-n two", UsageError, "--n needs a whole number"),
    ("-n 1.5", UsageError, "--n needs a whole number"),
    ("-n $undefined", UsageError, "$undefined is not defined"),
    ("--concurrency 0", UsageError, "at least 1"),
    ("--budget -1", UsageError, "at least 0"),
    ("--meta novalue", UsageError, "--meta 'novalue' is malformed"),
    ("--sweep size", UsageError, "--sweep 'size' is malformed"),
    ("--name 1abc", UsageError, "not a valid Python variable name"),
    ("-n 7", errors.ValidationError, "ask for 1 to 4"),
    ("--size 7:3", errors.ValidationError, "Unknown size '7:3'"),
    ("--resolution 3K", errors.ValidationError, "Unknown resolution '3K'"),
    ("--model gpt-image-2", errors.ValidationError, "Unknown model"),
    ("--meta resolution=2K", errors.ValidationError, "own option"),
    ("--ref missing.png", errors.ValidationError, "does not exist"),
    ("--ref ftp://host/x.png", errors.ValidationError, "not an http(s) URL"),
    ("--ref notes.txt", errors.ValidationError, "not a png, jpeg, webp or gif"),
]


@pytest.mark.parametrize("line, kind, words", BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_bad_options_are_one_sentence_and_send_nothing(shell, sim_env, tmp_path, line, kind, words):
    (tmp_path / "notes.txt").write_text("not an image")
    error = shell.run_failing(f"%%banana {line}\na fox")
    assert isinstance(error, kind) and words in str(error)
    one_sentence(str(error))
    assert_nothing_sent(sim_env)


def test_errors_render_as_one_paragraph_until_tracebacks_are_asked_for(shell, sim_env, capsys):
    error = shell.run_failing("%%banana\n[fail] a broken prompt")
    assert isinstance(error, errors.TaskFailedError)
    out = capsys.readouterr().out
    assert "Generation failed: Task task_img_" in out and "Traceback" not in out
    lines = error._render_traceback_()  # one paragraph, wrapped between words
    assert " ".join(lines) == f"Generation failed: {error}"
    assert all(len(line) <= WRAP_COLUMNS or " " not in line for line in lines)

    shell.run_failing("%%banana --size 7:3\na fox")
    out = capsys.readouterr().out
    assert out.strip().startswith("Invalid request: Unknown size") and "Traceback" not in out

    shell.run("%config Banana.show_tracebacks = True")
    shell.run_failing("%%banana --size 7:3\na fox")
    out = capsys.readouterr().out
    assert "Traceback" in out and "ValidationError" in out and "request.py" in out
    shell.run("%config Banana.show_tracebacks = False")
    shell.run_failing("%%banana --size 7:3\na fox")
    assert "Traceback" not in capsys.readouterr().out


def test_show_tracebacks_keeps_the_users_own_exception_handler(shell, sim_env, capsys):
    def own_handler(ip, etype, value, tb, tb_offset=None):
        print("own handler saw", etype.__name__)
        return []

    shell.ip.set_custom_exc((ZeroDivisionError,), own_handler)
    try:
        shell.run("%config Banana.show_tracebacks = True")
        shell.run_failing("1 / 0")
        shell.run_failing("%%banana --size 7:3\na fox")
        out = capsys.readouterr().out
        assert "own handler saw ZeroDivisionError" in out and "Traceback" in out
        shell.run("%config Banana.show_tracebacks = False")
        assert shell.ip.custom_exceptions == (ZeroDivisionError,)
        shell.run_failing("1 / 0")
        assert "own handler saw ZeroDivisionError" in capsys.readouterr().out
    finally:
        shell.ip.set_custom_exc((), None)


# -- interpolation ------------------------------------------------------------------------------
def test_only_identifiers_in_braces_are_replaced(shell, sim_env):
    shell.ns["animal"] = "fox"
    shell.ns["other"] = "{animal}"
    dry = shell.run(
        '%%banana --dry-run\na {animal} and {{animal}}, {"k": 1}, {not one}, {0}, {other}'
    )
    assert dry.payloads[0]["prompt"] == 'a fox and {animal}, {"k": 1}, {not one}, {0}, {animal}'
    assert_nothing_sent(sim_env)


def test_an_undefined_name_is_named_and_nothing_is_sent(shell, sim_env):
    error = shell.run_failing("%%banana\na {undefined_thing} at night")
    assert isinstance(error, errors.ValidationError) and "undefined_thing" in str(error)
    one_sentence(str(error))
    assert_nothing_sent(sim_env)


def test_locals_of_a_calling_function_are_seen_and_shadow_globals(shell, sim_env):
    shell.ns["animal"] = "fox"
    dry = shell.run(
        "def make(animal, size):\n"
        "    return get_ipython().run_cell_magic('banana', '--dry-run --size $size',"
        " 'a {animal}')\n"
        "make('owl', '3:2')"
    )
    assert dry.payloads[0]["prompt"] == "a owl" and dry.payloads[0]["size"] == "3:2"


def test_the_magic_line_is_not_expanded_by_ipython(shell, sim_env):
    shell.ns["animal"] = "fox"
    dry = shell.run(
        "%%banana --dry-run --meta note={animal} --meta who=$animal --meta 'said=$animal too'\nx"
    )
    assert dry.payloads[0]["metadata"] == {
        "note": "{animal}",
        "who": "fox",
        "said": "$animal too",
        "resolution": "1K",
    }


# -- line commands -------------------------------------------------------------------------------
def test_login_keeps_the_key_in_memory_and_logout_forgets_it(
    shell, sim_env, out_dir, monkeypatch, capsys
):
    secret = "sk-login-secret-0123456789"
    monkeypatch.delenv("TOAPIS_API_KEY")
    no_key = shell.run_failing("%%banana\na fox before login")
    assert isinstance(no_key, errors.ConfigurationError) and "%banana login" in str(no_key)
    assert_nothing_sent(sim_env)

    monkeypatch.setattr("getpass.getpass", lambda prompt="": secret)
    shell.run("%banana login")
    assert shell.run("%%banana\na fox after login").ok
    shell.run("%banana config")
    out = capsys.readouterr().out
    assert "set by %banana login" in out and "********" in out and secret not in out
    bearer = [
        h["authorization"] for h in sim_env.stats()["headers"]["api"] if h[":method"] == "POST"
    ]
    assert bearer == [f"Bearer {secret}"]

    shell.run("%banana logout")
    error = shell.run_failing("%%banana\na fox after logout")
    assert isinstance(error, errors.ConfigurationError)
    assert sim_env.stats()["submit_requests"] == 1
    for path in out_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path

    monkeypatch.setattr("getpass.getpass", lambda prompt="": "Bearer sk-abcdefghijkl")
    error = shell.run_failing("%banana login")
    assert isinstance(error, errors.ConfigurationError) and "without the 'Bearer '" in str(error)


def test_use_switches_between_simulator_real_api_and_a_url(shell, sim_env, capsys):
    shell.run("%banana use sim")
    embedded = magic(shell).simulator
    assert embedded is not None and embedded.running
    assert "SIMULATED" in capsys.readouterr().out
    embedded.configure(duration=0.3)
    run = shell.run("%%banana\na fox on the embedded simulator")
    assert run.ok and run.simulated and embedded.stats()["tasks_created"] == 1
    assert sim_env.stats()["tasks_created"] == 0

    shell.run("%banana use toapis")
    assert not embedded.running and magic(shell).simulator is None
    shell.run("%banana config")
    assert "backend" in (out := capsys.readouterr().out) and "https://toapis.com" in out

    shell.run(f"%banana use {sim_env.base_url}/v1")
    assert magic(shell).base_url == sim_env.base_url
    assert shell.run("%%banana\na fox on the fixture simulator").ok
    assert sim_env.stats()["tasks_created"] == 1

    error = shell.run_failing("%banana use http://example.com")
    assert isinstance(error, errors.ConfigurationError) and "https://" in str(error)
    assert isinstance(shell.run_failing("%banana use"), UsageError)
    assert isinstance(shell.run_failing("%banana use sim toapis"), UsageError)


def test_use_sim_sets_the_simulators_knobs(shell, sim_env, capsys):
    shell.run("%banana use sim --set duration=0.2 --set task_fail=1 --set progress_mode=coarse")
    embedded = magic(shell).simulator
    config = embedded.config
    assert (config.duration, config.task_fail, config.progress_mode) == (0.2, 1.0, "coarse")
    assert "duration=0.2" in capsys.readouterr().out
    error = shell.run_failing("%%banana\na fox that fails on purpose")
    assert isinstance(error, errors.TaskFailedError)
    shell.run("%banana use sim --set task_fail=0")  # the running simulator changes its knobs
    assert magic(shell).simulator is embedded and embedded.config.task_fail == 0
    assert shell.run("%%banana\na fox that does not fail").ok

    for line, words in (
        ("%banana use sim --set durration=3", "no knob 'durration'; did you mean duration?"),
        ("%banana use sim --set duration=-1", "duration must not be negative"),
        ("%banana use sim --set duration", "--set needs KNOB=VALUE"),
        ("%banana use sim --set", "--set: expected one argument"),
        ("%banana use toapis --set duration=3", "use it with %banana use sim"),
    ):
        error = shell.run_failing(line)
        assert isinstance(error, UsageError) and words in str(error), (line, error)
    assert embedded.config.duration == 0.2  # refused settings changed nothing


def test_config_lists_settings_with_the_key_redacted(shell, sim_env, capsys):
    shell.run("%banana config")
    out = capsys.readouterr().out
    assert TEST_KEY not in out and "******** (from TOAPIS_API_KEY)" in out
    for name in ("backend", "output folder", "resolution", "thumbnail_size", "budget"):
        assert name in out
    assert sim_env.base_url in out


def test_history_lists_recent_runs_newest_first(shell, sim_env):
    shell.run("%%banana\na <script>alert(1)</script> fox")
    shell.run("%%banana --size 16:9\na second fox")
    shell.run("%%banana --size 16:9\na second fox")  # a cache hit
    history = shell.run("%banana history")
    assert isinstance(history, History) and len(history) == 2
    rows = list(history.rows())
    assert rows[0]["prompt"] == "a second fox" and rows[0]["cached"] == "sent, reused ×1"
    assert rows[1]["cached"] == "sent"
    assert set(rows[0]) >= {"id", "time", "prompt", "params", "images", "cost", "cached"}
    html_text = history._repr_html_()
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text
    assert len(shell.run("%banana history 1")) == 1
    assert isinstance(shell.run_failing("%banana history many"), UsageError)


def test_show_redisplays_from_disk_without_the_network(shell, sim_env):
    run = shell.run("%%banana -n 2\na fox to show later")
    sim_env.stop()
    for ref in (run.run_id, run.run_id[-6:], "last", "$rid"):
        shell.ns["rid"] = run.run_id
        shown = shell.run(f"%banana show {ref}")
        assert shown.run_id == run.run_id and shown.paths == run.paths
        assert shown._repr_html_().count("<img") == 2
    shown = shell.run(
        "def show_it(local_rid):\n"
        "    return get_ipython().run_line_magic('banana', 'show $local_rid')\n"
        f"show_it('{run.run_id}')"
    )
    assert shown.run_id == run.run_id
    error = shell.run_failing("%banana show nope")
    assert isinstance(error, errors.ValidationError) and "%banana history" in str(error)
    assert isinstance(shell.run_failing("%banana show"), UsageError)


def test_rerun_uses_the_cache_unless_told_not_to(shell, sim_env):
    run = shell.run("%%banana\na fox to rerun")
    again = shell.run(f"%banana rerun {run.run_id}")
    assert again.cached and again.run_id == run.run_id
    assert sim_env.stats()["tasks_created"] == 1
    fresh = shell.run(f"%banana rerun {run.run_id} --no-cache")
    assert fresh.ok and not fresh.cached and fresh.run_id != run.run_id
    assert fresh.request == run.request and sim_env.stats()["tasks_created"] == 2
    assert isinstance(shell.run_failing(f"%banana rerun {run.run_id} --fast"), UsageError)


def test_resume_collects_tasks_that_were_never_collected(shell, sim_env, out_dir, capsys):
    async def submit_and_abandon():
        engine = Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim_env.base_url)
        submitted = asyncio.Event()
        job = asyncio.ensure_future(
            engine.run(
                [ImageRequest.create("an abandoned lighthouse")],
                listener=lambda event: event.kind == "submitted" and submitted.set(),
            )
        )
        await submitted.wait()
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job

    asyncio.run(submit_and_abandon())
    (pending,) = Store(out_dir).pending_tasks()
    runs = shell.run("%banana resume")
    assert [run.task_id for run in runs] == [pending["task_id"]] and runs[0].ok
    assert runs[0].images[0].path.is_file()
    assert Store(out_dir).pending_tasks() == [] and sim_env.stats()["tasks_created"] == 1
    capsys.readouterr()
    assert shell.run("%banana resume") is None
    assert "Nothing to resume" in capsys.readouterr().out


def test_cost_tells_what_the_kernel_and_the_folder_spent(shell, sim_env, capsys):
    shell.run("%%banana -n 2\na costly fox")
    shell.run("%%banana -n 2\na costly fox")  # cached: free
    shell.run("%%banana --resolution 2K\na sharper fox")
    capsys.readouterr()
    shell.run("%banana cost")
    out = capsys.readouterr().out
    # every run here is simulated (loopback): priced, but nothing was paid
    assert "This kernel spent $0.000 (plus $0.080 of simulated images" in out
    assert "holds $0.000 of paid images and $0.080 of simulated ones" in out


def test_export_gives_the_exact_request_without_the_key(
    shell, sim_env, out_dir, ref_png, tmp_path, monkeypatch
):
    run = shell.run(
        "%%banana --size 3:2 -n 2 --search --meta seed=3 --meta style=null\na fox, exported"
    )
    (sent,) = sent_payloads(out_dir)
    assert sent["metadata"]["google_search"] is True and sent["metadata"]["style"] is None
    exported_json = shell.run(f"%banana export {run.run_id} --as json")
    assert json.loads(exported_json) == sent

    curl = shell.run("%banana export last --as curl")
    assert "Bearer $TOAPIS_API_KEY" in curl and "https://toapis.com/v1/images/generations" in curl
    python = shell.run("%banana export last")
    assert "os.environ['TOAPIS_API_KEY']" in python
    for text in (exported_json, curl, python):
        assert TEST_KEY not in text

    # the exported script is real code: point it at the simulator and run it
    # (polling as often as the simulator's short tasks allow, not every 5 s)
    assert python.count("time.sleep(5)") == 1
    script = python.replace(
        "BASE_URL = 'https://toapis.com'", f"BASE_URL = {sim_env.base_url!r}"
    ).replace("time.sleep(5)", "time.sleep(0.25)")
    assert sim_env.base_url in script
    monkeypatch.chdir(tmp_path)
    exec(compile(script, "exported.py", "exec"), {})
    assert (tmp_path / f"{run.run_id}-1.png").is_file()
    assert sim_env.stats()["tasks_created"] == 2

    # a simulated run's uploads live on the simulator: production code is told to upload
    shell.ns["ref"] = str(ref_png)
    with_ref = shell.run("%%banana --ref $ref\na fox with a reference")
    exported = json.loads(shell.run(f"%banana export {with_ref.run_id} --as json"))
    (placeholder,) = exported["image_urls"]
    assert placeholder.startswith("<upload ") and ref_png.name in placeholder

    assert isinstance(shell.run_failing("%banana export last --as yaml"), UsageError)
    assert isinstance(shell.run_failing("%banana export"), UsageError)


def test_help_and_the_question_mark_show_the_options(shell, capsys):
    text = shell.run("%banana help")
    assert "%%banana" in text and "export RUN" in text and text._repr_markdown_() == text
    assert shell.run("%banana") == text
    shell.ip.run_cell("%%banana?")
    out = capsys.readouterr().out
    assert "%%banana [--model MODEL]" in out and "::" not in out
    for option in (
        "--resolution",
        "--ref PATH_OR_URL",
        "--no-cache",
        "--variant LABEL",
        "--dry-run",
        "--image-search",
        "--meta KEY=VALUE",
        "--sweep",
    ):
        assert option in out
    error = shell.run_failing("%banana histroy")
    assert isinstance(error, UsageError) and "(did you mean history?)" in str(error)


# -- settings -------------------------------------------------------------------------------------
def test_config_settings_change_the_defaults(shell, sim_env, tmp_path):
    for line in (
        'Banana.resolution = "2K"',
        'Banana.size = "16:9"',
        "Banana.n = 2",
        'Banana.model = "gemini-3.1-flash-image-preview"',
        'Banana.prices = {"2K": 0.05}',
    ):
        shell.run(f"%config {line}")
    dry = shell.run("%%banana --dry-run\na configured fox")
    assert dry.payloads == [
        {
            "model": "gemini-3.1-flash-image-preview",
            "prompt": "a configured fox",
            "size": "16:9",
            "n": 2,
            "metadata": {"resolution": "2K"},
        }
    ]
    assert "estimated $0.100" in dry.text

    folder = tmp_path / "configured"
    shell.run(f'%config Banana.output_dir = "{folder}"')
    shell.run("%config Banana.thumbnail_size = 128")
    shell.run('%config Banana.resolution = "0.5K"')
    run = shell.run("%%banana -n 1\na small fox")
    assert run.images[0].path.is_relative_to(folder)
    with Image.open(run.images[0].thumbnail) as thumb:
        assert max(thumb.size) == 128

    shell.run("%config Banana.concurrency = 3")
    shell.run("%config Banana.task_timeout = 30.0")
    shell.run("%config Banana.max_poll_interval = 2.0")
    engine = magic(shell).engine()
    assert (engine.concurrency, engine.task_timeout, engine.max_poll_interval) == (3, 30.0, 2.0)
    assert shell.run("%config Banana.n") == 2


@pytest.mark.parametrize(
    "line",
    [
        "Banana.n = 9",
        'Banana.resolution = "3K"',
        'Banana.size = "7:3"',
        "Banana.concurrency = 0",
        "Banana.thumbnail_size = 5",
        'Banana.model = "gpt"',
        'Banana.prices = {"8K": 1.0}',
        "Banana.task_timeout = 0.0",
        'Banana.n = "two"',
    ],
)
def test_invalid_settings_are_refused(shell, line):
    name = line.split("=")[0].strip().split(".")[1]
    before = getattr(magic(shell), name)
    shell.run(f"%config {line}")  # IPython logs the refusal; the value must not change
    assert getattr(magic(shell), name) == before


def test_config_help_lists_the_settings(shell, capsys):
    shell.run("%config Banana")
    out = capsys.readouterr().out
    for name in (
        "Banana.resolution",
        "Banana.thumbnail_size",
        "Banana.show_tracebacks",
        "Banana.budget",
    ):
        assert name in out


def test_unload_removes_the_magics_and_stops_the_simulator(shell, sim_env):
    shell.run("%banana use sim")
    embedded = magic(shell).simulator
    shell.run("%config Banana.show_tracebacks = True")
    shell.run("%unload_ext nanobanana_magic")
    assert not embedded.running
    assert "Banana" not in shell.ip.magics_manager.registry
    assert all(type(c).__name__ != "Banana" for c in shell.ip.configurables)
    assert shell.ip.custom_exceptions == ()  # full tracebacks switched off again
    error = shell.run_failing("%%banana\na fox")
    assert isinstance(error, UsageError) and "not found" in str(error)
    shell.ip.config.pop("Banana", None)
    shell.run("%load_ext nanobanana_magic")
    assert shell.run("%%banana --dry-run\na fox").payloads[0]["prompt"] == "a fox"


def test_load_ext_defers_heavy_imports():
    """Pillow, the simulator, the panel, sweeps and the engine load on first use only."""
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'nanobanana_magic')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PIL', 'asyncio') or "
        "m in ('nanobanana_magic.simulator', 'nanobanana_magic._panel', "
        "'nanobanana_magic._sweep', 'nanobanana_magic._engine', 'nest_asyncio2')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
