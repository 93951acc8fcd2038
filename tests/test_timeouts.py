"""Timeouts that hold, and answers read with limits (issue 11, items 7-10).

Scripted loopback servers (`RecordingServer`) play the slow or hostile API and file host;
the engine, the Python API and the magic in a real IPython shell run against them. No test
asserts a duration: each checks what happened (the error, which requests were made and in
which order), and the task-level timeouts keep the suite quick.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import pytest
from conftest import TEST_KEY
from test_hostile_server import RecordingServer, json_answer

from nanobanana_magic import _errors as errors
from nanobanana_magic import generate
from nanobanana_magic._engine import Engine
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store


def completed(task_id: str, *urls: str) -> tuple[int, dict, bytes]:
    return json_answer(
        200, {"id": task_id, "status": "completed", "result": {"data": [{"url": u} for u in urls]}}
    )


# -- item 7: task_timeout bounds the whole wait ------------------------------------------------
@pytest.mark.timeout(60)
def test_a_status_query_that_never_answers_ends_as_a_resumable_timeout(out_dir):
    released = threading.Event()

    def api(method, path, body):
        if method == "POST":
            return json_answer(200, {"id": "t-silent", "status": "queued"})
        released.wait(30)  # the status query hangs
        return json_answer(200, {"id": "t-silent", "status": "in_progress"})

    try:
        with RecordingServer("127.0.0.1", respond=api) as server:
            with pytest.raises(errors.TaskTimeoutError) as caught:
                generate(
                    "a fox",
                    base_url=server.url,
                    api_key=TEST_KEY,
                    output_dir=out_dir,
                    task_timeout=2,
                    client_options={"timeout": 1.0, "max_retries": 6, "backoff_cap": 0.5},
                )
    finally:
        released.set()
    assert "t-silent" in str(caught.value)
    assert [e["task_id"] for e in Store(out_dir).pending_tasks()] == ["t-silent"]


# -- item 8: a Retry-After hint delays the request it answered, nothing else ----------------------
@pytest.mark.timeout(60)
def test_a_huge_retry_after_on_one_poll_does_not_stall_other_tasks(out_dir, caplog):
    lock = threading.Lock()
    polls = {"t1": 0, "t2": 0}

    with RecordingServer("127.0.0.2") as files:

        def api(method, path, body):
            if method == "POST":
                task_id = "t1" if b"first" in body else "t2"
                return json_answer(200, {"id": task_id, "status": "queued"})
            task_id = path.rsplit("/", 1)[-1]
            with lock:
                polls[task_id] += 1
                count = polls[task_id]
            if task_id == "t1" and count == 1:
                return (
                    429,
                    {"Retry-After": "100000", "Content-Type": "application/json"},
                    b'{"error":{"code":"rate_limit_exceeded","message":"slow down"}}',
                )
            if task_id == "t2" and count < 4:
                return json_answer(200, {"id": task_id, "status": "in_progress"})
            return completed(task_id, f"{files.url}/{task_id}.png")

        with RecordingServer("127.0.0.1", respond=api) as server:
            engine = Engine(
                store=Store(out_dir),
                api_key=TEST_KEY,
                base_url=server.url,
                max_poll_interval=0.2,
                client_options={"backoff_cap": 3.0},
            )
            requests = [ImageRequest.create("first fox"), ImageRequest.create("second fox")]
            with caplog.at_level(logging.WARNING, logger="nanobanana_magic"):
                runs = asyncio.run(engine.run(requests, cache=False))
    assert all(run.ok for run in runs)
    order = [r["path"].rsplit("/", 1)[-1] for r in server.requests if r["method"] == "GET"]
    first_t1, next_t1 = [i for i, task in enumerate(order) if task == "t1"][:2]
    # while t1 waits out its (capped) hint, t2 keeps being polled and finishes
    assert order[first_t1:next_t1].count("t2") >= 2
    told = [r.getMessage() for r in caplog.records if "asks to wait" in r.getMessage()]
    assert told == ["The server asks to wait 100000 s; waiting at most 3 s before retrying."]


# -- item 9: images download at once, within a deadline reachable from the magic ------------------
@pytest.mark.timeout(60)
def test_stalled_images_download_concurrently_and_fail_within_the_deadline(
    shell, out_dir, monkeypatch
):
    released = threading.Event()
    with RecordingServer("127.0.0.2") as files:

        def stall(method, path, body):
            released.wait(30)  # the file host never delivers
            return 200, {"Content-Type": "image/png"}, b""

        files.respond = stall

        def api(method, path, body):
            if method == "POST":
                return json_answer(200, {"id": "t-slow", "status": "queued"})
            return completed("t-slow", f"{files.url}/a.png", f"{files.url}/b.png")

        try:
            with RecordingServer("127.0.0.1", respond=api) as server:
                monkeypatch.setenv("TOAPIS_API_KEY", TEST_KEY)
                monkeypatch.setenv("NANOBANANA_OUTPUT_DIR", str(out_dir))
                shell.run(f"%banana use {server.url}")
                shell.run("%config Banana.download_timeout = 1.5")
                shell.run("%config Banana.download_retries = 0")
                error = shell.run_failing("%%banana -n 2\ntwo slow foxes")
        finally:
            released.set()
    assert isinstance(error, errors.DownloadError), error
    assert "within 2 s" in str(error) and "resumable" in str(error)
    assert sorted(r["path"] for r in files.requests) == ["/a.png", "/b.png"]  # both at once
    assert [e["task_id"] for e in Store(out_dir).pending_tasks()] == ["t-slow"]


def test_download_settings_are_checked_like_the_others(sim, out_dir):
    with pytest.raises(errors.ValidationError, match="download_timeout must be a number"):
        generate("a fox", base_url=sim.base_url, api_key=TEST_KEY, download_timeout=0)
    assert sim.stats()["tasks_created"] == 0


# -- item 10: answers read with a cap; result URLs other than https refused at once ------------------
@pytest.mark.timeout(60)
def test_an_oversized_status_answer_is_refused_and_the_task_stays_resumable(out_dir):
    padding = "x" * 20_000_000  # 20 MB of JSON; the cap is 4 MB

    def api(method, path, body):
        if method == "POST":
            return json_answer(200, {"id": "t-big", "status": "queued"})
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"id": "t-big", "status": "in_progress", "padding": padding}).encode(),
        )

    with RecordingServer("127.0.0.1", respond=api) as server:
        with pytest.raises(errors.ResponseFormatError, match="too large to read"):
            generate(
                "a fox",
                base_url=server.url,
                api_key=TEST_KEY,
                output_dir=out_dir,
                client_options={"max_retries": 1, "backoff_cap": 0.2},
            )
    assert [e["task_id"] for e in Store(out_dir).pending_tasks()] == ["t-big"]


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/a.png", "http://files.example.com/a.png", "gopher://x/a"]
)
def test_result_urls_other_than_https_are_refused_at_once(url, out_dir):
    def api(method, path, body):
        if method == "POST":
            return json_answer(200, {"id": "t-url", "status": "queued"})
        return completed("t-url", url)

    with RecordingServer("127.0.0.1", respond=api) as server:
        engine = Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=server.url)
        (run,) = asyncio.run(engine.run([ImageRequest.create("a fox")], cache=False))
    assert run.error_type == "DownloadError" and "must come over https" in run.error
    assert engine.retries == 0  # refused, not retried
