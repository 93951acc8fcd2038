"""Never pay twice, never lose what was paid (issue 11, items 1-4).

Real layers throughout: the simulator or a scripted loopback API (`RecordingServer`), a real
IPython shell for the magic, the output folder on disk, and for the full disk a real tmpfs
that runs out of space right after the submit.
"""

from __future__ import annotations

import _thread
import asyncio
import errno
import logging
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import TEST_KEY
from test_hostile_server import RecordingServer, json_answer

from nanobanana_magic import _errors as errors
from nanobanana_magic import generate, resume
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store
from nanobanana_magic._sweep import sweep


def interrupt_once_submitted(out_dir: Path) -> threading.Thread:
    """Press Ctrl-C (KeyboardInterrupt in the main thread) once a task is journaled."""

    def press():
        deadline = time.monotonic() + 20
        while not Store(out_dir).pending_tasks() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        _thread.interrupt_main()

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


# -- item 1: a re-run adopts the pending task of the same request --------------------------------
def test_rerunning_an_interrupted_cell_collects_its_task_instead_of_paying_again(
    sim_env, shell, out_dir, capsys
):
    sim_env.configure(duration=2.0)
    presser = interrupt_once_submitted(out_dir)
    error = shell.run_failing("%%banana\na lighthouse in a storm")
    presser.join()
    assert isinstance(error, KeyboardInterrupt)
    (pending,) = Store(out_dir).pending_tasks()
    assert sim_env.stats()["tasks_created"] == 1
    sim_env.configure(duration=0.4)  # the pending task keeps its 2 s; new ones are quick

    capsys.readouterr()
    run = shell.run("%%banana\na lighthouse in a storm")  # what everyone does next
    assert run.ok and run.task_id == pending["task_id"] and run.adopted
    assert sim_env.stats()["tasks_created"] == 1  # nothing sent again
    assert Store(out_dir).pending_tasks() == []
    assert "collected without sending them again" in capsys.readouterr().out

    # --no-cache and --variant still make new tasks on purpose
    shell.run("%%banana --no-cache\na lighthouse in a storm")
    shell.run("%%banana --variant b\na lighthouse in a storm")
    assert sim_env.stats()["tasks_created"] == 3


def leave_pending(sim, out_dir, prompt, **options):
    """A task submitted and not collected: the call gave up waiting (as after an interrupt)."""
    sim.configure(duration=2.5)
    with pytest.raises(errors.TaskTimeoutError):
        generate(
            prompt,
            base_url=sim.base_url,
            api_key=TEST_KEY,
            output_dir=out_dir,
            task_timeout=1,
            **options,
        )
    (pending,) = Store(out_dir).pending_tasks()
    sim.configure(duration=0.4)  # the pending task keeps its 2.5 s; new ones are quick
    return pending


def test_generate_adopts_the_pending_task_of_the_same_request(sim, out_dir, caplog):
    pending = leave_pending(sim, out_dir, "a fox adopted")
    with caplog.at_level(logging.INFO, logger="nanobanana_magic"):
        run = generate("a fox adopted", base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir)
    assert run.ok and run.adopted and run.task_id == pending["task_id"]
    assert run.run_id == pending["run_id"]
    assert sim.stats()["tasks_created"] == 1
    assert any(pending["task_id"] in r.getMessage() for r in caplog.records)
    events = [e["event"] for e in Store(out_dir).read_journal()]
    assert events.count("submitted") == 1 and "adopted" in events

    # another request, or the same one without the cache, is sent
    generate("a different fox", base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir)
    generate(
        "a fox adopted", base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir, cache=False
    )
    assert sim.stats()["tasks_created"] == 3


def test_a_sweep_adopts_the_pending_task_of_its_cell(sim, out_dir):
    pending = leave_pending(sim, out_dir, "a cat", size="16:9")
    result = sweep(
        "a cat",
        {"size": ["1:1", "16:9"]},
        base_url=sim.base_url,
        api_key=TEST_KEY,
        output_dir=out_dir,
    )
    runs = {run.request.size: run for run in result.runs.values()}
    assert runs["16:9"].adopted and runs["16:9"].task_id == pending["task_id"]
    assert not runs["1:1"].adopted and all(run.ok for run in runs.values())
    assert sim.stats()["tasks_created"] == 2  # one new cell; the pending one adopted


def test_the_panel_adopts_the_pending_task_of_its_form(sim, out_dir):
    from nanobanana_magic._panel import panel

    pending = leave_pending(sim, out_dir, "a panel fox")
    p = panel(base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir)
    try:
        p.prompt.value = "a panel fox"

        async def scenario():
            return await p.generate()

        (run,) = asyncio.run(scenario())
    finally:
        p.close()
    assert run.adopted and run.task_id == pending["task_id"] and run.ok
    assert sim.stats()["tasks_created"] == 1


# -- item 2: a full disk right after a paid submit --------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A real 512 KB tmpfs (needs root); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_up(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_right_after_the_submit_keeps_the_task_resumable(small_disk):
    out_dir = small_disk / "outputs"
    with RecordingServer("127.0.0.2") as files:

        def api(method, path, body):
            if method == "POST":
                fill_up(small_disk)  # the disk fills while the paid task is being created
                return json_answer(200, {"id": "task-paid", "status": "queued"})
            return json_answer(
                200,
                {
                    "id": "task-paid",
                    "status": "completed",
                    "result": {"data": [{"url": files.url + "/img.png"}]},
                },
            )

        with RecordingServer("127.0.0.1", respond=api) as server:
            with pytest.raises(errors.StorageError) as caught:
                generate("a paid fox", base_url=server.url, api_key=TEST_KEY, output_dir=out_dir)
            message = str(caught.value)
            assert (
                "disk is full" in message
                and "free space, then %banana resume collects it." in message
            )
            assert "\n" not in message
            store = Store(out_dir)
            (pending,) = store.pending_tasks()
            assert pending["task_id"] == "task-paid" and pending["base_url"] == server.url
            leftovers = [
                p.name for p in out_dir.rglob("*") if ".tmp" in p.name or "download-" in p.name
            ]
            assert leftovers == []

            (small_disk / "filler").unlink()  # the user frees space, then resumes
            (run,) = resume(base_url=server.url, api_key=TEST_KEY, output_dir=out_dir)
            assert run.ok and run.task_id == "task-paid" and len(run.images) == 1
            assert [r["method"] for r in server.requests].count("POST") == 1


# -- item 3: one poisoned task does not block resume for all ------------------------------------
POISONED_PROGRESS = {"t-nan": "NaN", "t-inf": "Infinity", "t-huge": '"1e999"'}


def test_poisoned_tasks_and_journal_lines_do_not_block_resume(tmp_path, out_dir, caplog):
    with RecordingServer("127.0.0.2") as files:

        def api(method, path, body):
            task_id = path.rsplit("/", 1)[-1]
            if task_id in POISONED_PROGRESS:
                text = f'{{"id": "{task_id}", "status": "in_progress", '
                text += f'"progress": {POISONED_PROGRESS[task_id]}}}'
                return 200, {"Content-Type": "application/json"}, text.encode()
            return json_answer(
                200,
                {
                    "id": task_id,
                    "status": "completed",
                    "result": {"data": [{"url": files.url + "/img.png"}]},
                },
            )

        with RecordingServer("127.0.0.1", respond=api) as server:
            store = Store(out_dir)
            for task_id in ["t-good", "x\r\nX: 1", *POISONED_PROGRESS]:
                run = store.new_run(ImageRequest.create(f"task {task_id!r}"), "0" * 24)
                store.save_run(run)
                store.journal("submitted", run_id=run.run_id, task_id=task_id, base_url=server.url)
            store.journal("submitted", run_id=run.run_id, task_id=["a", "list"])
            store.journal("submitted", task_id="t-without-run")
            with caplog.at_level(logging.WARNING, logger="nanobanana_magic"):
                runs = resume(
                    base_url=server.url, api_key=TEST_KEY, output_dir=out_dir, task_timeout=1
                )
    by_task = {run.task_id: run for run in runs}
    assert by_task["t-good"].ok
    assert by_task["x\r\nX: 1"].error_type == "ResponseFormatError"
    for task_id in POISONED_PROGRESS:  # never finishes; its progress is simply unknown
        assert by_task[task_id].error_type == "TaskTimeoutError"
    assert any("skipped 2 journal entries" in r.getMessage() for r in caplog.records)


def test_a_submit_answer_with_an_unusable_task_id_is_one_clear_error(out_dir):
    def api(method, path, body):
        return json_answer(200, {"id": "x\r\nX: 1", "status": "queued"})

    with RecordingServer("127.0.0.1", respond=api) as server:
        with pytest.raises(errors.SubmitUncertainError, match="unusable task id"):
            generate("a fox", base_url=server.url, api_key=TEST_KEY, output_dir=out_dir)
        assert [r["method"] for r in server.requests] == ["POST"]


# -- item 4: more result URLs than images asked -------------------------------------------------
def test_surplus_result_urls_are_not_downloaded_or_charged(out_dir, caplog):
    with RecordingServer("127.0.0.2") as files:

        def api(method, path, body):
            urls = [{"url": f"{files.url}/img-{i}.png"} for i in range(300)]
            return json_answer(
                200, {"id": "t-many", "status": "completed", "result": {"data": urls}}
            )

        with RecordingServer("127.0.0.1", respond=api) as server:
            with caplog.at_level(logging.WARNING, logger="nanobanana_magic"):
                run = generate("one fox", base_url=server.url, api_key=TEST_KEY, output_dir=out_dir)
    assert run.ok and len(run.images) == 1 and run.cost == pytest.approx(0.025)
    assert len(files.requests) == 1
    assert any("300 result URLs for n=1" in r.getMessage() for r in caplog.records)
    (completed,) = [e for e in Store(out_dir).read_journal() if e["event"] == "completed"]
    assert completed["cost"] == pytest.approx(0.025) and len(completed["images"]) == 1
