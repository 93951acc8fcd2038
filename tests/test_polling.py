"""PollPlanner on a fake clock: a scripted task timeline answers every planned poll.

No sleeping and no network: each test drives a planner against a task whose start,
duration and progress reporting are known, and checks where the polls land.
"""

import itertools
import math
import random
import statistics

import pytest

from nanobanana_magic._polling import MAX_INTERVAL, MIN_INTERVAL, DurationPrior, PollPlanner


class FakeTask:
    """A task submitted at 0 that starts at `start` and runs `duration` seconds."""

    def __init__(self, duration, *, start=0.2, mode="linear"):
        self.start, self.duration, self.mode = start, duration, mode

    @property
    def end(self):
        return self.start + self.duration

    def answer(self, t):
        if t < self.start:
            return "queued", 0
        fraction = (t - self.start) / self.duration
        if fraction >= 1:
            return "completed", 100
        if self.mode == "linear":
            return "running", min(99, math.floor(100 * fraction))
        if self.mode == "coarse":
            return "running", 50 if fraction >= 0.5 else 0
        return "running", 0


def drive(task, *, expected=None, seed=0, limit=500, **options):
    """Poll `task` as the client would; return the poll times (the last one saw completion)."""
    planner = PollPlanner(0.0, expected_duration=expected, rng=random.Random(seed), **options)
    times = []
    for _ in range(limit):
        t = planner.next_poll_at()
        times.append(t)
        status, progress = task.answer(t)
        if status == "completed":
            return times
        planner.observe(t, status, progress)
    raise AssertionError("the planner never saw the task complete")


def gaps(times):
    return [b - a for a, b in zip([0.0] + times, times)]


def test_linear_progress_is_polled_just_after_completion_with_few_polls():
    for seed, duration in enumerate([5.25, 6.1, 7.0, 7.9, 8.75]):
        task = FakeTask(duration)
        times = drive(task, seed=seed)
        assert len(times) <= 5
        assert 0 <= times[-1] - task.end <= 0.3


def test_learned_duration_makes_the_first_poll_land_midway():
    task = FakeTask(7.0)
    times = drive(task, expected=7.2)
    assert times[0] == pytest.approx(0.45 * 7.2, abs=0.01)
    assert len(times) <= 4 and times[-1] - task.end <= 0.3


def test_coarse_progress_finishes_within_a_second_or_two_without_a_poll_storm():
    for seed, duration in enumerate([5.5, 7.0, 8.5]):
        task = FakeTask(duration, mode="coarse")
        cold = drive(task, seed=seed)
        warm = drive(task, expected=7.3, seed=seed)
        assert len(cold) <= 7 and len(warm) <= 5
        assert 0 <= cold[-1] - task.end <= 2.0 and 0 <= warm[-1] - task.end <= 2.0


def test_absent_progress_backs_off_but_never_waits_more_than_ten_seconds():
    task = FakeTask(90.0, mode="none")
    times = drive(task)
    intervals = gaps(times)
    assert max(intervals) <= MAX_INTERVAL + 1e-9
    assert intervals[-1] > intervals[1]  # the cadence grew with the task's age
    assert len(times) < 90 / 3  # fewer polls than a fixed 3 s poller
    assert times[-1] - task.end <= MAX_INTERVAL


def test_a_queued_task_is_not_expected_to_finish_before_it_starts():
    task = FakeTask(20.0, start=30.0)
    planner = PollPlanner(0.0, rng=random.Random(1))
    t = planner.next_poll_at()
    while t < task.start:
        planner.observe(t, *task.answer(t))
        assert planner.window() is None  # nothing known about the end while queued
        t = planner.next_poll_at()
    times = drive(task, seed=1)
    assert all(MIN_INTERVAL - 1e-9 <= g <= MAX_INTERVAL + 1e-9 for g in gaps(times))
    assert 0 <= times[-1] - task.end <= 0.5


def test_window_contains_the_true_end_once_progress_is_seen():
    task = FakeTask(7.0)
    planner = PollPlanner(0.0, rng=random.Random(0))
    for t in (1.0, 3.3, 5.5):
        planner.observe(t, *task.answer(t))
        lo, hi = planner.window()
        assert lo <= task.end <= hi
    assert hi - lo < 0.3


@pytest.mark.parametrize("mode", ["linear", "coarse", "none"])
@pytest.mark.parametrize("expected", [None, 2.0, 7.0, 40.0])
def test_cadence_stays_within_the_contract_bounds(mode, expected):
    rng = random.Random(hash((mode, expected)) & 0xFFFF)
    for seed in range(15):
        task = FakeTask(rng.uniform(0.3, 60.0), start=rng.uniform(0.0, 5.0), mode=mode)
        times = drive(task, expected=expected, seed=seed)
        for interval in gaps(times)[1:]:
            assert MIN_INTERVAL - 1e-9 <= interval <= MAX_INTERVAL + 1e-9


def test_custom_cadence_bounds_are_respected():
    task = FakeTask(30.0, mode="none")
    times = drive(task, min_interval=1.0, max_interval=2.0)
    assert all(1.0 - 1e-9 <= g <= 2.0 + 1e-9 for g in gaps(times)[1:])


def test_a_task_that_overruns_its_prediction_is_still_polled_regularly():
    """Progress stalls at 99 % for a minute: the model misses, then a backoff takes over."""
    planner = PollPlanner(0.0, rng=random.Random(0))
    times = []
    t = planner.next_poll_at()
    while t < 70.0:
        times.append(t)
        progress = min(99, math.floor(100 * t / 5.0))
        planner.observe(t, "running", progress)
        t = planner.next_poll_at()
    intervals = gaps(times)[1:]
    assert all(MIN_INTERVAL - 1e-9 <= g <= MAX_INTERVAL + 1e-9 for g in intervals)
    assert len(times) < 40  # no storm of polls at the minimum cadence


def test_without_progress_a_known_window_is_walked_with_shrinking_intervals():
    """A task reporting no progress, of a kind known to run 14-26 s: polls walk the window
    no more than 2.5 s apart, closer together as the end must be near, until it is done."""
    prior = DurationPrior([14.0, 17.0, 20.0, 23.0, 26.0], reports_progress=False)
    task = FakeTask(25.5, mode="none")
    planner = PollPlanner(0.0, prior=prior, max_interval=30.0, rng=random.Random(0))
    times = []
    t = planner.next_poll_at()
    while t < task.end:
        times.append(t)
        planner.observe(t, *task.answer(t))
        t = planner.next_poll_at()
    lo, _ = prior.range()
    assert times[0] > lo  # no poll at the window's opening: it could only say "not yet"
    intervals = gaps(times)[1:] + [t - times[-1]]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(intervals))
    assert max(intervals) <= 2.5 + 1e-9 and min(intervals) >= MIN_INTERVAL - 1e-9
    assert t - task.end < intervals[-1]  # the poll that finds it done follows the end


def drive_warm(task, prior, seed):
    """Poll `task` with a planner sharing `prior`; (poll times, lateness of the last)."""
    prior.new_batch()
    planner = PollPlanner(0.0, prior=prior, rng=random.Random(seed))
    times = []
    while True:
        t = planner.next_poll_at()
        times.append(t)
        status, progress = task.answer(t)
        if status == "completed":
            return times, t - task.end
        planner.observe(t, status, progress)


def test_fine_progress_is_found_within_about_half_a_step_in_four_polls():
    """Whole percents of tasks known to run 14-26 s: the end is pinned to a step (D/100)
    and the step split, so that the poll finding it done comes (median) within a tenth of
    a second of the end, in four polls or fewer on average; the first look waits until
    the shortest such task could end, the others are at most 10 s apart."""
    prior = DurationPrior([14.0, 17.0, 20.0, 23.0, 26.0], reports_progress=True, progress_step=1)
    runs = [drive_warm(FakeTask(14.5 + 0.3 * i), prior, i) for i in range(38)]
    late = sorted(lateness for _, lateness in runs)
    assert all(0 <= x <= 0.25 for x in late)
    assert late[len(late) // 2] <= 0.1
    assert statistics.fmean(len(times) for times, _ in runs) <= 4.0
    for times, _ in runs:  # the first look may wait until the shortest task could end
        assert MAX_INTERVAL < times[0] <= min(14.0, 2 * MAX_INTERVAL)
        assert all(MIN_INTERVAL - 1e-9 <= g <= MAX_INTERVAL + 1e-9 for g in gaps(times)[1:])


def test_long_tasks_without_progress_get_more_and_cheaper_looks_than_short_ones():
    """No progress (or coarse progress past 50 %), windows known from earlier tasks: a
    query is priced as a fixed 3 s poller would price it for a task that long, so a 45 s
    task's window is walked more finely (found within 0.8 s, in fewer polls than such a
    poller) and an 8 s task's more sparsely (no more polls than that poller)."""
    for (length, spread), mode in itertools.product(((45.0, 0.2), (8.0, 0.5)), ("none", "coarse")):
        samples = [length * (1 - spread + 2 * spread * i / 7) for i in range(8)]
        prior = DurationPrior(samples, reports_progress=mode == "coarse")
        durations = [length * (1 - spread + 2 * spread * (i + 0.5) / 30) for i in range(30)]
        runs = [drive_warm(FakeTask(d, mode=mode), prior, i) for i, d in enumerate(durations)]
        late = statistics.median(lateness for _, lateness in runs)
        polls = statistics.fmean(len(times) for times, _ in runs)
        fixed_poller_polls = statistics.fmean(math.ceil((0.2 + d) / 3.0) for d in durations)
        assert polls <= fixed_poller_polls
        assert late <= (0.8 if length > 20 else 1.5)
        for times, _ in runs:  # a first look within 20 s, then at least every 10 s
            assert times[0] <= 2 * MAX_INTERVAL
            assert all(g <= MAX_INTERVAL + 1e-9 for g in gaps(times)[1:])


def test_a_task_knowing_nothing_is_looked_at_once_early_then_like_a_fixed_poller():
    times = drive(FakeTask(20.0, mode="none"), seed=3)
    assert times[0] == pytest.approx(0.5)
    assert all(3.0 * 0.94 <= g <= MAX_INTERVAL + 1e-9 for g in gaps(times)[1:])


def test_a_scout_seeing_whole_percents_pins_the_rate_within_a_fixed_pollers_interval():
    """The first look (1 %) says little about the rate; a fixed poller's interval after
    its early looks, the scout has looked again and told its siblings how long to expect
    (long before they would look blind, at 4.5 s and later)."""
    prior = DurationPrior()
    scout = PollPlanner(0.0, prior=prior, rng=random.Random(0))
    PollPlanner(0.0, prior=prior, rng=random.Random(1))  # a sibling
    task = FakeTask(20.0)
    looks = []
    while prior.expected() is None:
        t = scout.next_poll_at()
        looks.append(t)
        scout.observe(t, *task.answer(t))
    assert len(looks) <= 3 and looks[-1] - looks[-2] <= 3.0 * 1.06 and looks[-1] < 4.5
    assert prior.expected() == pytest.approx(20.0, rel=0.15)
