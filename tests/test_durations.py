"""Learned running times: persisted in the output folder, read back by a new process,
shared by siblings of a batch. Behaviour only, never timings."""

import asyncio
import json
import random

from conftest import TEST_KEY

from nanobanana_magic import _engine as engine_module
from nanobanana_magic._durations import DURATIONS_FILE, load_prior
from nanobanana_magic._engine import Engine
from nanobanana_magic._polling import MAX_INTERVAL, DurationPrior, PollPlanner
from nanobanana_magic._request import ImageRequest
from nanobanana_magic._store import Store


def run_batch(sim, out_dir, prompts, resolution="0.5K"):
    engine = Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim.base_url)
    requests = [ImageRequest.create(p, resolution=resolution) for p in prompts]
    runs = asyncio.run(engine.run(requests, cache=False))
    assert all(run.ok for run in runs)
    return engine, requests


def test_learned_durations_persist_and_a_new_process_reads_them_back(sim, out_dir):
    sim.configure(progress_mode="none", duration=0.6)
    engine, requests = run_batch(sim, out_dir, ["a kite", "a boat", "a bell"])
    lines = [json.loads(line) for line in (out_dir / DURATIONS_FILE).read_text().splitlines()]
    assert len(lines) == 3
    assert {(e["backend"], e["model"], e["resolution"]) for e in lines} == {
        (sim.base_url, requests[0].model, "0.5K")
    }
    assert all(0.3 < e["seconds"] < 3 and e["progress"] is False for e in lines)

    engine_module._DURATIONS.clear()  # what a new kernel starts with
    prior = Engine(store=Store(out_dir), api_key=TEST_KEY, base_url=sim.base_url)._prior(
        requests[0]
    )
    assert prior.samples == [e["seconds"] for e in lines]
    assert prior.reports_progress is False and prior.range() is not None
    other = ImageRequest.create("a kite", resolution="1K")
    assert len(engine._prior(other)) == 0  # another resolution is another kind of task


def test_a_warm_prior_moves_the_first_poll_of_a_task_without_progress_into_its_window():
    prior = DurationPrior([18.0, 20.0, 22.0, 19.0, 21.0], reports_progress=False)
    warm = PollPlanner(0.0, prior=prior, max_interval=30.0, rng=random.Random(0))
    cold = PollPlanner(0.0, rng=random.Random(0))
    low, high = prior.range()
    # a poll at the window's opening could only say "not yet": the first is one step in
    assert low < warm.next_poll_at() < high and cold.next_poll_at() < 1


def test_a_cold_batch_sends_one_scout_early_and_spreads_the_others():
    prior = DurationPrior()
    planners = [PollPlanner(0.0, prior=prior, rng=random.Random(i)) for i in range(8)]
    firsts = [planner.next_poll_at() for planner in planners]
    assert firsts[0] <= 0.5  # the scout: a short batch is seen done soon
    others = firsts[1:]
    assert min(others) >= 3.0  # the others no sooner than a fixed 3 s poller ...
    assert len({round(t, 1) for t in others}) == len(others)  # ... each at its own phase
    assert max(others) - min(others) > 2.0


def test_what_a_sibling_teaches_moves_the_first_poll_of_the_others():
    prior = DurationPrior(reports_progress=False)
    scout, sibling = (PollPlanner(0.0, prior=prior, rng=random.Random(i)) for i in range(2))
    blind = sibling.next_poll_at()
    scout.observe(0.5, "running", 0)
    prior.learn(0.6, False, None)  # the scout was seen done: such tasks run about 0.6 s
    assert sibling.next_poll_at() < 1.5 < blind


def test_siblings_waiting_in_the_client_are_woken_by_what_the_first_to_finish_taught(sim, out_dir):
    """Through the real client: the batch's later tasks are first polled blind seconds
    after the submit, unless the scout's completion wakes them, as it does."""
    sim.configure(progress_mode="none", duration=0.6)
    run_batch(sim, out_dir, ["a kite", "a boat", "a bell"])
    learned = [json.loads(line)["seconds"] for line in (out_dir / DURATIONS_FILE).open()]
    polls = [task["polls"] for task in sim.stats()["tasks"].values()]
    assert sorted(polls) == [1, 1, 2]  # the scout twice, the others once, when taught
    # a blind first poll (at 4 s or later) would leave a running time of 2 s or more
    assert all(seconds < 2.0 for seconds in learned)


def test_progress_steps_are_learned_so_a_first_answer_of_50_is_not_taken_for_coarse():
    samples = [14.0, 26.0, 18.0, 22.0, 20.0]
    fine = DurationPrior(samples, reports_progress=True, progress_step=1)
    unknown = DurationPrior(samples, reports_progress=True)
    widths = []
    for prior in (fine, unknown):
        planner = PollPlanner(0.0, prior=prior, rng=random.Random(0))
        planner.observe(10.0, "running", 50)
        lo, hi = planner.window()
        widths.append(hi - lo)
    assert widths[0] < 1.0 and widths[1] > 3.0  # 50 % of whole percents, or of 0/50/100


def test_the_first_sibling_to_finish_informs_the_others():
    prior = DurationPrior()
    planners = [PollPlanner(0.0, prior=prior, rng=random.Random(i)) for i in range(8)]
    for planner in planners:
        planner.observe(6.0, "running", 0)
    assert planners[1].window() is None  # nothing known yet
    prior.learn(14.0, False)  # one sibling ran 14 s
    lo, hi = planners[1].window()
    assert 6.0 <= lo <= 14.0 < hi <= 14.0 * 1.5 + 1
    prior.learn(15.0, False)
    prior.learn(16.0, False)
    assert prior.range()[1] > 16.0  # the others still run: the span reaches past them


def test_malformed_lines_in_the_durations_file_are_ignored(tmp_path):
    good = {"backend": "b", "model": "m", "resolution": "1K", "progress": True}
    lines = [
        json.dumps({**good, "seconds": 12.5}),
        "not json",
        json.dumps({**good, "seconds": "12"}),
        json.dumps({**good, "seconds": -3}),
        json.dumps({**good, "seconds": 1e9}),
        json.dumps({**good, "seconds": 8.0, "progress": "yes"}),
        json.dumps({**good, "seconds": 8.0, "step": 7}),
        json.dumps({**good, "seconds": 8.0, "step": True}),
        json.dumps([1, 2]),
        '{"backend": "b", "model": "m", "resolution": "1K", "seconds": 9',  # torn
    ]
    (tmp_path / DURATIONS_FILE).write_text("\n".join(lines))
    prior = load_prior(tmp_path, "b", "m", "1K")
    assert prior.samples == [12.5] and prior.reports_progress is True


def test_the_steps_of_fine_progress_are_persisted_for_a_new_kernel(sim, out_dir):
    sim.configure(progress_mode="linear", duration=1.5)
    _engine, requests = run_batch(sim, out_dir, ["a kite", "a boat"])
    lines = [json.loads(line) for line in (out_dir / DURATIONS_FILE).open()]
    # a task first polled done cannot tell: it repeats what its siblings showed
    assert lines and all(e["progress"] is True for e in lines)
    engine_module._DURATIONS.clear()
    prior = load_prior(out_dir, sim.base_url, requests[0].model, "0.5K")
    assert prior.progress_step == 1


def test_a_running_scouts_fine_progress_gives_its_siblings_an_expectation():
    prior = DurationPrior()
    scout, sibling = (PollPlanner(0.0, prior=prior, rng=random.Random(i)) for i in range(2))
    blind = sibling.next_poll_at()
    scout.observe(0.5, "running", 1)  # too early to predict its length
    assert prior.expected() is None
    scout.observe(3.0, "running", 14)  # about 20 s long: the sibling samples before the
    assert 15 < prior.expected() < 25 and prior.progress_step == 1  # shortest likely end
    first = sibling.next_poll_at()
    shortest, _longest = prior.range()
    assert 0.45 * prior.expected() <= first <= min(shortest, 2 * MAX_INTERVAL) and first != blind
    coarse = DurationPrior()
    planner = PollPlanner(0.0, prior=coarse, rng=random.Random(0))
    planner.observe(6.0, "running", 50)  # 0/50/100 says too little to plan siblings by
    assert coarse.expected() is None
