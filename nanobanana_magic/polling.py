"""When to ask about a task next: progress-aware polling.

Each status answer says something about the task's timeline. We model progress as
linear in time, `f(t) = (t - s) / D`, with unknown start `s` and duration `D`. Every
answer becomes linear constraints on `(s, D)`:

* progress reported as `p` with reporting granularity `g` means `p/100 <= f(t) < (p+g)/100`;
* "queued" at `t` means the task had not started: `s >= t`;
* "not completed" at `t` means `s + D > t`.

The predicted completion time `s + D` is then a window `[lo, hi]`: its smallest and
largest values over the polygon of models consistent with everything seen (a two-variable
linear programme, solved by visiting the polygon's corners). We poll just after `hi`
when the window is narrow, take a refining sample when it is wide and progress is fine,
and fall back to a gentle backoff when progress is absent or the model stops fitting.

The contract's guidance bounds the cadence: never more often than every 0.25 s per task,
never more than 10 s apart.
"""
from __future__ import annotations

import itertools
import math
import random

MIN_INTERVAL = 0.25
MAX_INTERVAL = 10.0
_FINAL_MARGIN = 0.03     # poll this long after the latest predicted completion
_NARROW = 0.25           # a window this narrow is polled once, just after its end
_MAX_DURATION = 3600.0
_START_SLACK = 0.5       # soft assumption: an unqueued task starts within this of submit
_COARSE_LEVELS = (0, 50, 100)
_STEPPED_LEVELS = (0, 25, 50, 75, 100)


class PollPlanner:
    """Plans the polls of one task. Times are seconds on one monotonic clock."""

    def __init__(self, submitted_at: float, *, min_interval: float = MIN_INTERVAL,
                 max_interval: float = MAX_INTERVAL, first_delay: float = 1.0,
                 expected_duration: float | None = None, jitter: float = 0.05,
                 rng: random.Random | None = None):
        self.submitted_at = submitted_at
        self.min_interval = min_interval
        self.max_interval = max(max_interval, min_interval)
        self.first_delay = first_delay
        self.expected_duration = expected_duration
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._observations: list[tuple[float, str, int | None]] = []
        self._last_poll = submitted_at
        self._misses = 0  # polls made after the predicted end that found the task unfinished

    # -- input --------------------------------------------------------------------------
    def observe(self, t: float, status: str, progress: int | None) -> None:
        """Record one status answer received at time t (only non-final answers matter)."""
        window = self.window()
        if window is not None and t > window[1]:
            self._misses += 1
        self._observations.append((t, status, progress))
        self._last_poll = t

    # -- the model --------------------------------------------------------------------------
    def _granularity(self) -> int | None:
        seen = {p for _, _, p in self._observations if p}
        if not seen:
            return None
        if seen <= set(_COARSE_LEVELS):
            return 50
        if seen <= set(_STEPPED_LEVELS):
            return 25
        return 1

    def _constraints(self, soft: bool) -> list[tuple[float, float, float]]:
        """Half-planes a*s + b*D <= c describing every model consistent with what we saw."""
        g = self._granularity()
        rows = [(0.0, -1.0, -0.05), (0.0, 1.0, _MAX_DURATION)]
        last_queued = self.submitted_at
        first_running = None
        for t, status, p in self._observations:
            if status in ("queued", "pending", "submitted"):
                last_queued = max(last_queued, t)
                continue
            if first_running is None:
                first_running = t
            if p is None:
                continue
            if p > 0:
                rows.append((1.0, p / 100.0, t))          # t - s >= (p/100) D
            upper = p + g if g is not None else None
            if upper is not None and upper <= 100:
                rows.append((-1.0, -upper / 100.0, -t))   # t - s < ((p+g)/100) D
        if self._observations:                            # not completed at the last poll
            rows.append((-1.0, -1.0, -self._observations[-1][0]))
        rows.append((-1.0, 0.0, -last_queued))            # s >= last time seen queued
        if first_running is not None:
            rows.append((1.0, 0.0, first_running))        # s <= first time seen running
        if soft and first_running is not None:
            rows.append((1.0, 0.0, last_queued + _START_SLACK))
        return rows

    def window(self) -> tuple[float, float] | None:
        """Earliest and latest completion times consistent with the observations so far."""
        for soft in (True, False):
            corners = _corners(self._constraints(soft))
            if corners:
                ends = [s + d for s, d in corners]
                lo, hi = min(ends), max(ends)
                if hi >= self.submitted_at + _MAX_DURATION * 0.99:
                    return None  # unbounded: the observations do not pin the end down
                return lo, hi
        return None

    # -- output ---------------------------------------------------------------------------------
    def next_poll_at(self) -> float:
        """The time of the next poll (absolute), within the contract's cadence bounds."""
        last = self._last_poll
        target = self._target(last)
        return min(max(target, last + self.min_interval), last + self.max_interval)

    def _target(self, last: float) -> float:
        if not self._observations:
            if self.expected_duration:
                return self.submitted_at + max(self.first_delay, 0.45 * self.expected_duration)
            return self.submitted_at + self.first_delay
        window = None if self._misses >= 2 else self.window()
        if window is None:
            return last + self._backoff(last)
        lo, hi = window
        if hi - lo <= _NARROW:
            return hi + _FINAL_MARGIN
        if self._granularity() == 1 and lo - last > 1.0:
            return last + 0.6 * (lo - last)  # a refining sample narrows the window
        step = max(_NARROW, (hi - lo) / 3.0)
        return min(hi, max(lo, last) + step) + _FINAL_MARGIN

    def _backoff(self, last: float) -> float:
        """Without a usable model: grow the interval with the task's age, with jitter."""
        age = last - self.submitted_at
        base = 0.35 * age if self._misses < 2 else MIN_INTERVAL * 1.6 ** min(self._misses, 12)
        if self.expected_duration and age < self.expected_duration and self._misses < 2:
            base = min(base, max(0.5, 0.25 * self.expected_duration))
        interval = min(max(base, 0.5), self.max_interval)
        return interval * (1 + self._rng.uniform(-self.jitter, self.jitter))


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
