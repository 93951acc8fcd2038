"""Fault runs over real loopback HTTP: the simulator injects rate limits, 5xx answers,
dropped connections, failed tasks, failing first downloads and expiring result URLs.

What must hold whatever the server does: every task the server completed ends up on disk,
no task is created twice (nothing is paid twice), and every failure is told to the user in
the grid and written to the journal.
"""

from __future__ import annotations

import asyncio
import collections
import random
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import TEST_KEY, RecordingServer, json_answer

from nanobanana_magic._engine import Engine
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store
from nanobanana_magic._sweep import sweep

#: a submit window wide enough that the test is about faults, not pacing
FAST_CLIENT = {"submit_limits": ((50, 1.0),)}


def make_engine(sim, out_dir, **options) -> Engine:
    options.setdefault("client_options", FAST_CLIENT)
    return Engine(
        store=Store(out_dir), api_key=TEST_KEY, base_url=sim.base_url, concurrency=24, **options
    )


class FaultScript:
    """Hold fault knobs at a high rate until each has fired a number of times, then drop
    it to a background rate: every fault surely happens, whatever order the concurrent
    requests draw the simulator's random numbers in, yet the run is not drowned in them.

    `knobs` maps a knob to (initial rate, background rate, times it must fire).
    """

    def __init__(self, sim, knobs: dict[str, tuple[float, float, int]]):
        self.sim, self.knobs = sim, knobs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> FaultScript:
        self.sim.configure(**{knob: high for knob, (high, _, _) in self.knobs.items()})
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        waiting = dict(self.knobs)
        while waiting and not self._stop.wait(0.01):
            fired = self.sim.stats()["faults_injected"]
            for knob, (_, low, times) in list(waiting.items()):
                if fired[knob] >= times:
                    self.sim.configure(**{knob: low})
                    del waiting[knob]

    def assert_all_fired(self) -> None:
        fired = self.sim.stats()["faults_injected"]
        for knob, (_, _, times) in self.knobs.items():
            assert fired[knob] >= times, f"{knob} fired {fired[knob]} times, not {times}"


@pytest.mark.timeout(90)
def test_sweep_rides_out_every_fault_and_pays_each_task_once(sim, out_dir):
    sim.configure(task_fail=0.08, download_fail_first=True, retry_after=0.2, seed=7)
    faults = FaultScript(
        sim,
        {
            "submit_429": (0.5, 0.03, 2),  # 429 with Retry-After on POST
            "submit_503": (0.5, 0.05, 2),  # 503 on POST (nothing created)
            "status_429": (0.3, 0.03, 1),  # 429 on GET
            "status_5xx": (0.5, 0.05, 3),  # 500, 502, then 503 on GET
            "status_drop": (0.5, 0.05, 2),  # GET connections closed without an answer
        },
    )
    subjects = [f"subject {i}" for i in range(10)] + ["doomed [fail] one", "doomed [fail] two"]
    engine = make_engine(sim, out_dir)

    with faults:
        result = sweep(
            "a photo of {subject}",
            {"subject": subjects, "size": ["1:1", "16:9"]},
            engine=engine,
            cache=False,
        )

    stats = sim.stats()
    faults.assert_all_fired()  # the faults really happened
    assert engine.retries > 0

    # each of the 24 cells created exactly one task: nothing paid twice
    created = [(t["prompt"], t["size"]) for t in stats["tasks"].values()]
    assert stats["tasks_created"] == 24 == len(set(created))
    assert stats["submit_requests"] > 24  # rejected submits (429/503) were retried

    runs = dict(result)
    assert len(runs) == 24 and all(run is not None for run in runs.values())
    failed_on_server = {tid for tid, t in stats["tasks"].items() if t["status"] == "failed"}
    completed_on_server = {tid for tid, t in stats["tasks"].items() if t["status"] == "completed"}
    assert len(failed_on_server) >= 4  # the four [fail] cells at least
    assert failed_on_server | completed_on_server == set(stats["tasks"])

    # every task the server completed is delivered: files on disk, one per image
    delivered = {run.task_id: run for run in runs.values() if run.ok}
    assert set(delivered) == completed_on_server
    for run in delivered.values():
        assert len(run.images) == run.request.n
        for image in run.images:
            assert image.path.is_file() and image.thumbnail.is_file()
    assert not list(out_dir.rglob("*.part")), "partial downloads were left behind"
    # and the first download of every one of those files had failed
    assert stats["faults_injected"]["download_fail_first"] == sum(
        len(run.images) for run in delivered.values()
    )

    # every failed task is reported: in the grid and in the journal
    failed_runs = [run for run in runs.values() if not run.ok]
    assert {run.task_id for run in failed_runs} == failed_on_server
    html = result.html()
    journal = Store(out_dir).read_journal()
    journal_failed = {e["task_id"]: e for e in journal if e["event"] == "failed"}
    for run in failed_runs:
        assert run.status == "failed" and run.error_type == "TaskFailedError"
        assert run.task_id in run.error
        assert f"Task {run.task_id} failed" in html
        assert run.task_id in journal_failed
    assert html.count("banana-error") == len(failed_runs)
    completed_entries = [e for e in journal if e["event"] == "completed"]
    assert sorted(e["task_id"] for e in completed_entries) == sorted(delivered)
    # nothing is left for resume: every task is either collected or finally failed
    assert Store(out_dir).pending_tasks() == []


class LongestBackoff(random.Random):
    """Every random draw of the client at the top of its range: backoffs at their longest
    (a first download retry after 0.5 s), so a URL lifetime can sit just under it."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.timeout(60)
def test_expired_result_urls_are_recovered_by_polling_again(sim, out_dir):
    # URLs live 0.45 s; the first GET of each file fails with 500, and the retry after the
    # backoff (0.5 s) finds the URL expired: only a fresh poll gives a working URL. (A fresh
    # URL is fetched within 0.45 s even on a busy machine; with the usual backoff, 0.25 to
    # 0.5 s, the lifetime would have to be under 0.25 s, a race under load.)
    sim.configure(url_ttl=0.45, download_fail_first=True)
    engine = make_engine(sim, out_dir, client_options={**FAST_CLIENT, "rng": LongestBackoff()})
    prompts = [f"expiring {i}" for i in range(4)]
    requests = [ImageRequest.create(p, n=2) for p in prompts]

    runs = asyncio.run(engine.run(requests, cache=False))

    assert all(run.ok for run in runs), [run.error for run in runs]
    assert all(len(run.images) == 2 and all(i.path.is_file() for i in run.images) for run in runs)
    stats = sim.stats()
    assert stats["tasks_created"] == 4
    # the files server saw URLs of the same file signed at different times: re-polled URLs
    signed = collections.defaultdict(set)
    for entry in stats["headers"]["files"]:
        url = urlsplit(entry[":path"])
        signed[url.path].add(parse_qs(url.query)["exp"][0])
    assert len(signed) == 8
    assert all(len(expiries) >= 2 for expiries in signed.values()), signed
    # more polls than one per task: the completed tasks were asked again for fresh URLs
    assert all(t["polls"] >= 2 for t in stats["tasks"].values())


@pytest.mark.timeout(60)
def test_urls_that_never_work_end_in_a_clear_resumable_download_error(sim, out_dir):
    sim.configure(url_ttl=0.0)  # every URL is expired when it is fetched
    engine = make_engine(sim, out_dir)
    (run,) = asyncio.run(engine.run([ImageRequest.create("never downloadable")], cache=False))
    assert run.status == "failed" and run.error_type == "DownloadError"
    assert run.task_id in run.error and "resume" in run.error
    # the paid task stays resumable: no final "failed" entry in the journal
    assert [e["task_id"] for e in Store(out_dir).pending_tasks()] == [run.task_id]
    assert sim.stats()["tasks_created"] == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "refusal",
    [{"api_keys": {"sk-rotated-key-0000"}}, {"balance": 0.0}],
    ids=["key-revoked", "no-balance"],
)
def test_a_refusal_while_polling_keeps_the_paid_task_resumable(sim, out_dir, refusal):
    """A 401 (key rotated) on a status query says nothing about the task: it is paid and
    may well be done, so it must stay in the journal for `resume`."""
    sim.configure(duration=1.5)
    engine = make_engine(sim, out_dir)
    requests = [ImageRequest.create("paid for, then refused")]

    async def refuse_after_submit():
        job = asyncio.ensure_future(engine.run(requests, cache=False))
        while not sim.stats()["tasks_created"]:
            await asyncio.sleep(0.02)
        sim.configure(**refusal)
        return await job

    (run,) = asyncio.run(refuse_after_submit())
    if "api_keys" in refusal:
        assert run.status == "failed" and run.error_type == "AuthenticationError"
        assert [e["task_id"] for e in Store(out_dir).pending_tasks()] == [run.task_id]
        sim.configure(api_keys=None)
        (again,) = asyncio.run(make_engine(sim, out_dir).resume())
        assert again.ok and again.task_id == run.task_id
    else:  # polling costs nothing: an empty balance does not stop the collection
        assert run.ok
    assert sim.stats()["tasks_created"] == 1 and Store(out_dir).pending_tasks() == []


@pytest.mark.timeout(60)
def test_a_task_half_downloaded_is_completed_by_resume_without_duplicates(tmp_path, out_dir):
    """Image 0 arrives, image 1's host fails: resume fetches what is missing, and the run
    lists each image once."""
    with RecordingServer("127.0.0.2") as files:
        broken = {"yes": True}
        serve_png = files.serve_png

        def flaky_files(method, path, body):
            if path.startswith("/1.png") and broken["yes"]:
                return 500, {}, b"down"
            return serve_png(method, path, body)

        files.respond = flaky_files

        def api(method, path, body):
            if method == "POST":
                return json_answer(200, {"id": "t2", "status": "queued"})
            return json_answer(
                200,
                {
                    "id": "t2",
                    "status": "completed",
                    "result": {
                        "data": [{"url": files.url + "/0.png"}, {"url": files.url + "/1.png"}]
                    },
                },
            )

        with RecordingServer("127.0.0.1", respond=api) as server:
            engine = Engine(
                store=Store(out_dir),
                api_key=TEST_KEY,
                base_url=server.url,
                client_options={"max_retries": 1, "backoff_cap": 0.2},
            )
            (run,) = asyncio.run(engine.run([ImageRequest.create("two of them", n=2)]))
            assert run.status == "failed" and run.error_type == "DownloadError"
            assert [e["task_id"] for e in Store(out_dir).pending_tasks()] == ["t2"]
            broken["yes"] = False
            (again,) = asyncio.run(engine.resume())
    assert again.ok and again.run_id == run.run_id
    assert [image.index for image in again.images] == [0, 1]
    assert Store(out_dir).load_run(run.run_id).to_manifest()["images"] == [
        image.to_dict(again.folder) for image in again.images
    ]
    assert all(image.path.is_file() for image in again.images)
