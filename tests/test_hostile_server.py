"""Hostile server input: whatever the API or a file host sends back, the client answers
with a clear error (or skips safely) and never hangs or crashes.

Most cases use the simulator's hostile knobs; the rest use `RecordingServer`, a tiny HTTP
server of our own on another loopback address that records every request it sees and
answers what the test scripts (it is also used by the secrets and display-safety tests).
"""

from __future__ import annotations

import asyncio
import io

import pytest
from conftest import TEST_KEY, RecordingServer, json_answer

from nanobanana_magic import _errors as errors
from nanobanana_magic import generate, resume
from nanobanana_magic._engine import Engine
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store

#: quick give-up, so a server that never answers well fails fast instead of after minutes
QUICK_CLIENT = {"max_retries": 2, "backoff_cap": 0.3, "submit_limits": ((50, 1.0),)}


def run_one(base_url: str, out_dir, prompt="hostile test", **client_options):
    engine = Engine(
        store=Store(out_dir),
        api_key=TEST_KEY,
        base_url=base_url,
        client_options={**QUICK_CLIENT, **client_options},
    )
    (run,) = asyncio.run(engine.run([ImageRequest.create(prompt)], cache=False))
    return run


def assert_no_image_kept(run, out_dir):
    assert not run.images
    assert not list(out_dir.rglob("*.png")) and not list(out_dir.rglob("*.part"))


# -- the simulator's hostile knobs --------------------------------------------------------------
@pytest.mark.timeout(60)
def test_malformed_json_status_answers_fail_clearly_and_stay_resumable(sim, out_dir):
    sim.configure(status_malformed_json=1.0)
    run = run_one(sim.base_url, out_dir)
    assert run.status == "failed" and run.error_type == "ResponseFormatError"
    assert "not valid JSON" in run.error
    # the task is paid: it stays in the journal and is collected once the server is sane
    assert [e["task_id"] for e in Store(out_dir).pending_tasks()] == [run.task_id]
    sim.configure(status_malformed_json=0.0)
    (again,) = resume(output_dir=out_dir, api_key=TEST_KEY, base_url=sim.base_url)
    assert again.ok and again.task_id == run.task_id and again.images[0].path.is_file()
    assert sim.stats()["tasks_created"] == 1


@pytest.mark.timeout(60)
def test_occasional_malformed_json_is_ridden_out(sim, out_dir):
    sim.configure(status_malformed_json=0.3, seed=3)
    engine = Engine(
        store=Store(out_dir),
        api_key=TEST_KEY,
        base_url=sim.base_url,
        client_options={"submit_limits": ((50, 1.0),), "backoff_cap": 0.3},
    )
    runs = asyncio.run(engine.run([ImageRequest.create(f"garbled {i}") for i in range(10)]))
    assert all(run.ok for run in runs), [run.error for run in runs]
    assert sim.stats()["faults_injected"]["status_malformed_json"] > 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "kind, reason",
    [
        ("not_image", "not an image"),
        ("bomb", "bomb"),
    ],
)
def test_a_result_that_is_not_a_safe_image_is_refused(sim, out_dir, kind, reason):
    sim.configure(result_kind=kind)
    run = run_one(sim.base_url, out_dir)
    assert run.status == "failed" and run.error_type == "DownloadError"
    assert "unusable" in run.error and reason in run.error
    assert_no_image_kept(run, out_dir)


@pytest.mark.timeout(60)
def test_an_oversized_download_is_cut_off(sim, out_dir):
    sim.configure(result_kind="huge", huge_bytes=3_000_000)
    run = run_one(sim.base_url, out_dir, max_download_bytes=200_000)
    assert run.status == "failed" and run.error_type == "DownloadError"
    assert "limit" in run.error
    assert_no_image_kept(run, out_dir)


@pytest.mark.timeout(60)
def test_a_jpeg_result_is_stored_as_png_with_parameters(sim, out_dir):
    sim.configure(result_kind="jpeg")
    run = run_one(sim.base_url, out_dir)
    assert run.ok and run.images[0].path.read_bytes().startswith(b"\x89PNG")


@pytest.mark.timeout(60)
def test_unknown_status_names_mean_keep_polling(sim, out_dir):
    sim.configure(unknown_status="rendering_v2")
    run = run_one(sim.base_url, out_dir)
    assert run.ok and run.images[0].path.is_file()


@pytest.mark.timeout(60)
def test_result_files_redirected_to_another_host_are_fetched_without_the_key(sim, out_dir):
    with RecordingServer("127.0.0.2") as other:
        sim.configure(redirect_files_to=other.url)
        run = run_one(sim.base_url, out_dir)
        assert run.ok and run.images[0].path.is_file()
        assert [r["method"] for r in other.requests] == ["GET"]
        assert not other.saw_authorization()
    files_headers = sim.stats()["headers"]["files"]
    assert files_headers and not any("authorization" in h for h in files_headers)


# -- a hostile API of our own ---------------------------------------------------------------
@pytest.mark.timeout(60)
def test_an_api_redirect_is_not_followed_so_the_key_stays_home(out_dir):
    with RecordingServer("127.0.0.2") as thief:

        def redirect(method, path, body):
            return 302, {"Location": thief.url + "/steal"}, b""

        with RecordingServer("127.0.0.1", respond=redirect) as api:
            run = run_one(api.url, out_dir)
            assert [r["method"] for r in api.requests] == ["POST"]
        assert thief.requests == []
    assert run.status == "failed" and run.error_type == "ResponseFormatError"
    assert "redirect" in run.error


class ScriptedAPI:
    """A minimal ToAPIs look-alike: submit gives task t1, polls answer `task_body`."""

    def __init__(self, task_body):
        self.task_body = task_body

    def __call__(self, method, path, body):
        if method == "POST" and path == "/v1/images/generations":
            return json_answer(200, {"id": "t1", "status": "queued", "progress": 0})
        if method == "GET" and path.startswith("/v1/images/generations/"):
            body = self.task_body
            return (
                (200, {"Content-Type": "application/json"}, body)
                if isinstance(body, bytes)
                else json_answer(200, body)
            )
        return json_answer(404, {"error": {"message": "no such route"}})


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "task_body, error_type, words",
    [
        (
            {"id": "t1", "status": "completed", "progress": 100},
            "ResponseFormatError",
            "without image URLs",
        ),
        ([1, 2, 3], "ResponseFormatError", "not valid JSON"),
        ({"id": "t1", "status": "failed", "error": "boom"}, "TaskFailedError", "boom"),
        (
            {
                "id": "t1",
                "status": "completed",
                "result": {"data": [{"url": "file:///etc/passwd"}]},
            },
            "DownloadError",
            "failed",
        ),
        (
            {"id": "t1", "status": "completed", "result": {"data": [{"url": "http://[::1"}]}},
            "DownloadError",
            "",
        ),
    ],
    ids=["no-urls", "json-array", "failed-string-error", "file-scheme-url", "broken-url"],
)
def test_strange_task_objects_give_clear_errors(out_dir, task_body, error_type, words):
    with RecordingServer("127.0.0.1", respond=ScriptedAPI(task_body)) as api:
        run = run_one(api.url, out_dir)
    assert run.status == "failed" and run.error_type == error_type, run.error
    assert words in run.error
    assert_no_image_kept(run, out_dir)


@pytest.mark.timeout(60)
def test_a_redirect_loop_on_the_file_host_is_a_clear_download_error(out_dir):
    with RecordingServer("127.0.0.2") as files:
        files.respond = lambda method, path, body: (302, {"Location": files.url + path}, b"")
        api = ScriptedAPI(
            {
                "id": "t1",
                "status": "completed",
                "result": {"data": [{"url": files.url + "/loop.png"}]},
            }
        )
        with RecordingServer("127.0.0.1", respond=api) as server:
            run = run_one(server.url, out_dir)
        assert not files.saw_authorization()
    assert run.status == "failed" and run.error_type == "DownloadError", run.error
    assert_no_image_kept(run, out_dir)


@pytest.mark.timeout(60)
def test_a_garbled_compressed_answer_is_a_clear_error(out_dir):
    def garbled(method, path, body):
        if method == "POST":
            return json_answer(200, {"id": "t1", "status": "queued"})
        return (
            200,
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            b"this is not gzip at all",
        )

    with RecordingServer("127.0.0.1", respond=garbled) as api:
        run = run_one(api.url, out_dir)
    assert run.status == "failed" and run.error_type in (
        "ResponseFormatError",
        "ConnectionFailedError",
    ), run.error
    assert [e["task_id"] for e in Store(out_dir).pending_tasks()] == ["t1"]


@pytest.mark.timeout(60)
def test_a_submit_answer_without_a_task_id_is_reported_not_resent(out_dir):
    def no_id(method, path, body):
        return json_answer(200, {"status": "queued"})

    with RecordingServer("127.0.0.1", respond=no_id) as api:
        with pytest.raises(errors.SubmitUncertainError, match="no task id"):
            generate("where is my id", base_url=api.url, api_key=TEST_KEY, output_dir=out_dir)
        assert [r["method"] for r in api.requests] == ["POST"]


@pytest.mark.timeout(60)
def test_a_truncated_jpeg_result_is_a_resumable_download_error(out_dir):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), "teal").save(buffer, "JPEG")
    truncated = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    with RecordingServer("127.0.0.2") as files:
        files.respond = lambda method, path, body: (200, {"Content-Type": "image/jpeg"}, truncated)
        api = ScriptedAPI(
            {
                "id": "t1",
                "status": "completed",
                "result": {"data": [{"url": files.url + "/cut.jpg"}]},
            }
        )
        with RecordingServer("127.0.0.1", respond=api) as server:
            run = run_one(server.url, out_dir)
    assert run.status == "failed" and run.error_type == "DownloadError", run.error
    assert "could not be stored" in run.error
    assert [e["task_id"] for e in Store(out_dir).pending_tasks()] == ["t1"]  # resumable


@pytest.mark.timeout(60)
def test_an_absurd_retry_after_holds_requests_back_no_longer_than_the_cap(out_dir):
    def always_429(method, path, body):
        return (
            429,
            {"Retry-After": "86400", "Content-Type": "application/json"},
            b'{"error":{"code":"rate_limit_exceeded","message":"slow down"}}',
        )

    with RecordingServer("127.0.0.1", respond=always_429) as api:
        engine = Engine(
            store=Store(out_dir),
            api_key=TEST_KEY,
            base_url=api.url,
            client_options={"max_retries": 1, "backoff_cap": 0.3},
        )
        # without the cap the retry would wait a day: the test's timeout would fail it
        (run,) = asyncio.run(engine.run([ImageRequest.create("x")], cache=False))
    assert run.status == "failed" and run.error_type == "RateLimitError"
    assert len(api.requests) == 2  # the retry came, after the capped wait
