"""The ToAPIs client over real loopback HTTP: retries, limits, errors, downloads, settings."""

import asyncio
import json
import threading
import time

import httpx
import pytest
from conftest import TEST_KEY

from nanobanana_magic import _errors as errors
from nanobanana_magic._answers import result_urls
from nanobanana_magic._client import ToAPIsClient
from nanobanana_magic._errors import error_from_response
from nanobanana_magic._ratelimit import LimiterRegistry, SlidingWindowLimiter
from nanobanana_magic._settings import resolve_api_key, resolve_base_url
from nanobanana_magic.simulator import Simulator

PAYLOAD = {
    "model": "nano-banana-2",
    "prompt": "a quiet bay",
    "size": "1:1",
    "n": 1,
    "metadata": {"resolution": "0.5K"},
}


def client_for(sim, **options):
    return ToAPIsClient(api_key=TEST_KEY, base_url=sim.base_url, **options)


def run(coro):
    return asyncio.run(coro)


async def submit_once(sim, payload=PAYLOAD, **options):
    async with client_for(sim, **options) as client:
        return await client.submit(payload)


async def complete(sim, payload=PAYLOAD, **options):
    """Submit and wait; returns (client retries, finished task)."""
    async with client_for(sim, **options) as client:
        task = await client.submit(payload)
        done = await client.wait(task["id"], submitted_at=time.monotonic(), timeout=30)
        return client.retries, done


class FaultUntil:
    """Turn a fault knob off once the simulator has injected it `times` times."""

    def __init__(self, sim, knob, times=1):
        self.sim, self.knob, self.times = sim, knob, times
        sim.configure(**{knob: 1.0})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self):
        while not self._stop.wait(0.005):
            if self.sim.stats()["faults_injected"].get(self.knob, 0) >= self.times:
                self.sim.configure(**{self.knob: 0.0})
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sim.configure(**{self.knob: 0.0})


# -- retries -----------------------------------------------------------------------------------
# pure retry and backoff cases run over httpx.MockTransport in test_retries.py; these need
# a real server: a connection the server drops, a task that exists although its answer failed
def test_a_dropped_status_connection_is_retried(sim):
    sim.configure(retry_after=0.0)
    with FaultUntil(sim, "status_drop", times=2):
        retries, task = run(complete(sim))
    assert task["status"] == "completed" and result_urls(task)
    assert retries >= 2 and sim.stats()["faults_injected"]["status_drop"] >= 2


def test_submit_500_is_not_resent_and_reports_that_the_task_may_exist(sim):
    sim.configure(submit_500=1.0)
    with pytest.raises(errors.SubmitUncertainError) as caught:
        run(submit_once(sim))
    stats = sim.stats()
    assert stats["submit_requests"] == 1  # never resent: that could pay twice
    assert stats["tasks_created"] == 1  # ... and indeed the task exists
    assert "not resent" in str(caught.value) and "journal" in str(caught.value)


def test_a_dropped_submit_connection_is_not_resent(sim):
    sim.configure(submit_drop=1.0)
    with pytest.raises(errors.SubmitUncertainError):
        run(submit_once(sim))
    assert sim.stats()["submit_requests"] == 1


@pytest.mark.parametrize(
    "knobs, payload, error_class, status",
    [
        (dict(), dict(PAYLOAD, size="7:3"), errors.InvalidRequestError, 400),
        (dict(api_keys={"sk-only-this-key"}), PAYLOAD, errors.AuthenticationError, 401),
        (dict(balance=0.0), PAYLOAD, errors.InsufficientBalanceError, 402),
        (dict(balance=0.0, quota_status=403), PAYLOAD, errors.InsufficientBalanceError, 403),
        (dict(), dict(PAYLOAD, prompt="a [policy] test"), errors.ContentPolicyError, 422),
    ],
)
def test_refusals_are_never_retried(knobs, payload, error_class, status):
    with Simulator(**knobs) as base_url:
        client = ToAPIsClient(api_key=TEST_KEY, base_url=base_url)

        async def go():
            async with client:
                await client.submit(payload)

        with pytest.raises(error_class) as caught:
            run(go())
        assert caught.value.status_code == status
        assert client.retries == 0
        assert TEST_KEY not in str(caught.value)


def test_unknown_task_is_not_found(sim):
    async def go():
        async with client_for(sim) as client:
            await client.get_task("task_img_000000000000")

    with pytest.raises(errors.NotFoundError, match="Task not found"):
        run(go())


# -- the shared limiter ---------------------------------------------------------------------
def test_a_burst_of_submits_stays_under_the_provider_limits():
    simulator = Simulator(rate_limit=True, duration=0.2).start()
    try:
        limiters = LimiterRegistry()

        async def burst():
            async with ToAPIsClient(
                api_key=TEST_KEY, base_url=simulator.base_url, limiters=limiters
            ) as client:
                tasks = await asyncio.gather(
                    *(client.submit(dict(PAYLOAD, prompt=f"p{i}")) for i in range(12))
                )
                # a second client of the same session (registry) shares the limiter
                async with ToAPIsClient(
                    api_key=TEST_KEY, base_url=simulator.base_url, limiters=limiters
                ) as other:
                    tasks += await asyncio.gather(
                        *(other.submit(dict(PAYLOAD, prompt=f"q{i}")) for i in range(3))
                    )
                return tasks, client.retries

        tasks, retries = run(burst())
        stats = simulator.stats()
        assert len({t["id"] for t in tasks}) == 15 == stats["tasks_created"]
        assert stats["rate_limit_violations"] == 0 and retries == 0
        assert stats["submit_requests"] == 15
    finally:
        simulator.stop()


class _SlowFirstSubmit(httpx.AsyncBaseTransport):
    """The real network to the simulator, where the first submit takes 0.3 s more on its
    way (a busy connection, a slow hop): the server counts it late."""

    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.submits = 0

    async def handle_async_request(self, request):
        if request.method == "POST":
            self.submits += 1
            if self.submits == 1:
                await asyncio.sleep(0.3)
        return await self.inner.handle_async_request(request)

    async def aclose(self):
        await self.inner.aclose()


def test_a_submit_slowed_on_its_way_never_crowds_the_window_of_later_ones():
    """The server counts a request when it arrives, which may be well after it was sent:
    the limiter counts each one until its answer is back, so the simulator refuses none."""
    simulator = Simulator(rate_limit=True, duration=0.2).start()
    try:

        async def burst():
            async with ToAPIsClient(
                api_key=TEST_KEY, base_url=simulator.base_url, transport=_SlowFirstSubmit()
            ) as client:
                await asyncio.gather(
                    *(client.submit(dict(PAYLOAD, prompt=f"p{i}")) for i in range(12))
                )
                return client.retries

        retries = run(burst())
        stats = simulator.stats()
        assert stats["tasks_created"] == 12
        assert stats["rate_limit_violations"] == 0 and retries == 0
    finally:
        simulator.stop()


def test_the_limiter_counts_a_request_until_its_answer_and_then_from_its_arrival():
    now = [0.0]
    limiter = SlidingWindowLimiter(((2, 1.0),), clock=lambda: now[0])

    async def take(count):
        return [await limiter.acquire() for _ in range(count)]

    first = run(take(2))
    assert limiter.delay() >= 1.0  # both unanswered: a window after the first answer
    now[0] = 0.4
    limiter.answered(first[0])  # the server saw it at 0.4 at the latest
    now[0] = 1.2
    assert limiter.delay() > 0  # the other is still unanswered
    limiter.answered(first[1])
    now[0] = 1.3
    assert 0 < limiter.delay() <= 0.2  # the first left the window at 1.4 (+ slack)
    now[0] = 1.41
    assert limiter.delay() == 0
    limiter.answered(first[1])  # a token counts once
    assert limiter.delay() == 0


# -- errors ----------------------------------------------------------------------------------
BODIES = [
    # variant A: integer code
    (
        404,
        {"error": {"code": 404, "message": "Task not found", "type": "not_found_error"}},
        errors.NotFoundError,
        404,
    ),
    (
        401,
        {"error": {"code": 401, "message": "Invalid API key", "type": "authentication_error"}},
        errors.AuthenticationError,
        401,
    ),
    # variant B: string code and param
    (
        400,
        {
            "error": {
                "code": "invalid_request",
                "message": "size is invalid",
                "param": "size",
                "type": "invalid_request_error",
            }
        },
        errors.InvalidRequestError,
        "invalid_request",
    ),
    # variant C: no type
    (
        429,
        {"error": {"code": "rate_limit_exceeded", "message": "slow down"}},
        errors.RateLimitError,
        "rate_limit_exceeded",
    ),
    (
        503,
        {"error": {"code": "rate_limit_unavailable", "message": "limiter down"}},
        errors.ServerError,
        "rate_limit_unavailable",
    ),
    # variant D: New API core
    (
        403,
        {
            "error": {
                "code": "insufficient_user_quota",
                "type": "new_api_error",
                "message": "quota exhausted (request id: 20260101abcdef)",
            }
        },
        errors.InsufficientBalanceError,
        "insufficient_user_quota",
    ),
    (
        402,
        {
            "error": {
                "code": "insufficient_quota",
                "message": "balance too low",
                "type": "insufficient_quota",
            }
        },
        errors.InsufficientBalanceError,
        "insufficient_quota",
    ),
    (
        403,
        {"error": {"code": "", "message": "model not allowed", "type": "new_api_error"}},
        errors.PermissionDeniedError,
        "",
    ),
    (
        422,
        {"error": {"code": "content_policy_violation", "message": "refused"}},
        errors.ContentPolicyError,
        "content_policy_violation",
    ),
    (
        500,
        {"error": {"code": "internal_error", "message": "boom"}},
        errors.ServerError,
        "internal_error",
    ),
    # upload style
    (
        400,
        {"success": False, "message": "Image too large. Maximum size is 10MB"},
        errors.InvalidRequestError,
        None,
    ),
]


@pytest.mark.parametrize("status,body,error_class,code", BODIES)
def test_every_error_envelope_maps_to_its_class(status, body, error_class, code):
    error = error_from_response(status, json.dumps(body), {"Retry-After": "3"})
    assert type(error) is error_class
    assert isinstance(error, errors.APIStatusError) and isinstance(error, errors.BananaError)
    assert error.status_code == status and error.code == code
    message = body.get("error", body)["message"].split(" (request id")[0]
    assert message in str(error) and error.advice in str(error)


def test_an_unmapped_status_is_still_a_status_error():
    error = error_from_response(418, '{"error": {"message": "teapot"}}')
    assert type(error) is errors.APIStatusError and error.status_code == 418


@pytest.mark.parametrize(
    "error_class",
    [
        errors.ConnectionFailedError,
        errors.ResponseFormatError,
        errors.SubmitUncertainError,
        errors.TaskFailedError,
        errors.TaskRefusedError,
        errors.TaskTimeoutError,
        errors.DownloadError,
        errors.ExpiredURLError,
    ],
)
def test_errors_without_an_error_answer_are_not_status_errors(error_class):
    assert issubclass(error_class, errors.APIError)
    assert not issubclass(error_class, errors.APIStatusError)


@pytest.mark.parametrize(
    "marker, error_class",
    [("[refuse]", errors.TaskRefusedError), ("[fail]", errors.TaskFailedError)],
)
def test_a_task_that_fails_on_a_poll_says_what_happened(sim, marker, error_class):
    with pytest.raises(errors.TaskFailedError) as caught:
        run(complete(sim, dict(PAYLOAD, prompt=f"{marker} a quiet bay")))
    assert type(caught.value) is error_class
    assert not isinstance(caught.value, errors.ContentPolicyError)  # that is a 422 at submit
    assert caught.value.status_code is None


def test_request_ids_params_and_retry_after_are_kept():
    error = error_from_response(
        403,
        json.dumps(
            {
                "error": {
                    "code": "insufficient_user_quota",
                    "type": "new_api_error",
                    "message": "no quota (request id: 2026abc123)",
                }
            }
        ),
    )
    assert error.request_id == "2026abc123" and "request id" not in str(error)
    invalid = error_from_response(400, json.dumps(BODIES[2][1]), {"retry-after": "7"})
    assert invalid.param == "size" and invalid.retry_after == 7.0


@pytest.mark.parametrize(
    "body",
    [
        "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>",
        "upstream connect error",
        "",
        "[1, 2]",
        "null",
        '{"error": "plain string"}',
    ],
)
def test_html_and_other_odd_bodies_still_make_a_clear_error(body):
    error = error_from_response(502, body)
    assert isinstance(error, errors.ServerError)
    assert "HTTP 502" in str(error) and "<html" not in str(error)
    assert str(error).endswith(".")


def test_invalid_api_type_says_the_chat_endpoint_was_used(sim):
    answer = httpx.post(
        sim.base_url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {TEST_KEY}"},
        json={"model": "nano-banana-2", "messages": []},
    )
    error = error_from_response(answer.status_code, answer.text)
    assert isinstance(error, errors.InvalidRequestError)
    assert "chat endpoint" in str(error) and "/v1/images/generations" in str(error)
    typo = error_from_response(500, '{"error": {"message": "invalid apitype: -1"}}')
    assert "chat endpoint" in str(typo)


def test_every_simulator_error_body_parses(sim):
    """The bodies the simulator really sends (401 variant A, 400 variant B, 404, 429 C)."""
    auth = {"Authorization": f"Bearer {TEST_KEY}"}
    answers = [
        httpx.get(sim.base_url + "/v1/images/generations/task_img_nope", headers=auth),
        httpx.post(
            sim.base_url + "/v1/images/generations", json=dict(PAYLOAD, n="2"), headers=auth
        ),
        httpx.post(sim.base_url + "/v1/images/generations", json=PAYLOAD),
    ]
    kinds = [type(error_from_response(a.status_code, a.text, a.headers)) for a in answers]
    assert kinds == [errors.NotFoundError, errors.InvalidRequestError, errors.AuthenticationError]


def test_the_key_never_appears_in_errors_or_reprs(sim):
    leaked = error_from_response(
        401,
        json.dumps({"error": {"message": f"bad key {TEST_KEY} or Bearer {TEST_KEY}"}}),
        secret=TEST_KEY,
    )
    assert TEST_KEY not in str(leaked) and TEST_KEY not in leaked.body
    client = client_for(sim)
    assert TEST_KEY not in repr(client)
    assert TEST_KEY not in repr(resolve_api_key(TEST_KEY))
    assert TEST_KEY not in str(errors.BananaError(f"oops {TEST_KEY}"))


# -- downloads -------------------------------------------------------------------------------
async def download_result(sim, dest, **options):
    async with client_for(sim, **options) as client:
        task = await client.submit(PAYLOAD)
        done = await client.wait(task["id"], submitted_at=time.monotonic(), timeout=30)
        return await client.download(result_urls(done)[0], dest)


def test_downloads_send_no_credentials_to_the_files_host(sim, tmp_path):
    fmt, width, height = run(download_result(sim, tmp_path / "image.png"))
    assert (fmt, width, height) == ("PNG", 512, 512)
    headers = sim.stats()["headers"]
    assert headers["files"] and all("authorization" not in h for h in headers["files"])
    assert all(h.get("authorization") == f"Bearer {TEST_KEY}" for h in headers["api"])
    assert sim.files_url != sim.base_url


def test_a_failing_first_download_is_retried(sim, tmp_path):
    sim.configure(download_fail_first=True)
    run(download_result(sim, tmp_path / "image.png"))
    assert (tmp_path / "image.png").stat().st_size > 0
    assert sim.stats()["downloads"] == 2


@pytest.mark.parametrize(
    "kind,words", [("not_image", "not an image"), ("huge", "limit"), ("bomb", "pixels|bomb")]
)
def test_unusable_results_are_refused(sim, tmp_path, kind, words):
    sim.configure(result_kind=kind, huge_bytes=3_000_000)
    with pytest.raises(errors.DownloadError, match=words):
        run(download_result(sim, tmp_path / "image.png", max_download_bytes=2_000_000))
    assert not list(tmp_path.iterdir())  # no partial file left behind


def test_an_expired_url_is_reported_and_a_fresh_poll_gives_a_working_one(sim, tmp_path):
    sim.configure(url_ttl=0.0)  # the URLs of this answer are stale when they are used

    async def go():
        async with client_for(sim) as client:
            task = await client.submit(PAYLOAD)
            done = await client.wait(task["id"], submitted_at=time.monotonic(), timeout=30)
            with pytest.raises(errors.ExpiredURLError):
                await client.download(result_urls(done)[0], tmp_path / "old.png")
            sim.configure(url_ttl=None)  # (no race with a short lifetime on a busy machine)
            fresh = result_urls(await client.get_task(task["id"]))[0]
            assert fresh != result_urls(done)[0]
            return await client.download(fresh, tmp_path / "new.png")

    assert run(go())[0] == "PNG"


# -- settings ---------------------------------------------------------------------------------
def test_base_url_rules(monkeypatch):
    assert resolve_base_url(None) == "https://toapis.com"
    assert resolve_base_url("https://api.toapis.com/v1/") == "https://api.toapis.com"
    assert resolve_base_url("http://127.0.0.1:8765/v1") == "http://127.0.0.1:8765"
    assert resolve_base_url("http://localhost:9") == "http://localhost:9"
    assert resolve_base_url("http://[::1]:9") == "http://[::1]:9"
    monkeypatch.setenv("TOAPIS_BASE_URL", "https://toapis.cn")
    assert resolve_base_url(None) == "https://toapis.cn"


@pytest.mark.parametrize(
    "bad, words",
    [
        ("http://toapis.com", "Refusing plain http"),
        ("http://192.168.1.5:8000", "only on loopback"),
        ("ftp://toapis.com", "not an http"),
        ("toapis.com", "not an http"),
        ("https://toapis.com/api/v2", "just scheme and host"),
    ],
)
def test_unusable_base_urls_are_refused(bad, words):
    with pytest.raises(errors.ConfigurationError, match=words):
        resolve_base_url(bad)


def test_a_base_url_ending_in_v1_works_over_http(sim):
    async def go():
        async with ToAPIsClient(api_key=TEST_KEY, base_url=sim.base_url + "/v1") as client:
            return await client.submit(PAYLOAD)

    assert run(go())["id"] in sim.stats()["tasks"]


def test_without_a_key_the_message_says_how_to_set_one_and_how_to_simulate(sim):
    with pytest.raises(errors.ConfigurationError) as caught:
        ToAPIsClient(base_url=sim.base_url)
    message = str(caught.value)
    assert "TOAPIS_API_KEY" in message and "simulator" in message and "nanobanana sim" in message
    assert sim.stats()["submit_requests"] == 0


@pytest.mark.parametrize("bad", ["Bearer sk-abcdefgh", "sk-abc def1", "sk-1"])
def test_malformed_keys_are_refused(bad):
    with pytest.raises(errors.ConfigurationError):
        resolve_api_key(bad)
