"""When the real gateway differs from the contract (contract §12), against simulator knobs:
n fixed at 1 (fan-out), the other model id, image URLs in other fields, rate-limit headers.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import TEST_KEY

from nanobanana_magic import _errors as errors
from nanobanana_magic import generate
from nanobanana_magic._client import ToAPIsClient
from nanobanana_magic._engine import Engine
from nanobanana_magic._gateway import FACTS_FILE
from nanobanana_magic._ratelimit import header_hold
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store


def make(sim, out_dir, prompt, **options):
    return generate(
        prompt,
        resolution="0.5K",
        api_key=TEST_KEY,
        base_url=sim.base_url,
        output_dir=out_dir,
        **options,
    )


def task_sizes(sim) -> list[int]:
    return sorted(task["n"] for task in sim.stats()["tasks"].values())


# -- n fixed at 1 -------------------------------------------------------------------------------
def test_a_refused_n_is_fanned_out_into_one_run_and_remembered(sim, out_dir):
    sim.configure(max_n=1)
    run = make(sim, out_dir, "three pears", n=3)
    assert run.ok and [image.index for image in run.images] == [0, 1, 2]
    assert all(image.path.exists() for image in run.images)
    assert run.cost == pytest.approx(3 * 0.025)  # the same cost per image
    assert task_sizes(sim) == [1, 1, 1]
    stats = sim.stats()
    assert stats["submit_requests"] == 4  # one refused, then three tasks of one image
    facts = [json.loads(line) for line in (out_dir / FACTS_FILE).read_text().splitlines()]
    assert facts[0]["fact"] == "refuses_n" and facts[0]["base_url"] == sim.base_url
    assert facts[0]["model"] == "nano-banana-2"

    # a new engine on the same folder fans out from the start: no refused submit
    second = make(sim, out_dir, "two plums", n=2)
    assert second.ok and len(second.images) == 2
    assert sim.stats()["submit_requests"] == stats["submit_requests"] + 2
    # a cached run is the same run, images and all
    again = make(sim, out_dir, "three pears", n=3)
    assert again.cached and again.run_id == run.run_id and len(again.images) == 3


def test_the_fact_is_per_backend_and_model(sim, out_dir):
    sim.configure(max_n=1)
    make(sim, out_dir, "a", n=2)
    before = sim.stats()["submit_requests"]
    other = make(sim, out_dir, "b", n=2, model="gemini-3.1-flash-image-preview")
    assert other.ok and len(other.images) == 2
    assert sim.stats()["submit_requests"] == before + 3  # this model had to learn it too


def test_fanout_never_and_always(sim, out_dir):
    sim.configure(max_n=1)
    with pytest.raises(errors.InvalidRequestError, match="'n'"):
        make(sim, out_dir, "no fan-out", n=2, fanout="never")
    assert sim.stats()["tasks_created"] == 0 and not (out_dir / FACTS_FILE).exists()
    sim.configure(max_n=4)
    run = make(sim, out_dir, "always", n=2, fanout="always")
    assert run.ok and len(run.images) == 2 and task_sizes(sim) == [1, 1]
    with pytest.raises(errors.ValidationError, match="auto, always, never"):
        make(sim, out_dir, "x", fanout="sometimes")


def test_an_interrupted_fanned_out_run_is_resumed_whole(sim, out_dir):
    sim.configure(max_n=1, duration=1.0)
    request = ImageRequest.create("a pair of gloves", n=2, resolution="0.5K")

    async def interrupted():
        engine = Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim.base_url)
        submitted = asyncio.Event()
        job = asyncio.ensure_future(
            engine.run([request], listener=lambda e: e.kind == "submitted" and submitted.set())
        )
        await submitted.wait()
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        return await engine.resume()

    (run,) = asyncio.run(interrupted())
    assert run.ok and [image.index for image in run.images] == [0, 1]
    assert sim.stats()["tasks_created"] == 2  # nothing paid twice
    assert not Store(out_dir).pending_tasks()


def test_banana_fanout_setting(shell, sim_env):
    shell.run('%config Banana.fanout = "always"')
    run = shell.run("%%banana -n 2 --resolution 0.5K\ntwo lemons")
    assert run.ok and len(run.images) == 2 and task_sizes(sim_env) == [1, 1]
    magic = shell.ip.magics_manager.registry["Banana"]
    shell.run('%config Banana.fanout = "maybe"')  # %config logs the refusal
    assert magic.fanout == "always"
    shell.run('%config Banana.fanout = "auto"')
    assert magic.fanout == "auto"


# -- the model id -------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 503])
def test_a_refused_model_id_names_the_other_id_and_how_to_switch(sim, out_dir, status):
    sim.configure(accepted_models=["gemini-3.1-flash-image-preview"], model_refusal_status=status)
    with pytest.raises(errors.InvalidRequestError) as caught:  # a 503 too: not an outage
        make(sim, out_dir, "a kiwi")
    message = str(caught.value)
    assert "'nano-banana-2'" in message and "'gemini-3.1-flash-image-preview'" in message
    assert '%config Banana.model = "gemini-3.1-flash-image-preview"' in message
    assert sim.stats()["submit_requests"] == 1  # a 503 model_not_found is not retried
    assert TEST_KEY not in message


def test_the_reverse_model_hint(sim, out_dir):
    sim.configure(accepted_models=["nano-banana-2"])
    with pytest.raises(errors.InvalidRequestError, match="'nano-banana-2'"):
        make(sim, out_dir, "a kiwi", model="gemini-3.1-flash-image-preview")


# -- where a completed task keeps its images ----------------------------------------------------
@pytest.mark.parametrize("field", ["result.images", "data", "output", "url_list"])
def test_image_urls_in_other_fields_are_collected(sim, out_dir, field):
    sim.configure(result_field=field, top_level_url=False)
    run = make(sim, out_dir, f"urls in {field}", n=2)
    assert run.ok and len(run.images) == 2 and all(i.path.exists() for i in run.images)


@pytest.mark.parametrize(
    ("field", "said"),
    [("ambiguous", "different image URL lists in data and output"), ("nowhere", "result has type")],
)
def test_urls_that_cannot_be_found_unambiguously_are_an_error_quoting_the_fields(
    sim, out_dir, field, said
):
    sim.configure(result_field=field, top_level_url=False)
    with pytest.raises(errors.ResponseFormatError) as caught:
        make(sim, out_dir, f"urls {field}", n=2)
    assert "fields seen: " in str(caught.value) and said in str(caught.value)
    assert Store(out_dir).pending_tasks()  # the task stays resumable


# -- rate-limit headers -------------------------------------------------------------------------
def test_header_hold_reads_seconds_and_epochs():
    assert header_hold({"x-ratelimit-remaining": "1", "x-ratelimit-reset": "2"}) == 1.0
    assert header_hold({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "3"}) == 3.0
    epoch = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000004"}
    assert header_hold(epoch, now=1_700_000_000.0) == pytest.approx(4.0)
    millis = {"x-ratelimit-remaining": "3", "x-ratelimit-reset": "1700000004000"}
    assert header_hold(millis, now=1_700_000_000.0) == pytest.approx(1.0)
    assert header_hold({"x-ratelimit-remaining": "soon"}) is None
    assert header_hold({}) is None


@pytest.mark.parametrize(
    ("headers", "reset"), [(True, "seconds"), (True, "epoch"), (False, "seconds")]
)
def test_rate_limit_headers_slow_the_client_before_429s(sim, headers, reset):
    """The server allows 2 submits a second, the client believes 100: only the headers
    can keep it out of 429s (without them, the same loop runs into them)."""
    sim.configure(
        rate_limit=True,
        rate_limit_headers=headers,
        rate_limit_reset=reset,
        submit_limits=[[2, 1.0]],
        retry_after=0.5,
    )
    payload = {"model": "nano-banana-2", "prompt": "p", "size": "1:1", "n": 1}

    async def submit_five():
        async with ToAPIsClient(
            api_key=TEST_KEY, base_url=sim.base_url, submit_limits=((100, 1.0),)
        ) as client:
            for _ in range(5):
                await client.submit(payload)

    asyncio.run(submit_five())
    stats = sim.stats()
    assert stats["tasks_created"] == 5
    if headers:
        assert stats["rate_limit_violations"] == 0
    else:
        assert stats["rate_limit_violations"] > 0
