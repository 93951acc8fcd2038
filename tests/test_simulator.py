"""The embedded ToAPIs simulator, tested over real loopback HTTP with raw httpx.

Each test starts its own simulator (fast timings) through the ``make_sim`` fixture, which
stops it afterwards. A few tests exercise the pure scheduler with a fake clock.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import ssl
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import png_bytes
from PIL import Image

from nanobanana_magic.simulator import SIM_API_KEY, Simulator, SimulatorConfig, render_placeholder
from nanobanana_magic.simulator.config import ASPECT_RATIOS, RESOLUTION_TIERS
from nanobanana_magic.simulator.images import pixel_size
from nanobanana_magic.simulator.tasks import Task, TaskScheduler, progress_of, status_of

AUTH = {"Authorization": f"Bearer {SIM_API_KEY}"}
MODEL = "gemini-3.1-flash-image-preview"
FAST = {"duration": 0.15, "queue_delay": 0.02}
TLS = ssl.create_default_context()  # built once: httpx would build one per client (slow)


# ---------------------------------------------------------------------- fixtures and helpers
class Harness:
    """A running simulator plus an authenticated httpx client bound to its API server."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.base_url = sim.base_url
        self.client = httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=10, verify=TLS)
        self.files = httpx.Client(timeout=10, verify=TLS)  # no auth: the files server needs none

    def close(self) -> None:
        self.client.close()
        self.files.close()

    def submit(self, **fields) -> httpx.Response:
        body = {"model": MODEL, "prompt": "a lighthouse at dusk", **fields}
        return self.client.post("/v1/images/generations", json=body)

    def submit_ok(self, **fields) -> dict:
        response = self.submit(**fields)
        assert response.status_code == 200, response.text
        return response.json()

    def poll(self, task_id: str) -> httpx.Response:
        return self.client.get(f"/v1/images/generations/{task_id}")

    def wait(self, task_id: str, timeout: float = 5.0, interval: float = 0.02) -> tuple[dict, list]:
        """Poll until final; returns the final body and every (status, progress) seen."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.poll(task_id)
            assert response.status_code == 200, response.text
            body = response.json()
            seen.append((body["status"], body["progress"]))
            if body["status"] in ("completed", "failed"):
                return body, seen
            time.sleep(interval)
        raise AssertionError(f"task {task_id} did not finish; saw {seen[-3:]}")

    def run(self, **fields) -> dict:
        return self.wait(self.submit_ok(**fields)["id"])[0]


@pytest.fixture
def make_sim():
    """Factory: ``make_sim(**knobs)`` starts a fast simulator; all are stopped at teardown."""
    harnesses: list[Harness] = []

    def factory(**knobs) -> Harness:
        sim = Simulator(**{**FAST, **knobs}).start()
        harness = Harness(sim)
        harnesses.append(harness)
        return harness

    yield factory
    for harness in harnesses:
        harness.close()
        harness.sim.stop()


@pytest.fixture
def sim(make_sim) -> Harness:
    return make_sim()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# ---------------------------------------------------------------------- happy path
def test_submit_poll_download_happy_path(sim):
    response = sim.submit(model="nano-banana-2", size="16:9", n=2, metadata={"resolution": "1K"})
    assert response.status_code == 200
    task = response.json()
    assert re.fullmatch(r"task_img_[0-9a-f]{12}", task["id"])
    assert task["object"] == "generation.task"
    assert task["model"] == "nano-banana-2"  # echoed exactly as sent
    assert (task["status"], task["progress"], task["metadata"]) == ("queued", 0, {})
    assert abs(task["created_at"] - time.time()) < 5 and isinstance(task["created_at"], int)

    done, seen = sim.wait(task["id"])
    statuses = [status for status, _ in seen]
    assert statuses[0] in ("queued", "in_progress")
    assert set(statuses) <= {"queued", "in_progress", "completed"}
    progresses = [progress for _, progress in seen]
    assert progresses == sorted(progresses), "progress must never decrease"
    assert all(p <= 99 for s, p in seen if s != "completed")

    assert done["progress"] == 100
    assert done["expires_at"] - done["completed_at"] in (86_399, 86_400, 86_401)
    assert done["result"]["type"] == "image"
    urls = [item["url"] for item in done["result"]["data"]]
    assert len(urls) == 2 and done["url"] == urls[0]
    assert all(url.startswith(sim.sim.files_url + "/generated/") for url in urls)
    assert sim.sim.files_url != sim.base_url  # results come from another origin

    images = []
    for url in urls:
        download = sim.files.get(url)  # no Authorization header
        assert download.status_code == 200
        assert download.headers["content-type"] == "image/png"
        assert int(download.headers["content-length"]) == len(download.content)
        image = decode(download.content)
        assert image.format == "PNG" and image.size == (1360, 768)
        images.append(download.content)
    assert images[0] != images[1]  # the index changes the picture

    stats = sim.sim.stats()
    assert stats["tasks_created"] == 1 and stats["submit_requests"] == 1
    assert stats["status_requests"] == len(seen) and stats["downloads"] == 2
    entry = stats["tasks"][task["id"]]
    assert entry["status"] == "completed" and entry["polls"] == len(seen)
    assert entry["downloads"] == 2 and (entry["n"], entry["resolution"], entry["size"]) == (
        2,
        "1K",
        "16:9",
    )
    assert entry["created_at"] < entry["started_at"] < entry["finished_at"] <= time.time()
    assert entry["finished_at"] - entry["started_at"] == pytest.approx(0.15)
    # the first status query that found it done (benchmarks/polling.py times the poller)
    assert entry["finished_at"] <= entry["seen_done_at"] <= time.time()


def test_the_first_query_that_finds_a_task_done_is_recorded_once(sim):
    task = sim.submit_ok(model="nano-banana-2")
    sim.poll(task["id"])
    assert sim.sim.stats()["tasks"][task["id"]]["seen_done_at"] is None  # still running
    sim.wait(task["id"])
    first = sim.sim.stats()["tasks"][task["id"]]["seen_done_at"]
    sim.poll(task["id"])  # asked again (fresh URLs): the first finding stays
    assert first is not None
    assert sim.sim.stats()["tasks"][task["id"]]["seen_done_at"] == first


def test_stats_have_exactly_the_documented_keys(sim):
    sim.run()
    stats = sim.sim.stats()
    assert set(stats) == {
        "tasks_created",
        "submit_requests",
        "status_requests",
        "downloads",
        "uploads",
        "rate_limit_violations",
        "faults_injected",
        "tasks",
        "headers",
    }
    (entry,) = stats["tasks"].values()
    assert set(entry) == {
        "prompt",
        "status",
        "polls",
        "created_at",
        "started_at",
        "finished_at",
        "seen_done_at",
        "downloads",
        "n",
        "resolution",
        "size",
    }
    assert set(stats["headers"]) == {"api", "files"}
    json.dumps(stats)  # JSON-able


def test_request_headers_are_recorded_per_server(sim):
    sim.client.headers["User-Agent"] = "sim-test/1.0"
    done = sim.run(metadata={"resolution": "0.5K"})
    sim.files.get(done["url"])
    headers = sim.sim.stats()["headers"]
    submit = next(h for h in headers["api"] if h[":method"] == "POST")
    assert submit["user-agent"] == "sim-test/1.0"
    assert submit["authorization"] == f"Bearer {SIM_API_KEY}"
    assert headers["files"] and all("authorization" not in h for h in headers["files"])


@pytest.mark.parametrize(
    "size,resolution,expected",
    [
        ("1:1", "1K", (1024, 1024)),
        ("16:9", "1K", (1360, 768)),
        ("1:1", "0.5K", (512, 512)),
        ("1:1", "4K", (4096, 4096)),
        ("9:16", "2K", (1536, 2736)),
    ],
)
def test_pixel_size_examples(size, resolution, expected):
    assert pixel_size(size, resolution) == expected


@pytest.mark.parametrize("size", ASPECT_RATIOS)
@pytest.mark.parametrize("tier", RESOLUTION_TIERS)
def test_pixel_sizes_keep_tier_area_and_multiples_of_16(size, tier):
    ratio_w, ratio_h = map(int, size.split(":"))
    side = RESOLUTION_TIERS[tier]
    width, height = pixel_size(size, tier)
    assert width % 16 == 0 and height % 16 == 0
    assert width * height == pytest.approx(side * side, rel=0.06)
    assert width / height == pytest.approx(ratio_w / ratio_h, rel=0.1)


def test_placeholder_is_deterministic_and_depends_on_every_input():
    base = render_placeholder("a red fox", "1:1", "0.5K", 0)
    assert render_placeholder("a red fox", "1:1", "0.5K", 0) == base
    variants = [
        render_placeholder("a blue fox", "1:1", "0.5K", 0),
        render_placeholder("a red fox", "1:1", "0.5K", 1),
        render_placeholder("a red fox", "4:3", "0.5K", 0),
        render_placeholder("a red fox", "1:1", "0.5K", 0, refs=("https://example.com/a.png",)),
    ]
    assert len({base, *variants}) == 5
    assert decode(variants[2]).size == pixel_size("4:3", "0.5K")


def test_placeholder_is_not_flat():
    image = decode(render_placeholder("a harbour at night", "16:9", "1K", 0))
    thumb = image.convert("RGB")
    thumb.thumbnail((512, 512))
    buffer = io.BytesIO()
    thumb.save(buffer, "JPEG", quality=85)
    assert buffer.tell() > 12_000  # a real-looking picture, not a flat colour
    assert len(thumb.getcolors(1 << 20)) > 5_000


# ---------------------------------------------------------------------- validation
LONG_PROMPT = "x" * 32_001


@pytest.mark.parametrize(
    "overrides,param",
    [
        ({"model": None}, "model"),
        ({"model": "dall-e-3"}, "model"),
        ({"prompt": None}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": LONG_PROMPT}, "prompt"),
        ({"size": "7:3"}, "size"),
        ({"size": "1024x1024"}, "size"),
        ({"n": "2"}, "n"),
        ({"n": True}, "n"),
        ({"n": 2.0}, "n"),
        ({"n": 0}, "n"),
        ({"n": 5}, "n"),
        ({"metadata": "2K"}, "metadata"),
        ({"metadata": {"resolution": "3K"}}, "metadata.resolution"),
        ({"resolution": "8K"}, "resolution"),
        (
            {"image_urls": ["https://a/1.png"], "reference_images": ["https://a/2.png"]},
            "image_urls",
        ),
        ({"image_urls": [f"https://a/{i}.png" for i in range(15)]}, "image_urls"),
        ({"image_urls": ["ftp://a/1.png"]}, "image_urls"),
        ({"image_urls": ["data:image/png;base64,iVBORw0KGgo="]}, "image_urls"),
        ({"image_urls": ["iVBORw0KGgo" * 10]}, "image_urls"),
        ({"image_urls": [42]}, "image_urls"),
        ({"image_urls": "https://a/1.png"}, "image_urls"),
        ({"reference_images": ["file:///etc/passwd"]}, "reference_images"),
        ({"metadata": {"google_image_search": True}}, "metadata.google_image_search"),
    ],
)
def test_invalid_submissions_answer_400_naming_the_field(sim, overrides, param):
    body = {"model": MODEL, "prompt": "a lighthouse"}
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    response = sim.client.post("/v1/images/generations", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert param.split(".")[-1] in error["message"]
    assert sim.sim.stats()["tasks_created"] == 0


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_malformed_json_answers_400(sim, raw):
    response = sim.client.post(
        "/v1/images/generations", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_accepted_aliases_and_defaults(sim):
    for model in ("gemini-3.1-flash-image-preview", "nano-banana-2", "nano_banana_2"):
        assert sim.submit_ok(model=model)["model"] == model
    plain = sim.submit_ok()  # size, n and resolution omitted
    lower = sim.submit_ok(metadata={"resolution": "2k"})
    top_level = sim.submit_ok(resolution="0.5k")
    both = sim.submit_ok(resolution="4K", metadata={"resolution": "2K"})
    refs = sim.submit_ok(reference_images=[{"url": "https://example.com/a.png"}, "https://b/c.jpg"])
    grounded = sim.submit_ok(metadata={"google_search": True, "google_image_search": True})
    tasks = sim.sim.stats()["tasks"]
    assert (
        tasks[plain["id"]]["size"],
        tasks[plain["id"]]["n"],
        tasks[plain["id"]]["resolution"],
    ) == ("1:1", 1, "1K")
    assert tasks[lower["id"]]["resolution"] == "2K"
    assert tasks[top_level["id"]]["resolution"] == "0.5K"
    assert tasks[both["id"]]["resolution"] == "2K"  # metadata wins over the top-level alias
    assert refs["id"] in tasks and grounded["id"] in tasks
    assert sim.submit(size=None).status_code == 200  # JSON null counts as absent


# ---------------------------------------------------------------------- auth and 404
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer"},
    ],
)
def test_missing_or_invalid_key_answers_401(sim, headers):
    with httpx.Client(base_url=sim.base_url, headers=headers, verify=TLS) as client:
        for method, path in (
            ("POST", "/v1/images/generations"),
            ("GET", "/v1/images/generations/x"),
            ("POST", "/v1/uploads/images"),
            ("GET", "/v1/balance"),
        ):
            response = client.request(method, path, json={"model": MODEL, "prompt": "p"})
            assert response.status_code == 401
            assert response.json() == {
                "error": {"code": 401, "message": "Invalid API key", "type": "authentication_error"}
            }
    assert sim.sim.stats()["tasks_created"] == 0


def test_configured_api_keys_accept_only_those(make_sim):
    harness = make_sim(api_keys={"sk-team-a"})
    assert harness.submit().status_code == 401  # the default key is not in the set
    response = harness.client.post(
        "/v1/images/generations",
        json={"model": MODEL, "prompt": "p"},
        headers={"Authorization": "Bearer sk-team-a"},
    )
    assert response.status_code == 200


def test_unknown_task_and_other_keys_task_answer_404(sim):
    not_found = {"error": {"code": 404, "message": "Task not found", "type": "not_found_error"}}
    response = sim.poll("task_img_000000000000")
    assert response.status_code == 404 and response.json() == not_found
    task = sim.submit_ok()
    other = sim.client.get(
        f"/v1/images/generations/{task['id']}", headers={"Authorization": "Bearer sk-someone-else"}
    )
    assert other.status_code == 404 and other.json() == not_found
    assert sim.poll(task["id"]).status_code == 200


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/models"),
        ("DELETE", "/v1/images/generations/x"),
        ("GET", "/v1/images/generations"),
    ],
)
def test_unknown_routes_answer_404_json(sim, method, path):
    response = sim.client.request(method, path)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_unknown_files_answer_404(sim):
    assert sim.files.get(sim.sim.files_url + "/nothing").status_code == 404


# ---------------------------------------------------------------------- markers and lifecycle
def test_policy_marker_answers_422_without_task(sim):
    response = sim.submit(prompt="something [policy] unsafe")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == error["type"] == "content_policy_violation"
    assert sim.sim.stats()["tasks_created"] == 0


@pytest.mark.parametrize(
    "marker,code", [("[fail]", "generation_failed"), ("[refuse]", "content_policy_violation")]
)
def test_failure_markers_end_the_task_failed(sim, marker, code):
    task = sim.submit_ok(prompt=f"a cat {marker}")
    assert task["status"] == "queued"
    done, seen = sim.wait(task["id"])
    assert done["status"] == "failed" and done["progress"] == 0
    assert done["error"]["code"] == code and done["error"]["message"]
    assert "result" not in done and "url" not in done
    assert ("in_progress" in [s for s, _ in seen]) or len(seen) == 1
    entry = sim.sim.stats()["tasks"][task["id"]]
    assert entry["status"] == "failed" and entry["finished_at"] is not None


def test_coarse_progress_jumps_from_0_to_50_to_100(make_sim):
    harness = make_sim(duration=0.4, progress_mode="coarse")
    _, seen = harness.wait(harness.submit_ok()["id"], interval=0.015)
    running = {p for s, p in seen if s == "in_progress"}
    assert running == {0, 50}
    assert seen[-1] == ("completed", 100)


def test_no_progress_mode_stays_at_0(make_sim):
    harness = make_sim(duration=0.3, progress_mode="none")
    _, seen = harness.wait(harness.submit_ok()["id"], interval=0.015)
    assert {p for s, p in seen if s != "completed"} == {0}
    assert "in_progress" in {s for s, _ in seen}
    assert seen[-1] == ("completed", 100)


def test_linear_progress_rises(make_sim):
    harness = make_sim(duration=0.4, queue_delay=0)
    _, seen = harness.wait(harness.submit_ok()["id"], interval=0.015)
    running = [p for s, p in seen if s == "in_progress"]
    assert len(set(running)) >= 4 and max(running) <= 99 and running == sorted(running)


def test_pending_initial_status_and_unknown_running_status(make_sim):
    harness = make_sim(
        initial_status="pending", unknown_status="rendering", queue_delay=0.1, duration=0.2
    )
    task = harness.submit_ok()
    assert task["status"] == "pending"
    _, seen = harness.wait(task["id"], interval=0.015)
    statuses = [s for s, _ in seen]
    assert "pending" in statuses and "rendering" in statuses and "in_progress" not in statuses
    assert statuses[-1] == "completed"


def test_top_level_url_can_be_switched_off(make_sim):
    harness = make_sim(top_level_url=False)
    done = harness.run()
    assert "url" not in done and done["result"]["data"][0]["url"]


def test_max_running_queues_in_submit_order(make_sim):
    harness = make_sim(max_running=1, duration=0.3, queue_delay=0)
    ids = [harness.submit_ok(prompt=f"task {i}")["id"] for i in range(3)]
    first = harness.poll(ids[0]).json()
    assert first["status"] == "in_progress"
    assert [harness.poll(i).json()["status"] for i in ids[1:]] == ["queued", "queued"]
    time.sleep(0.95)  # no requests while slots free up: starts must not wait for a poll
    tasks = harness.sim.stats()["tasks"]
    entries = [tasks[i] for i in ids]
    assert all(entry["status"] == "completed" for entry in entries)
    assert entries[1]["started_at"] == entries[0]["finished_at"]
    assert entries[2]["started_at"] == entries[1]["finished_at"]


def test_scheduler_with_fake_clock_honours_cap_and_order():
    def task(name: str, ready: float, run: float) -> Task:
        return Task(
            id=name,
            owner="k",
            model=MODEL,
            prompt=name,
            size="1:1",
            n=1,
            resolution="1K",
            references=(),
            created_at=0.0,
            ready_at=ready,
            run_time=run,
        )

    scheduler = TaskScheduler()
    a, b, c, d = task("a", 0.0, 5.0), task("b", 0.0, 2.0), task("c", 1.0, 1.0), task("d", 9.0, 1.0)
    for t in (a, b, c, d):
        scheduler.add(t)
    scheduler.advance(0.5, max_running=2)
    assert (a.started_at, b.started_at, c.started_at) == (0.0, 0.0, None)
    scheduler.advance(100.0, max_running=2)
    assert c.started_at == 2.0  # the moment b finished, not when advance() was called
    assert d.started_at == 9.0  # ready later, a slot was free
    assert status_of(c, 2.5) == "in_progress" and status_of(c, 3.0) == "completed"
    assert progress_of(a, 2.5) == 50 and progress_of(a, 4.999) == 99 and progress_of(a, 5.0) == 100
    assert progress_of(a, 2.4, "coarse") == 0 and progress_of(a, 2.5, "coarse") == 50
    assert progress_of(a, 4.9, "none") == 0
    assert status_of(d, 5.0, initial_status="pending") == "pending"


# ---------------------------------------------------------------------- rate limits
def test_rate_limit_answers_429_with_headers(make_sim):
    harness = make_sim(rate_limit=True, submit_limits=[(3, 30.0)], query_limits=[(2, 30.0)])
    answers = [harness.submit() for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.json()["error"]["message"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) >= 1
    assert limited.headers["X-RateLimit-Category"] == "async_submit"

    task_id = answers[0].json()["id"]
    polls = [harness.poll(task_id) for _ in range(3)]
    assert [p.status_code for p in polls] == [200, 200, 429]
    assert polls[-1].headers["X-RateLimit-Category"] == "async_query"
    stats = harness.sim.stats()
    assert stats["tasks_created"] == 3 and stats["rate_limit_violations"] == 2


def test_rate_limit_violations_are_counted_when_not_enforced(make_sim):
    harness = make_sim(submit_limits=[(2, 30.0)])
    assert [harness.submit().status_code for _ in range(5)] == [200] * 5
    assert harness.sim.stats()["rate_limit_violations"] == 3


def test_default_limits_are_the_documented_default_group():
    config = SimulatorConfig()
    assert config.submit_limits == ((5, 1.0), (50, 10.0), (300, 60.0))
    assert config.query_limits == ((50, 1.0), (500, 10.0), (3000, 60.0))


# ---------------------------------------------------------------------- injected faults
@pytest.mark.parametrize("retry_after,header", [(1.0, "1"), (2.5, "3"), (0.2, "1"), (0, "0")])
def test_submit_429_creates_no_task_and_sends_retry_after(make_sim, retry_after, header):
    harness = make_sim(submit_429=1.0, retry_after=retry_after)
    response = harness.submit()
    assert response.status_code == 429
    assert response.headers["Retry-After"] == header
    assert response.headers["X-RateLimit-Category"] == "async_submit"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    stats = harness.sim.stats()
    assert stats["tasks_created"] == 0 and stats["faults_injected"]["submit_429"] == 1


def test_submit_503_creates_no_task(make_sim):
    harness = make_sim(submit_503=1.0, retry_after=2)
    response = harness.submit()
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "rate_limit_unavailable"
    assert harness.sim.stats()["tasks_created"] == 0


def test_submit_500_creates_the_task_anyway(make_sim):
    harness = make_sim(submit_500=1.0)
    response = harness.submit(prompt="ambiguous")
    assert response.status_code == 500 and response.json()["error"]["message"]
    stats = harness.sim.stats()
    assert stats["tasks_created"] == 1 and stats["faults_injected"]["submit_500"] == 1
    (task_id,) = stats["tasks"]
    done, _ = harness.wait(task_id)  # the paid task exists and completes
    assert done["status"] == "completed"


def test_submit_drop_closes_without_response_and_creates_nothing(make_sim):
    harness = make_sim(submit_drop=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        harness.submit()
    stats = harness.sim.stats()
    assert stats["tasks_created"] == 0 and stats["faults_injected"]["submit_drop"] == 1
    harness.sim.configure(submit_drop=0.0)
    assert harness.submit().status_code == 200  # the server is still healthy


def test_status_faults(make_sim):
    harness = make_sim()
    task_id = harness.submit_ok()["id"]

    harness.sim.configure(status_429=1.0, retry_after=3)
    limited = harness.poll(task_id)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert limited.headers["X-RateLimit-Category"] == "async_query"

    harness.sim.configure(status_429=0.0, status_5xx=1.0)
    answers = [harness.poll(task_id) for _ in range(4)]
    assert [a.status_code for a in answers] == [500, 502, 503, 500]
    assert all(a.json()["error"]["message"] for a in answers)

    harness.sim.configure(status_5xx=0.0, status_drop=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        harness.poll(task_id)

    harness.sim.configure(status_drop=0.0, status_malformed_json=1.0)
    broken = harness.poll(task_id)
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        json.loads(broken.content)

    harness.sim.configure(status_malformed_json=0.0)
    assert harness.poll(task_id).status_code == 200
    faults = harness.sim.stats()["faults_injected"]
    assert (
        faults["status_429"],
        faults["status_5xx"],
        faults["status_drop"],
        faults["status_malformed_json"],
    ) == (1, 4, 1, 1)
    assert harness.sim.stats()["tasks"][task_id]["polls"] == 2  # only answered polls count


def test_download_drop(make_sim):
    harness = make_sim()
    done = harness.run()
    harness.sim.configure(download_drop=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        harness.files.get(done["url"])
    harness.sim.configure(download_drop=0.0)
    assert harness.files.get(done["url"]).status_code == 200
    assert harness.sim.stats()["faults_injected"]["download_drop"] == 1


def test_task_fail_fault(make_sim):
    harness = make_sim(task_fail=1.0)
    done = harness.run()
    assert done["status"] == "failed" and done["error"]["code"] == "generation_failed"
    assert harness.sim.stats()["faults_injected"]["task_fail"] == 1


def test_faults_follow_the_seed(make_sim):
    def pattern(seed: int) -> list[int]:
        harness = make_sim(submit_429=0.5, seed=seed)
        return [harness.submit().status_code for _ in range(12)]

    first = pattern(7)
    assert first == pattern(7)
    assert set(first) == {200, 429}


def test_download_fail_first(make_sim):
    harness = make_sim(download_fail_first=True)
    done = harness.run(n=2, metadata={"resolution": "0.5K"})
    for item in done["result"]["data"]:
        first = harness.files.get(item["url"])
        assert first.status_code == 500 and first.json()["error"]
        assert harness.files.get(item["url"]).status_code == 200
    assert harness.sim.stats()["faults_injected"]["download_fail_first"] == 2


# ---------------------------------------------------------------------- result URLs
def test_url_ttl_expires_and_repoll_gives_fresh_urls(make_sim):
    harness = make_sim(url_ttl=0.4)
    done = harness.run(metadata={"resolution": "0.5K"})
    assert done["expires_at"] - done["completed_at"] in (0, 1)
    old_url = done["url"]
    assert harness.files.get(old_url).status_code == 200
    time.sleep(0.5)
    expired = harness.files.get(old_url)
    assert expired.status_code == 404
    assert expired.json() == {
        "error": {"code": 404, "message": "File expired", "type": "not_found_error"}
    }
    fresh = harness.poll(done["id"]).json()["url"]
    assert fresh != old_url
    assert harness.files.get(fresh).status_code == 200


def test_tampered_or_unknown_result_urls_are_refused(sim):
    done = sim.run(metadata={"resolution": "0.5K"})
    url = done["url"]
    assert sim.files.get(url.replace("sig=", "sig=0")).status_code == 403
    assert sim.files.get(url.split("?")[0]).status_code == 403
    assert sim.files.get(url.replace("_0.png", "_1.png")).status_code == 403  # index not signed
    assert (
        sim.files.get(sim.sim.files_url + "/generated/task_img_ffffffffffff_0.png").status_code
        == 404
    )


# ---------------------------------------------------------------------- uploads
def upload(
    harness: Harness, data: bytes, filename="ref.png", field="file", **kwargs
) -> httpx.Response:
    return harness.client.post(
        "/v1/uploads/images", files={field: (filename, data, "image/png")}, **kwargs
    )


@pytest.mark.parametrize(
    "data,mime,ext",
    [
        (png_bytes(), "image/png", "png"),
        (png_bytes(fmt="JPEG"), "image/jpeg", "jpg"),
        (png_bytes(fmt="WEBP"), "image/webp", "webp"),
        (png_bytes(fmt="GIF"), "image/gif", "gif"),
    ],
)
def test_upload_success_and_serving(sim, data, mime, ext):
    response = upload(sim, data, filename="whatever.bin")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["message"] == ""
    info = body["data"]
    assert re.fullmatch(r"upload_[a-z0-9]{8}", info["id"])
    assert (info["mime_type"], info["size"]) == (mime, len(data))
    assert info["url"] == f"{sim.sim.files_url}/uploads/{info['id']}.{ext}"
    served = sim.files.get(info["url"])
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == mime
    assert sim.sim.stats()["uploads"] == 1


def test_upload_failures(sim):
    cases = [
        upload(sim, b"hello, I am text"),
        upload(sim, b"\x89PNG\r\n\x1a\n" + bytes(10_000_000 - 7)),  # 10,000,001 bytes
        upload(sim, png_bytes(), field="image"),
        sim.client.post("/v1/uploads/images", json={"file": "x"}),
    ]
    for response in cases:
        assert response.status_code == 400
        body = response.json()
        assert body["success"] is False and body["message"]
    assert "10MB" in cases[1].json()["message"]
    assert (
        upload(sim, b"\x89PNG\r\n\x1a\n" + bytes(10_000_000 - 8)).status_code == 200
    )  # exactly at the limit


def test_uploaded_reference_is_drawn_into_the_result(sim):
    ref_url = upload(sim, png_bytes(color=(255, 0, 0))).json()["data"]["url"]
    done = sim.run(image_urls=[ref_url], metadata={"resolution": "0.5K"})
    image = decode(sim.files.get(done["url"]).content).convert("RGB")
    tile = max(24, 512 // 7)
    gap = max(3, tile // 10)
    assert image.getpixel((gap + tile // 2, gap + tile // 2)) == (255, 0, 0)
    without = decode(sim.files.get(sim.run(metadata={"resolution": "0.5K"})["url"]).content)
    assert without.convert("RGB").getpixel((gap + tile // 2, gap + tile // 2)) != (255, 0, 0)


# ---------------------------------------------------------------------- money and chat
def test_balance_402_and_balance_endpoint(make_sim):
    harness = make_sim(balance=0.06)
    assert harness.submit(n=2).status_code == 200  # 2 × $0.025
    refused = harness.submit()  # $0.025 > $0.01 left
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == error["type"] == "insufficient_quota" and error["message"]
    assert harness.submit(metadata={"resolution": "4K"}).status_code == 402
    balance = harness.client.get("/v1/balance").json()
    assert balance["success"] is True and balance["unlimited_quota"] is False
    assert balance["remain_balance"] == pytest.approx(0.01)
    assert balance["used_balance"] == pytest.approx(0.05)
    assert balance["credits_per_usd"] == 200
    assert balance["remain_credits"] == pytest.approx(2.0) and balance[
        "used_credits"
    ] == pytest.approx(10.0)
    assert harness.sim.stats()["tasks_created"] == 1


def test_balance_403_variant_and_unlimited_default(make_sim):
    harness = make_sim(balance=0.0, quota_status=403)
    refused = harness.submit()
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["code"], error["type"]) == ("insufficient_user_quota", "new_api_error")
    assert "(request id: " in error["message"]

    unlimited = make_sim()
    unlimited.submit_ok(metadata={"resolution": "2K"})
    balance = unlimited.client.get("/v1/balance").json()
    assert balance["unlimited_quota"] is True and balance["remain_balance"] == -1
    assert balance["used_balance"] == pytest.approx(0.03)


def test_chat_with_an_image_model_answers_invalid_api_type(sim):
    response = sim.client.post(
        "/v1/chat/completions",
        json={"model": "nano-banana-2", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 500
    error = response.json()["error"]
    assert "invalid api type: -1" in error["message"]
    assert (error["type"], error["code"]) == ("new_api_error", "invalid_api_type")


# ---------------------------------------------------------------------- hostile server
def test_jpeg_results(make_sim):
    harness = make_sim(result_kind="jpeg")
    done = harness.run(size="4:3", metadata={"resolution": "0.5K"})
    assert ".jpg?" in done["url"]
    response = harness.files.get(done["url"])
    assert response.headers["content-type"] == "image/jpeg"
    image = decode(response.content)
    assert image.format == "JPEG" and image.size == pixel_size("4:3", "0.5K")


def test_not_image_results(make_sim):
    harness = make_sim(result_kind="not_image")
    response = harness.files.get(harness.run()["url"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"<!DOCTYPE html>")
    with pytest.raises(OSError):
        decode(response.content)


def test_bomb_results(make_sim):
    harness = make_sim(result_kind="bomb")
    data = harness.files.get(harness.run()["url"]).content
    assert len(data) < 20_000 and data.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", data[16:24]) == (60_000, 60_000)  # IHDR width, height
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))


def test_huge_results_are_streamed_with_a_length(make_sim):
    harness = make_sim(result_kind="huge", huge_bytes=3_000_000)
    done = harness.run()
    response = harness.files.get(done["url"])
    assert int(response.headers["content-length"]) == 3_000_000 == len(response.content)
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")

    harness.sim.configure(huge_bytes=80_000_000)
    with harness.files.stream("GET", done["url"]) as stream:  # the client gives up early
        assert int(stream.headers["content-length"]) == 80_000_000
        next(stream.iter_bytes())
    assert harness.poll(done["id"]).status_code == 200  # the server is unharmed


def test_redirect_files(make_sim):
    harness = make_sim(redirect_files_to="http://files.example.invalid/mirror/")
    done = harness.run()
    response = harness.files.get(done["url"], follow_redirects=False)
    assert response.status_code == 302
    path_and_query = done["url"][len(harness.sim.files_url) :]
    assert response.headers["location"] == "http://files.example.invalid/mirror" + path_and_query


# ---------------------------------------------------------------------- control surface
def test_admin_http_endpoints(sim):
    with httpx.Client(base_url=sim.base_url, verify=TLS) as admin:  # no auth needed
        effective = admin.post("/_sim/config", json={"duration": 0.05, "max_running": 2}).json()
        assert effective["duration"] == 0.05 and effective["max_running"] == 2
        assert sim.sim.config.duration == 0.05
        assert admin.get("/_sim/config").json()["max_running"] == 2

        unknown = admin.post("/_sim/config", json={"durration": 1})
        assert unknown.status_code == 400 and "durration" in unknown.json()["error"]["message"]
        bad = admin.post("/_sim/config", json={"progress_mode": "sideways"})
        assert bad.status_code == 400 and "progress_mode" in bad.json()["error"]["message"]
        assert sim.sim.config.progress_mode == "linear"

        sim.run()
        stats = admin.get("/_sim/stats").json()
        assert stats["tasks_created"] == 1 and len(stats["tasks"]) == 1
        assert admin.post("/_sim/reset").status_code == 200
        reset = admin.get("/_sim/stats").json()
        assert (
            reset["tasks_created"] == 0 and reset["tasks"] == {} and reset["status_requests"] == 0
        )


def test_python_configure_and_reset(sim):
    with pytest.raises(TypeError, match="no_such_knob"):
        sim.sim.configure(no_such_knob=1)
    with pytest.raises(TypeError, match="durtion"):
        Simulator(durtion=1)
    with pytest.raises(ValueError):
        sim.sim.configure(submit_429=1.5)
    assert sim.sim.configure(duration=0.05).duration == 0.05
    sim.run()
    sim.sim.reset_stats()
    stats = sim.sim.stats()
    assert stats["tasks_created"] == 0 and stats["headers"] == {"api": [], "files": []}
    assert all(count == 0 for count in stats["faults_injected"].values())


def test_config_object_and_knob_overrides():
    config = SimulatorConfig(duration=5.0, seed=3)
    sim = Simulator(config, duration=0.5)
    assert (sim.config.duration, sim.config.seed) == (0.5, 3)
    assert config.duration == 5.0  # the given config is not modified
    with pytest.raises(RuntimeError):
        _ = sim.base_url  # not started


def test_context_manager_and_lifecycle():
    simulator = Simulator(duration=0.05)
    with simulator as base_url:
        assert isinstance(base_url, str) and base_url.startswith("http://127.0.0.1:")
        assert simulator.start().base_url == base_url  # start() is idempotent
        with httpx.Client(headers=AUTH, verify=TLS) as client:
            response = client.post(
                base_url + "/v1/images/generations", json={"model": MODEL, "prompt": "p"}
            )
            assert response.status_code == 200
            files_url = simulator.files_url
    assert not simulator.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url + "/_sim/stats", timeout=2)
    with pytest.raises(httpx.ConnectError):
        httpx.get(files_url + "/uploads/x.png", timeout=2)
    simulator.stop()  # stopping twice is fine


def test_keep_alive_connection_is_reused_and_closed_on_stop(make_sim):
    harness = make_sim()
    task_id = harness.submit_ok()["id"]
    for _ in range(3):
        assert harness.poll(task_id).status_code == 200
    assert harness.poll(task_id).headers.get("connection", "").lower() != "close"
    started = time.monotonic()
    harness.sim.stop()  # an idle keep-alive connection must not block stopping
    assert time.monotonic() - started < 2
    with pytest.raises(httpx.TransportError):  # ... and it was closed, not left dangling
        harness.poll(task_id)


def test_command_line_runs_until_interrupted():
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "nanobanana_magic.simulator", "--port", "0", "--duration", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = []
        while len(lines) < 6:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        output = "".join(lines)
        base_url = re.search(r"base URL : (http://127\.0\.0\.1:\d+)", output).group(1)
        assert SIM_API_KEY in output
        config = httpx.get(base_url + "/_sim/config", timeout=5).json()
        assert config["duration"] == 0.1
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
