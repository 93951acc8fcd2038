"""When to ask about a task next: progress-aware polling.

Each status answer says something about the task's timeline. We model progress as
linear in time, `f(t) = (t - s) / D`, with unknown start `s` and duration `D`. Every
answer becomes linear constraints on `(s, D)`:

* progress reported as `p` with reporting granularity `g` means `p/100 <= f(t) < (p+g)/100`;
* "queued" at `t` means the task had not started: `s >= t`;
* "not completed" at `t` means `s + D > t`.

Some assumptions are only likely, so they are *soft*: dropped, weakest last, when they
contradict what the server said. They are: a task never seen queued started soon after
the submit; its duration lies in the range its `DurationPrior` gives (running times of
earlier tasks of the same backend, model and resolution: from the output folder, so a new
kernel starts warm, and from siblings of the same batch as they finish, so the first to
finish informs the rest); and a running task still showing 0 % is less than half done
(true whether progress is fine or coarse, and dropped for a backend known to report none).

The predicted completion time `s + D` is then a window `[lo, hi]`: its smallest and
largest values over the polygon of models consistent with everything seen (a two-variable
linear programme, solved by visiting the polygon's corners). The next poll:

* a narrow window is polled once, just after its end;
* with fine progress, the finish is extrapolated from the progress rate; a poll just
  before the window says which step (D/100) holds the end, and one timed so that a step
  boundary falls mid-window halves it, early enough that the final poll is never held back
  by the minimum interval (`_fine_target`); the first sample of a task comes as late as the
  shortest likely task allows, since the later it comes, the better it tells the rate;
* with coarse progress (0 → 50 → 100), a poll at the moment that would split the window
  in two (seeing 50 at `t` means the end is before `2t - s`, seeing 0 means after), when
  walking two halves is cheaper than walking the whole;
* without progress (or past its last step), a walk through the window that weighs each
  query as some seconds of lateness: for a uniformly likely end, each interval that much
  shorter than the one before (`_uniform_walk`). The price is the one at which a fixed
  poller at the blind cadence would be the best fixed poller for a task this long
  (`_query_cost`): long tasks get more, cheaper looks, short ones fewer;
* without a usable model (nothing learned yet, or a model that keeps missing), a batch
  keeps watch together: its first task (the scout) is polled after `first_delay` and then
  at a fixed-interval poller's cadence (`_KNOWN_NOTHING_INTERVAL`), the others a little
  slower with their phases spread, and the first task seen done teaches the rest at once
  (`DurationPrior.subscribe` wakes their waits); a scout that sees whole percents looks
  again within that interval to pin the rate down and tell its siblings. A lone task that
  knows nothing is polled like a fixed-interval poller after one early look, with jitter.

The contract's guidance bounds the cadence: never more often than every 0.25 s per task,
never more than 10 s apart; only the first look at a task of a kind known to run longer
waits until the shortest such task could end, and at most 20 s (`_longest_wait`).
"""

from __future__ import annotations

import collections
import itertools
import math
import random
import statistics
from collections.abc import Callable, Iterable

from ._defaults import DEFAULT_MAX_POLL_INTERVAL

MIN_INTERVAL = 0.25
MAX_INTERVAL = DEFAULT_MAX_POLL_INTERVAL
_FINAL_MARGIN = 0.01  # poll this long after the latest predicted completion
_MAX_DURATION = 3600.0
_START_SLACK = 0.5  # soft: a task that left the queue started within this of it
_PRIOR_RANGE = (0.6, 1.5)  # soft: duration within these multiples of the expected one ...
_PRIOR_SAMPLES = 4  # ... until this many are known; then the range the samples span
_PRIOR_KEEP = 50  # samples a prior keeps (the most recent)
_KNOWN_NOTHING_INTERVAL = 3.0  # cadence, knowing nothing, of a plain fixed-interval poller
_SIBLING_INTERVAL = 4.5  # ... and of a batch's other tasks, which the first to finish informs
_AGE_SHARE = 0.1  # ... or, for an old task, this share of its age
_GOLDEN = (math.sqrt(5) - 1) / 2
_MAX_STEP = 2.5  # evenly spaced polls in a wide window are never further apart
_MAX_ZEROS_TRUSTED = 2  # after this many running 0 % answers, drop the "under half" rule
_FIRST_WAIT_CAP = 2.0  # a first look at a kind known to run long waits <= this many max intervals
_FIRST_SAMPLE_LEAD = 0.5  # fine progress: the first sample this long before the shortest task ends
_RATE_KNOWN = 0.25  # a window narrower than this share of the task's length pins its rate
_SPLITTABLE = 2.5  # fine progress: a window this many steps wide is split, a wider one probed
_COARSE_LEVELS = (0, 50, 100)
_STEPPED_LEVELS = (0, 25, 50, 75, 100)
# How late a final poll may land with progress in whole percents or quarters: an absolute
# floor and a share of the task's predicted length; narrower windows get one poll at their
# end. Without progress, or past coarse progress's 50 %, the walk's price of a query
# decides instead (`_walk`).
_LATENESS = {1: (0.22, 0.0075), 25: (0.6, 0.04)}


class DurationPrior:
    """What is known about how long tasks of one kind run (queueing excluded).

    One prior is shared by every planner polling tasks of the same backend, model and
    resolution. It starts from `samples` learned earlier (the engine reads them from the
    output folder, so a new kernel starts warm) and reports each new one to `on_learn`
    (the engine appends it there). Within a batch, siblings inform each other: the first
    to finish are the shortest of the batch (the others are still running), so their times
    are read as the lowest order statistics of `siblings` draws rather than as a sample.
    It also remembers whether such tasks reported progress at all (`reports_progress`) and
    in what steps (`progress_step`: 1 for whole percents, 25 or 50), so that a task whose
    first answers happen to be 50 % is not taken for one reporting only 0/50/100.
    """

    def __init__(
        self,
        samples: Iterable[float] = (),
        *,
        reports_progress: bool | None = None,
        progress_step: int | None = None,
        on_learn: Callable[[float, bool | None, int | None], None] | None = None,
    ):
        self._history: collections.deque[float] = collections.deque(maxlen=_PRIOR_KEEP)
        self._history.extend(x for x in samples if 0 < x < _MAX_DURATION)
        self._batch: list[float] = []  # finished siblings of the batch under way
        self.siblings = 0  # tasks of the batch under way
        self.reports_progress = reports_progress
        self.progress_step = progress_step
        self.on_learn = on_learn
        self._listeners: set[Callable[[], None]] = set()
        self._provisional: float | None = None  # a running sibling's predicted length

    def __len__(self) -> int:
        return len(self._history) + len(self._batch)

    def __repr__(self) -> str:
        return f"DurationPrior({len(self)} samples, range={self.range()})"

    @property
    def samples(self) -> list[float]:
        """Every running time known, earlier ones first."""
        return [*self._history, *self._batch]

    def new_batch(self) -> None:
        """A new batch starts: the finished siblings of the last one become history."""
        self._history.extend(self._batch)
        self._batch = []
        self._provisional = None
        self.siblings = 0

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever a running time is learned (a waiting sibling plans
        again at once); returns the function that unsubscribes it."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def add_sibling(self) -> None:
        """One more task of the batch under way is being polled."""
        self.siblings += 1

    def learn(
        self, seconds: float, reported_progress: bool | None, step: int | None = None
    ) -> None:
        """A task like this ran `seconds`; it did (or did not) report progress, in steps
        of `step` percent, as far as it could tell (None: too few answers to tell)."""
        if not 0 < seconds < _MAX_DURATION:
            return
        self._batch.append(seconds)
        if reported_progress is not None:
            self.reports_progress = reported_progress
        if step is not None and (self.progress_step is None or step < self.progress_step):
            self.progress_step = step
        if self.on_learn is not None:
            self.on_learn(seconds, self.reports_progress, step)
        for listener in list(self._listeners):
            listener()

    def suggest(self, seconds: float, step: int) -> None:
        """A running sibling's progress (in steps of `step` percent) predicts it runs about
        `seconds`: while nothing is known yet, its siblings take that as their expectation
        (a first sample about halfway, and so a time left to show) rather than keep
        watching blind; told once a batch, and the waiting siblings plan again."""
        if len(self) or self._provisional is not None or not 0 < seconds < _MAX_DURATION:
            return
        self._provisional = seconds
        if self.reports_progress is None:
            self.reports_progress = True
        if self.progress_step is None:
            self.progress_step = step
        for listener in list(self._listeners):
            listener()

    def expected(self) -> float | None:
        known = self._history or self._batch
        return statistics.median(known) if known else self._provisional

    def range(self) -> tuple[float, float] | None:
        """Shortest and longest likely running time, or None when nothing is known."""
        low, high = _PRIOR_RANGE
        if len(self._history) >= _PRIOR_SAMPLES:  # the span of whole batches, widened
            ordered = sorted(self._history)
            median = statistics.median(ordered)
            pad = (ordered[-1] - ordered[0]) / (len(ordered) - 1) + 0.05 * median
            hist = (max(low * median, ordered[0] - pad), min(high * median, ordered[-1] + pad))
            if not self._batch:
                return hist
            return min(hist[0], min(self._batch)), max(hist[1], max(self._batch))
        if self._batch:
            return self._batch_range()
        known = statistics.median(self._history) if self._history else self._provisional
        return (low * known, high * known) if known is not None else None

    def _batch_range(self) -> tuple[float, float]:
        """From the k shortest of n siblings: for n draws spread evenly over [a, b], the
        i-th shortest lies near a + i (b - a) / (n + 1)."""
        ordered = sorted(self._batch)
        k, n = len(ordered), max(self.siblings, len(ordered))
        if k == 1 or ordered[-1] - ordered[0] < 1e-6:
            first = ordered[0]
            return first * 0.9, first * _PRIOR_RANGE[1]
        step = (ordered[-1] - ordered[0]) / (k - 1)
        a = max(0.0, ordered[0] - step)
        b = a + step * (n + 1)
        high = max(b + step, ordered[-1] + step)
        if k < _PRIOR_SAMPLES:  # too few to tell a narrow spread from a lucky one
            high = max(high, ordered[0] * _PRIOR_RANGE[1])
        return min(a, ordered[0] * 0.9), high


class PollPlanner:
    """Plans the polls of one task. Times are seconds on one monotonic clock."""

    def __init__(
        self,
        submitted_at: float,
        *,
        min_interval: float = MIN_INTERVAL,
        max_interval: float = MAX_INTERVAL,
        first_delay: float = 0.5,
        expected_duration: float | None = None,
        prior: DurationPrior | None = None,
        jitter: float = 0.05,
        rng: random.Random | None = None,
    ):
        """`prior` (shared, updated live) or a fixed `expected_duration` say how long such
        tasks run; with neither, the planner starts knowing nothing."""
        self.submitted_at = submitted_at
        if prior is None and expected_duration:
            prior = DurationPrior([expected_duration])
        self.prior = prior
        # the order of this task among its siblings (0: the first, the batch's scout)
        self.rank = prior.siblings if prior is not None else 0
        if prior is not None:
            prior.add_sibling()
        self.min_interval = min_interval
        self.max_interval = max(max_interval, min_interval)
        self.first_delay = first_delay
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._observations: list[tuple[float, str, int | None]] = []
        self._last_poll = submitted_at
        self._misses = 0  # answers that contradicted the model (unfinished past its end)
        # (what it was solved for, the model's corners)
        self._solved: (
            tuple[tuple[int, int, tuple[float, float] | None], list[tuple[float, float]]] | None
        ) = None
        self._had_model = False

    @property
    def expected_duration(self) -> float | None:
        return self.prior.expected() if self.prior is not None else None

    def _prior_range(self) -> tuple[float, float] | None:
        return self.prior.range() if self.prior is not None else None

    def _progress_absent(self) -> bool:
        """Tasks like this are known to report no progress (0 until done)."""
        return self.prior is not None and self.prior.reports_progress is False

    def reported_progress(self) -> bool | None:
        """Whether this task reported progress (None: never seen running, cannot tell)."""
        if any(p for _, _, p in self._observations):
            return True
        if any(status == "running" for _, status, _ in self._observations):
            return False
        return None

    # -- input --------------------------------------------------------------------------
    def observe(self, t: float, status: str, progress: int | None) -> None:
        """Record one non-final status answer received at time t. `status` is "queued" or
        "running", as `_answers.task_state` names the server's many status words."""
        window = self.window()
        if (window is not None and t > window[1]) or (window is None and self._had_model):
            self._misses += 1  # past the predicted end, or the answers stopped fitting
        self._had_model = self._had_model or window is not None
        self._observations.append((t, status, progress))
        self._last_poll = t
        if progress and self.prior is not None and not len(self.prior):
            self._suggest_length()

    def _suggest_length(self) -> None:
        """Whole percents soon predict the task's length: once within a quarter of it,
        tell the siblings (`DurationPrior.suggest`)."""
        window = self.window()
        if self._granularity() != 1 or window is None or self.prior is None:
            return
        length = statistics.fmean(d for _, d in self._model())
        if window[1] - window[0] <= 0.25 * length:
            self.prior.suggest(length, 1)

    # -- the model --------------------------------------------------------------------------
    def _granularity(self) -> int | None:
        seen = {p for _, _, p in self._observations if p}
        if not seen:
            return None
        known = self.prior.progress_step if self.prior is not None else None
        if seen <= set(_COARSE_LEVELS):
            return min(50, known or 50)
        if seen <= set(_STEPPED_LEVELS):
            return min(25, known or 25)
        return 1

    def progress_step(self) -> int | None:
        """The steps in which this task reported progress, as far as its answers tell."""
        return self._granularity()

    def _constraints(self, soft: int) -> list[tuple[float, float, float]]:
        """Half-planes a*s + b*D <= c describing every model consistent with what we saw.

        `soft` counts how many soft assumptions to add (0 to 3, strongest kept longest):
        prompt start after the queue, the prior duration, the "0 % means under half
        done" rule (wrong only when a server reports no progress at all).
        """
        g = self._granularity()
        # A task that stays at 0 % for many polls may report no progress at all.
        zeros = sum(1 for _, status, p in self._observations if p == 0 and status != "queued")
        half_rule = (
            g is None and soft >= 3 and zeros <= _MAX_ZEROS_TRUSTED and not self._progress_absent()
        )
        rows = [(0.0, -1.0, -0.05), (0.0, 1.0, _MAX_DURATION)]
        last_queued = self.submitted_at
        first_running = None
        for t, status, p in self._observations:
            if status == "queued":
                last_queued = max(last_queued, t)
                continue
            if first_running is None:
                first_running = t
            if p is None:
                continue
            if p > 0:
                rows.append((1.0, p / 100.0, t))  # t - s >= (p/100) D
            upper = p + g if g is not None else (50 if p == 0 and half_rule else None)
            if upper is not None and upper <= 100:
                rows.append((-1.0, -upper / 100.0, -t))  # t - s < ((p+g)/100) D
        if self._observations:  # not completed at the last poll
            rows.append((-1.0, -1.0, -self._observations[-1][0]))
        # s >= last time seen queued; `submitted_at` may be taken when the submit answer
        # arrived, so before any queued answer the task may have started a little earlier
        if last_queued > self.submitted_at or soft >= 1:
            rows.append((-1.0, 0.0, -last_queued))
        else:
            rows.append((-1.0, 0.0, -(last_queued - _START_SLACK)))
        if first_running is not None:
            rows.append((1.0, 0.0, first_running))  # s <= first time seen running
            if soft >= 1 and last_queued == self.submitted_at:
                # never seen queued: it most likely started right after the submit (once
                # seen queued, the start can be anywhere up to the first running answer)
                rows.append((1.0, 0.0, last_queued + _START_SLACK))
        prior_range = self._prior_range() if soft >= 2 else None
        if prior_range is not None:
            rows.append((0.0, -1.0, -prior_range[0]))
            rows.append((0.0, 1.0, prior_range[1]))
        return rows

    def _model(self) -> list[tuple[float, float]]:
        """Corners (s, D) of the consistent models, keeping as many soft rules as fit.

        Solved once per observation: every question asked between two answers reuses it."""
        # re-solved when an answer arrives or a sibling teaches the prior something
        key = (len(self._observations), len(self.prior or ()), self._prior_range())
        if self._solved is not None and self._solved[0] == key:
            return self._solved[1]
        corners = self._solve()
        self._solved = (key, corners)
        return corners

    def _solve(self) -> list[tuple[float, float]]:
        for soft in (3, 2, 1, 0):
            corners = _corners(self._constraints(soft))
            if corners:
                return corners
        return []

    def running_time(self, completed_at: float) -> float | None:
        """Once the task is seen completed at `completed_at`: its estimated running time
        (queueing excluded), the figure later tasks learn their expected duration from."""
        rows = self._constraints(1) + [(1.0, 1.0, completed_at)]  # s + D <= completed_at
        corners = _corners(rows)
        if not corners:
            return None
        durations = [d for _, d in corners]
        return (min(durations) + max(durations)) / 2

    def window(self) -> tuple[float, float] | None:
        """Earliest and latest completion times consistent with the observations so far."""
        corners = self._model()
        if not corners:
            return None
        ends = [s + d for s, d in corners]
        lo, hi = min(ends), max(ends)
        if hi >= self.submitted_at + _MAX_DURATION * 0.99:
            return None  # unbounded: the observations do not pin the end down
        return lo, hi

    # -- output ---------------------------------------------------------------------------------
    def next_poll_at(self) -> float:
        """The time of the next poll (absolute), within the contract's cadence bounds."""
        last = self._last_poll
        target = self._target(last)
        return min(max(target, last + self.min_interval), last + self._longest_wait())

    def _longest_wait(self) -> float:
        """At most `max_interval` between polls; but a first look before the shortest task
        of this kind could end can only say "not yet", so it may wait until then (a step
        of a walk after it), though never more than twice as long: a task that fails at
        once is still seen failed soon."""
        known = self._prior_range() if not self._observations else None
        if known is None:
            return self.max_interval
        return min(
            max(self.max_interval, known[0] + _MAX_STEP), _FIRST_WAIT_CAP * self.max_interval
        )

    def _target(self, last: float) -> float:
        if not self._observations:
            expected, prior_range = self.expected_duration, self._prior_range()
            if expected and prior_range and self._progress_absent():
                # nothing to sample before the end: the first poll is the first step of
                # the walk through the window (a poll at its opening could only say "not yet")
                lo = self.submitted_at + prior_range[0]
                hi = self.submitted_at + prior_range[1] + _START_SLACK
                return self._walk(lo, lo, hi)
            whole_percents = self.prior is not None and self.prior.progress_step == 1
            if expected and prior_range and whole_percents:
                # the later the first sample, the better it tells the rate: as late as the
                # shortest likely task allows (within `_longest_wait`)
                first = prior_range[0] - _FIRST_SAMPLE_LEAD
                return self.submitted_at + max(0.45 * expected, first)
            if expected:  # a first sample about halfway
                return self.submitted_at + 0.45 * expected
            return self.submitted_at + self._cold_first_delay()
        window = None if self._misses >= 2 else self.window()
        if window is None:
            return last + self._backoff(last)
        lo, hi = window
        granularity = self._granularity()
        if granularity in _LATENESS:
            floor, share = _LATENESS[granularity]
            lateness = max(floor, share * (hi - self.submitted_at))
            if granularity == 1:
                return self._fine_target(last, lo, hi, lateness)
            if hi - lo <= lateness:
                return hi + _FINAL_MARGIN
        sample = self._refining_sample(last, lo, hi)
        if sample is not None:
            return sample
        return self._walk(last, lo, hi)

    def _walk(self, last: float, lo: float, hi: float) -> float:
        """The next poll of a walk through the window [lo, hi] (polled up to `last`).

        With stepped progress, evenly spaced polls far enough apart that the final one
        lands at most the granularity's lateness after the completion. Without (or past
        coarse progress's last step) nothing more will be learned before the end, which is
        about equally likely anywhere in what is left of the window: the walk then
        minimises the expected lateness plus the price of the expected queries
        (`_query_cost`), which for a uniform end makes each interval that price shorter
        than the one before (`_uniform_walk`); a narrow window gets a single poll at its
        end that way."""
        start = max(lo, last)
        width = hi - start
        granularity = self._granularity()
        if granularity in (None, 50):
            cost = self._query_cost((lo + hi) / 2)
            step, _cost = _uniform_walk(width, cost, self.min_interval, _MAX_STEP)
            return start + step + (_FINAL_MARGIN if step >= width else 0.0)
        floor, share = _LATENESS[granularity]
        step = min(max(floor, share * (hi - self.submitted_at)), _MAX_STEP)
        steps = max(1, math.ceil(width / step - 1e-9))
        return start + width / steps + _FINAL_MARGIN

    def _fine_target(self, last: float, lo: float, hi: float, lateness: float) -> float:
        """Fine progress: each poll says in which step of `D / 100` the end lies.

        With progress `f(t) = (t - s) / D` reported in whole percent, a poll at `t` puts the
        end in one step of the grid of steps ending at `t + k D / 100`. While the window is
        several steps wide, a poll a little before it opens tells which step (early enough to
        split that step afterwards); once it is a step or two wide, a poll timed so that a
        step boundary falls at its middle halves it, early enough that the final poll after
        either answer is not held back by the minimum interval. Once the window is within
        the allowed lateness (a split costs a query and gains a quarter of the window), a
        final poll at its end."""
        final = hi + _FINAL_MARGIN
        if hi - lo <= lateness:
            return final
        step = statistics.fmean(d for _, d in self._model()) / 100
        earliest = last + self.min_interval
        if step <= 0 or earliest > final - self.min_interval:
            return final  # no room for a sample before the final poll
        middle = (lo + hi) / 2
        lead = self.min_interval - _FINAL_MARGIN  # a split must leave the final poll room
        if hi - lo <= _SPLITTABLE * step:
            latest = middle - lead
        else:
            latest = lo - lead - self.min_interval
            if self.expected_duration is None and hi - lo > _RATE_KNOWN * (hi - self.submitted_at):
                # the rate is barely known (early looks only), nor how long such tasks run:
                # look again within a fixed poller's interval, which pins the rate down
                # (and lets the siblings plan: `_suggest_length`)
                latest = min(latest, last + self._blind_interval(last - self.submitted_at))
        sample = middle - math.ceil((middle - latest) / step - 1e-9) * step
        if sample < earliest:  # too soon: the first such moment after it
            sample += math.ceil((earliest - sample) / step - 1e-9) * step
        return min(sample, final - self.min_interval)

    def _refining_sample(self, last: float, lo: float, hi: float) -> float | None:
        """A poll before the window that would narrow it, or None if none helps."""
        if lo - last <= self.min_interval or self._progress_absent():
            return None
        if self._observations[-1][2]:  # coarse progress already past 0: no more to learn
            return None
        # Not yet at 50 %: seeing 50 at t puts the end before 2t - s, seeing 0 after it.
        starts = [s for s, _ in self._model()]
        start = (min(starts) + max(starts)) / 2
        split = ((lo + hi) / 2 + start) / 2
        if not last + self.min_interval < split < lo:
            return None
        # worth a query only if walking two half windows is cheaper than the whole one
        cost = self._query_cost((lo + hi) / 2)
        whole = self._walk_cost(hi - lo, cost)
        return split if cost + self._walk_cost((hi - lo) / 2, cost) < whole else None

    def _walk_cost(self, width: float, cost: float) -> float:
        return _uniform_walk(width, cost, self.min_interval, _MAX_STEP)[1]

    def _query_cost(self, end: float) -> float:
        """Seconds of lateness one status query is worth, for a task predicted to end at
        `end`: the price at which a fixed poller at the blind cadence `h` would be the best
        fixed cadence for a task this long (lateness h/2 and length/h queries: best h is
        sqrt(2 × cost × length)), so no trade made here is worse than that poller's."""
        length = max(end - self.submitted_at, 1.0)
        return _KNOWN_NOTHING_INTERVAL**2 / (2 * length)

    def _cold_first_delay(self) -> float:
        """Knowing nothing, a batch keeps watch together: its first task (the scout) is
        polled early and then like a fixed-interval poller, so that a short batch is seen
        done soon and a lone task fares no worse than with such a poller. Any task seen
        done teaches its siblings at once (`DurationPrior.learn` wakes their waits), so the
        others look less often (`_SIBLING_INTERVAL`), their phases spread over one interval
        by a golden-ratio sequence (even whatever the batch size)."""
        if self.rank == 0:
            return self.first_delay
        return self._blind_interval() * (1.0 + (self.rank * _GOLDEN) % 1.0)

    def _blind_interval(self, age: float = 0.0) -> float:
        """The cadence knowing nothing: a fixed poller's (a batch's other tasks a little
        slower), and for a task already old, a tenth of its age (lateness within about
        5 % of its running time; the contract's 10 s cap still applies)."""
        cadence = _KNOWN_NOTHING_INTERVAL if self.rank == 0 else _SIBLING_INTERVAL
        return max(cadence, _AGE_SHARE * age)

    def _backoff(self, last: float) -> float:
        """Without a usable model: grow the interval with the task's age, with jitter."""
        age = last - self.submitted_at
        if self._misses >= 2:
            base = MIN_INTERVAL * 1.6 ** min(self._misses, 12)
        else:
            base = self._blind_interval(age)
            never_running = all(status == "queued" for _, status, _ in self._observations)
            if self.expected_duration and (age < self.expected_duration or never_running):
                # a queued task may start any moment: sample often enough to see it run
                base = min(base, max(0.5, 0.25 * self.expected_duration))
        interval = min(max(base, 0.5), self.max_interval)
        return interval * (1 + self._rng.uniform(-self.jitter, self.jitter))


def _uniform_walk(
    width: float, cost: float, shortest: float, longest: float
) -> tuple[float, float]:
    """The best walk through a window `width` long in which the end is uniformly likely,
    a query costing `cost` seconds of lateness: (its first interval, its expected cost).

    With poll times x_1 < ... < x_n = W, the expected lateness is sum(h_i^2) / 2W and the
    expected number of queries sum(W - x_(i-1)) / W; setting the derivatives to zero gives
    h_(i+1) = h_i - cost, so h_1 = W/n + cost (n-1)/2 for n polls (the last no shorter
    than `shortest`); the cheapest n wins (the cost is convex in n). The first interval
    is capped at `longest`: planned again after each poll, a wide window is walked at
    that cap until what is left is narrow enough to walk with shrinking intervals."""
    if width <= shortest:
        return max(width, 0.0), cost + max(width, 0.0) / 2
    best = (width, cost + width / 2)  # n = 1: one poll at the end
    for n in itertools.count(2):
        first = width / n + cost * (n - 1) / 2
        if first - cost * (n - 1) < shortest:
            break
        ks, squares = n * (n - 1) / 2, (n - 1) * n * (2 * n - 1) / 6
        sum_h2 = n * first * first - 2 * cost * first * ks + cost * cost * squares
        sum_x = first * ks - cost * (n - 2) * (n - 1) * n / 6
        total = sum_h2 / (2 * width) + cost * (n - sum_x / width)
        if total >= best[1]:
            break
        best = (first, total)
    return min(best[0], longest), best[1]


def _corners(rows: list[tuple[float, float, float]]) -> list[tuple[float, float]]:
    """Vertices of the polygon {x : a.x <= c for every row} (empty if infeasible)."""
    corners = []
    tolerance = 1e-9
    for (a1, b1, c1), (a2, b2, c2) in itertools.combinations(rows, 2):
        det = a1 * b2 - a2 * b1
        if abs(det) < 1e-12:
            continue
        s = (c1 * b2 - c2 * b1) / det
        d = (a1 * c2 - a2 * c1) / det
        if not (math.isfinite(s) and math.isfinite(d)):
            continue
        if all(a * s + b * d <= c + tolerance * max(1.0, abs(c)) for a, b, c in rows):
            corners.append((s, d))
    return corners
