"""The engine over real loopback HTTP: uploads, the task pipeline, events, cancellation, resume."""

import asyncio
import re

import pytest
from conftest import TEST_KEY
from PIL import Image

from nanobanana_magic import _errors as errors
from nanobanana_magic._engine import DOWNLOADING, Engine
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store


def engine_for(sim, out_dir, **options):
    return Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim.base_url, **options)


def run_all(engine, requests, **options):
    return asyncio.run(engine.run(requests, **options))


def events_of(journal, kind):
    return [entry for entry in journal if entry["event"] == kind]


def test_submit_poll_download_store(sim, out_dir):
    request = ImageRequest.create("a lantern in fog", n=2, size="3:2", resolution="0.5K")
    (run,) = run_all(engine_for(sim, out_dir), [request])
    assert run.ok and run.task_id and [image.index for image in run.images] == [0, 1]
    stats = sim.stats()
    assert stats["tasks"][run.task_id]["polls"] >= 1
    assert stats["tasks"][run.task_id]["downloads"] == 2
    for image in run.images:
        assert image.path.exists() and image.task_id == run.task_id
        assert image.url.startswith(sim.files_url)
        with Image.open(image.path) as png:
            assert png.width > png.height == image.height
    assert run.cost == pytest.approx(2 * 0.025) and run.spent == run.cost


def test_a_local_reference_is_uploaded_once_per_content(sim, out_dir, tmp_path):
    reference = tmp_path / "ref.png"
    Image.new("RGB", (64, 64), "orange").save(reference)
    twin = tmp_path / "twin.png"
    twin.write_bytes(reference.read_bytes())
    engine = engine_for(sim, out_dir)
    first = run_all(engine, [ImageRequest.create("a", reference_images=[reference])])[0]
    second = run_all(
        engine_for(sim, out_dir),  # a new engine: the journal remembers
        [ImageRequest.create("b", reference_images=[twin])],
    )[0]
    assert first.ok and second.ok
    assert sim.stats()["uploads"] == 1
    uploads = events_of(engine.store.read_journal(), "uploaded")
    assert len(uploads) == 1 and uploads[0]["url"].startswith(sim.files_url)


def test_a_gif_reference_is_converted_to_png_before_upload(sim, out_dir, tmp_path):
    gif = tmp_path / "anim.gif"
    Image.new("P", (32, 32), 3).save(gif, "GIF")
    engine = engine_for(sim, out_dir)
    (run,) = run_all(engine, [ImageRequest.create("gif ref", reference_images=[gif])])
    assert run.ok
    (upload,) = events_of(engine.store.read_journal(), "uploaded")
    assert upload["url"].endswith(".png")


def test_events_for_success_and_failure(sim, out_dir):
    events = []
    requests = [ImageRequest.create("fine"), ImageRequest.create("this one will [fail]")]
    ok, failed = run_all(engine_for(sim, out_dir), requests, listener=events.append)
    kinds = {index: [e.kind for e in events if e.index == index] for index in (0, 1)}
    assert kinds[0][0] == "submitted" and kinds[0][-1] == "completed"
    assert kinds[1][0] == "submitted" and kinds[1][-1] == "failed"
    assert set(kinds[0][1:-1]) <= {"progress"} and set(kinds[1][1:-1]) <= {"progress"}
    assert ok.ok and not failed.ok
    assert isinstance(failed.exception, errors.TaskFailedError)
    assert failed.task_id in str(failed.exception)
    journal = Store(out_dir).read_journal()
    assert [e["task_id"] for e in events_of(journal, "failed")] == [failed.task_id]
    assert Store(out_dir).pending_tasks() == []


def test_progress_events_carry_the_servers_progress(sim, out_dir):
    sim.configure(duration=1.5, queue_delay=0.0)
    events = []
    run_all(engine_for(sim, out_dir), [ImageRequest.create("slow one")], listener=events.append)
    updates = [e for e in events if e.kind == "progress"]
    *polls, downloading = updates
    progress = [e.progress for e in polls]
    assert progress and all(0 <= p < 100 for p in progress)
    assert progress == sorted(progress)
    # the poller's predicted completion comes along once the progress pins it down,
    # and the images' download is announced before it starts
    left = [e.seconds_left for e in polls if e.seconds_left is not None]
    assert left and all(0 <= s <= 1.5 for s in left)
    assert downloading.status == DOWNLOADING and events[-1].kind == "completed"


def test_a_broken_listener_does_not_lose_the_image(sim, out_dir):
    def listener(event):
        raise RuntimeError("display broke")

    (run,) = run_all(engine_for(sim, out_dir), [ImageRequest.create("x")], listener=listener)
    assert run.ok and run.images[0].path.exists()


def test_submit_uncertain_is_journaled_and_not_resent(sim, out_dir):
    sim.configure(submit_500=1.0)
    engine = engine_for(sim, out_dir)
    (run,) = run_all(engine, [ImageRequest.create("maybe paid")])
    assert run.status == "failed" and isinstance(run.exception, errors.SubmitUncertainError)
    journal = engine.store.read_journal()
    (attempt,) = events_of(journal, "submit_attempt")
    (uncertain,) = events_of(journal, "submit_uncertain")
    assert attempt["run_id"] == uncertain["run_id"] == run.run_id
    assert attempt["payload"]["prompt"] == "maybe paid"
    assert sim.stats()["submit_requests"] == 1


def test_cancellation_keeps_the_task_pending_and_resume_collects_it(sim, out_dir):
    sim.configure(duration=1.0)
    engine = engine_for(sim, out_dir)
    events = []

    async def start_then_cancel():
        submitted = asyncio.Event()

        def listener(event):
            events.append(event)
            if event.kind == "submitted":
                submitted.set()

        job = asyncio.ensure_future(
            engine.run([ImageRequest.create("interrupted")], listener=listener)
        )
        await submitted.wait()
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(start_then_cancel())
    assert [e.kind for e in events] == ["submitted", "cancelled"]
    (pending,) = engine.store.pending_tasks()
    task_id = pending["task_id"]
    assert engine.store.load_run(pending["run_id"]).status == "cancelled"
    assert sim.stats()["tasks"][task_id]["downloads"] == 0

    resumed = asyncio.run(engine_for(sim, out_dir).resume())
    assert [run.task_id for run in resumed] == [task_id]
    assert resumed[0].ok and resumed[0].images[0].path.exists()
    assert engine.store.pending_tasks() == []
    assert sim.stats()["tasks_created"] == 1  # collected, not paid again


def test_an_expired_result_url_is_refreshed_by_polling_again(sim, out_dir):
    sim.configure(url_ttl=0.0)  # every URL is already stale when it is used
    engine = engine_for(sim, out_dir)
    (run,) = run_all(engine, [ImageRequest.create("stale links")])
    assert isinstance(run.exception, errors.DownloadError)
    assert "expired" in str(run.exception) and "resume" in str(run.exception)
    task = sim.stats()["tasks"][run.task_id]
    assert task["downloads"] == 3  # the first URL and two fresh ones
    assert engine.store.pending_tasks()[0]["task_id"] == run.task_id  # still collectable
    sim.configure(url_ttl=None)
    (again,) = asyncio.run(engine_for(sim, out_dir).resume())
    assert again.ok


def test_many_requests_run_concurrently_under_the_bound(sim, out_dir):
    requests = [ImageRequest.create(f"tile {i}", resolution="0.5K") for i in range(6)]
    runs = run_all(engine_for(sim, out_dir, concurrency=3), requests)
    assert [run.request.prompt for run in runs] == [f"tile {i}" for i in range(6)]
    assert all(run.ok for run in runs) and sim.stats()["tasks_created"] == 6


def test_run_repr_html_is_a_grid_of_thumbnails(sim, out_dir):
    (run,) = run_all(
        engine_for(sim, out_dir), [ImageRequest.create("<b>bold</b> & fox", n=3, resolution="0.5K")]
    )
    html = run._repr_html_()
    assert len(re.findall(r"<img [^>]*src='data:image/webp;base64,", html)) == 3
    assert "display:grid" in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; fox" in html and "<b>bold</b>" not in html
    assert "SIMULATED" in html and TEST_KEY not in html
    assert str(run.images[0].path.name) in html  # each card links its full file


def test_a_reference_shared_by_a_batch_is_uploaded_once(sim, out_dir, tmp_path):
    reference = tmp_path / "shared.png"
    Image.new("RGB", (64, 64), "orange").save(reference)
    engine = Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim.base_url)
    requests = [
        ImageRequest.create("a cat", size=size, reference_images=[reference])
        for size in ("1:1", "16:9", "9:16", "4:3")
    ]
    runs = asyncio.run(engine.run(requests))
    assert all(run.ok for run in runs)
    assert sim.stats()["uploads"] == 1
    uploaded = [e for e in Store(out_dir).read_journal() if e["event"] == "uploaded"]
    assert len(uploaded) == 1


def test_resume_only_takes_tasks_sent_to_its_own_api(sim, out_dir):
    store = Store(out_dir)
    store.journal("submitted", run_id="r-here", task_id="t-here", base_url=sim.base_url)
    store.journal("submitted", run_id="r-old-sim", task_id="t-old", base_url="http://127.0.0.1:9")
    engine = Engine(store=store, api_key=TEST_KEY, base_url=sim.base_url)
    assert [e["task_id"] for e in engine.pending_tasks()] == ["t-here"]
    assert {e["task_id"] for e in store.pending_tasks()} == {"t-here", "t-old"}
