"""The client's retry policy over `httpx.MockTransport`: no server and no real waiting.

A fake clock stands in for time (its `sleep` returns at once and records the wait), so
backoff, Retry-After and the task deadline are checked in milliseconds. What needs real
HTTP (connections dropped mid-answer, the limiter against a server counting requests,
downloads from another host) is tested against the simulator in test_client.py.
"""

from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest
from conftest import TEST_KEY, FakeClock, png_bytes

from nanobanana_magic import _errors as errors
from nanobanana_magic._client import ToAPIsClient
from nanobanana_magic._ratelimit import LimiterRegistry

BASE_URL = "https://api.example.test"
PAYLOAD = {"model": "nano-banana-2", "prompt": "a quiet bay", "size": "1:1", "n": 1}
TASK = {"id": "task_1", "status": "queued", "progress": 0}
DONE = {
    "id": "task_1",
    "status": "completed",
    "progress": 100,
    "result": {"data": [{"url": "https://files.example.test/a.png"}]},
}


def answer(status: int, body: object = None, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    return httpx.Response(status, content=content, headers=headers)


def error(status: int, message: str = "no", **headers: str) -> httpx.Response:
    return answer(status, {"error": {"message": message, "code": status}}, **headers)


class Script:
    """A transport answering requests from a list, in order, and recording them.

    An item is an `httpx.Response`, an exception class to raise (a transport error), or
    a callable taking the request. The last item repeats once the list is used up.
    """

    def __init__(self, *items):
        self.items = list(items)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.items.pop(0) if len(self.items) > 1 else self.items[0]
        if isinstance(item, type) and issubclass(item, Exception):
            raise item("scripted failure", request=request)
        return item(request) if callable(item) else item


def client(script: Script, clock: FakeClock, **options) -> ToAPIsClient:
    return ToAPIsClient(
        api_key=TEST_KEY,
        base_url=BASE_URL,
        transport=httpx.MockTransport(script),
        sleep=clock.sleep,
        clock=clock.now,
        limiters=LimiterRegistry(clock=clock.now, sleep=clock.sleep),
        rng=random.Random(7),
        **options,
    )


def call(script: Script, clock: FakeClock, method: str, *args, **options):
    async def go():
        async with client(script, clock, **options) as api:
            result = await getattr(api, method)(*args)
            return result, api.retries

    return asyncio.run(go())


# -- submits: retried only when nothing was created ---------------------------------------------
def test_a_submit_429_waits_for_retry_after_then_succeeds():
    clock, limited = FakeClock(), []
    script = Script(error(429, "slow down", **{"Retry-After": "7"}), answer(200, TASK))

    async def go():
        async with client(script, clock) as api:
            api.on_rate_limited = lambda: limited.append(clock.now())
            return await api.submit(PAYLOAD), api.retries

    task, retries = asyncio.run(go())
    assert task["id"] == "task_1" and retries == 1 and len(limited) == 1
    assert len(script.requests) == 2
    assert 7.0 <= sum(clock.sleeps) <= 7.0 + 0.25 + 0.2  # Retry-After honoured, not hammered


@pytest.mark.parametrize(
    "failure",
    [error(503, "busy"), httpx.ConnectError, httpx.ConnectTimeout],
    ids=["503", "connect-error", "connect-timeout"],
)
def test_a_submit_that_created_nothing_is_retried(failure):
    script = Script(failure, failure, answer(200, TASK))
    task, retries = call(script, FakeClock(), "submit", PAYLOAD)
    assert task["id"] == "task_1" and retries == 2 and len(script.requests) == 3


@pytest.mark.parametrize(
    "failure",
    [
        error(500, "boom"),
        error(502, "bad gateway"),
        httpx.ReadError,
        httpx.ReadTimeout,
        httpx.RemoteProtocolError,
        answer(200, b"<html>not json</html>"),
        answer(200, {"status": "queued"}),  # no task id
    ],
    ids=["500", "502", "read-error", "read-timeout", "protocol", "not-json", "no-id"],
)
def test_a_submit_that_may_have_created_a_task_is_never_resent(failure):
    script = Script(failure, answer(200, TASK))
    with pytest.raises(errors.SubmitUncertainError, match="journal"):
        call(script, FakeClock(), "submit", PAYLOAD)
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "status, error_class",
    [
        (400, errors.InvalidRequestError),
        (401, errors.AuthenticationError),
        (402, errors.InsufficientBalanceError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (422, errors.ContentPolicyError),
    ],
)
def test_refusals_are_raised_at_once(status, error_class):
    script = Script(error(status, "refused"))
    clock = FakeClock()
    with pytest.raises(error_class) as caught:
        call(script, clock, "submit", PAYLOAD)
    assert caught.value.status_code == status
    assert len(script.requests) == 1 and clock.sleeps == []


def test_a_redirect_is_not_followed_so_the_key_stays_with_the_api():
    script = Script(answer(302, {}, location="https://elsewhere.example.test/steal"))
    with pytest.raises(errors.ResponseFormatError, match="redirect"):
        call(script, FakeClock(), "get_task", "task_1")
    assert [r.url.host for r in script.requests] == ["api.example.test"]


# -- status queries: retried whatever went wrong ------------------------------------------------
@pytest.mark.parametrize(
    "failure",
    [
        error(500, "boom"),
        error(503, "busy"),
        error(429, "slow down", **{"Retry-After": "0"}),
        answer(200, b"{not json"),
        answer(200, b"[1, 2]"),
        httpx.ReadError,
        httpx.ConnectError,
    ],
    ids=["500", "503", "429", "malformed-json", "not-an-object", "read-error", "connect"],
)
def test_failing_status_queries_are_retried(failure):
    script = Script(failure, failure, answer(200, DONE))
    task, retries = call(script, FakeClock(), "get_task", "task_1")
    assert task["status"] == "completed" and retries == 2 and len(script.requests) == 3


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap():
    clock = FakeClock()
    script = Script(error(503, "busy"))
    with pytest.raises(errors.ServerError):
        call(script, clock, "get_task", "task_1", max_retries=6, backoff_cap=4.0)
    assert len(script.requests) == 7 and len(clock.sleeps) == 6
    for attempt, slept in enumerate(clock.sleeps, start=1):
        full = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert full * 0.5 <= slept <= full  # jitter takes at most half of each wait


def test_an_absurd_retry_after_is_capped():
    clock = FakeClock()
    script = Script(error(429, "later", **{"Retry-After": "86400"}), answer(200, DONE))
    call(script, clock, "get_task", "task_1", backoff_cap=5.0)
    assert sum(clock.sleeps) <= 2 * (5.0 + 0.25)  # the backoff and the limiter's penalty


def test_the_last_error_is_raised_after_the_retries_run_out():
    script = Script(error(429, "slow down", **{"Retry-After": "1"}))
    with pytest.raises(errors.RateLimitError, match="slow down"):
        call(script, FakeClock(), "get_task", "task_1", max_retries=2)
    assert len(script.requests) == 3


# -- waiting for a task ---------------------------------------------------------------------------
def test_a_task_that_never_finishes_times_out_on_the_clients_clock():
    clock = FakeClock()
    script = Script(answer(200, dict(TASK, status="in_progress", progress=10)))

    async def go():
        async with client(script, clock) as api:
            await api.wait("task_1", submitted_at=clock.now(), timeout=60)

    with pytest.raises(errors.TaskTimeoutError, match="task_1"):
        asyncio.run(go())
    assert 60 <= clock.now() - 1000.0 < 60 + 10.5  # no poll long after the deadline
    assert all(gap <= 10.0 + 1e-9 for gap in clock.sleeps)  # never more than 10 s apart


def test_progress_answers_reach_the_listener_until_completion():
    clock = FakeClock()
    script = Script(
        answer(200, dict(TASK, status="queued")),
        answer(200, dict(TASK, status="in_progress", progress=50)),
        answer(200, DONE),
    )
    seen: list[object] = []

    async def go():
        async with client(script, clock) as api:
            return await api.wait(
                "task_1",
                submitted_at=clock.now(),
                on_update=lambda t, seconds_left: seen.append(t["status"]),
            )

    assert asyncio.run(go())["status"] == "completed"
    assert seen == ["queued", "in_progress"]


# -- downloads --------------------------------------------------------------------------------
def test_a_failing_download_is_retried_without_credentials(tmp_path):
    png = png_bytes()
    script = Script(error(500), httpx.ReadError, answer(200, png))
    info, retries = call(
        script, FakeClock(), "download", "https://files.example.test/a.png", tmp_path / "a.png"
    )
    assert info[0] == "PNG" and retries == 2 and (tmp_path / "a.png").read_bytes() == png
    assert not any("authorization" in r.headers for r in script.requests)


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_expired_result_url_is_reported_at_once(tmp_path, status):
    script = Script(error(status))
    with pytest.raises(errors.ExpiredURLError):
        call(script, FakeClock(), "download", "https://files.example.test/a.png", tmp_path / "a")
    assert len(script.requests) == 1 and not (tmp_path / "a").exists()


# -- the same seams through the engine ------------------------------------------------------------
def test_the_engine_runs_a_job_over_a_transport_on_the_fake_clock(tmp_path):
    """Submit, polls, a failing download and its retry, filed in the store: no server, no
    real waiting (the engine reads the time from its client's clock)."""
    from nanobanana_magic._engine import Engine
    from nanobanana_magic._request import ImageRequest
    from nanobanana_magic._store import Store

    clock, png = FakeClock(), png_bytes()
    polls = iter([dict(TASK, status="in_progress", progress=40), DONE])

    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.host == "files.example.test":
            return script_files(request)
        if request.method == "POST":
            return answer(200, TASK)
        return answer(200, next(polls))

    script_files = Script(error(503), answer(200, png))
    script = Script(respond)
    engine = Engine(
        store=Store(tmp_path / "out"),
        api_key=TEST_KEY,
        base_url=BASE_URL,
        limiters=LimiterRegistry(clock=clock.now, sleep=clock.sleep),
        client_options={
            "transport": httpx.MockTransport(script),
            "sleep": clock.sleep,
            "clock": clock.now,
            "rng": random.Random(7),
        },
    )
    (run,) = asyncio.run(engine.run([ImageRequest.create("a quiet bay")]))
    assert run.ok and run.task_id == "task_1" and run.images[0].path.read_bytes()[:4] == png[:4]
    assert engine.retries == 1 and len(script_files.requests) == 2
    assert [r.method for r in script.requests] == ["POST", "GET", "GET", "GET", "GET"]
    assert clock.now() > 1000.0  # the polls waited on the fake clock, not the real one
