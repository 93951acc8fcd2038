"""Sliding-window rate limiter (contract §8.1).

Each category (``async_submit``, ``async_query``) keeps a log of the moments of the requests it
admitted. A request is admitted when, for every configured ``(count, window)`` pair, fewer than
``count`` admitted requests lie in the last ``window`` seconds. Rejected requests are not
logged: as the contract says, a request refused with 429 does not use up allowance.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """The limiter's answer for one request.

    ``limit``/``window`` name the tightest window (the violated one that frees last, or for an
    admitted request the one with the fewest requests left); ``remaining`` is what is left in it
    after this request; ``retry_after`` is the seconds until a rejected request would fit.
    """

    allowed: bool
    limit: int
    window: float
    remaining: int
    retry_after: float = 0.0

    @property
    def reset_seconds(self) -> int:
        """``retry_after`` rounded up to whole seconds, at least 1 when rejected."""
        if not self.allowed:
            return max(1, math.ceil(self.retry_after))
        return math.ceil(self.window)


class SlidingWindowLimiter:
    """A log of admitted request times checked against several windows at once. Not thread-safe
    on its own; the simulator calls it under its lock."""

    def __init__(self) -> None:
        self._log: list[float] = []

    def hit(self, now: float, limits: tuple[tuple[int, float], ...]) -> Verdict:
        """Check one request at ``now`` against ``limits`` and log it if admitted."""
        if not limits:
            return Verdict(True, 0, 0.0, 0)
        longest = max(window for _, window in limits)
        del self._log[: bisect.bisect_right(self._log, now - longest)]

        worst: Verdict | None = None
        tightest: Verdict | None = None
        for count, window in limits:
            in_window = len(self._log) - bisect.bisect_right(self._log, now - window)
            if in_window >= count:
                # The entry that must leave the window before one more request fits.
                blocking = self._log[len(self._log) - count]
                wait = max(0.0, blocking + window - now)
                if worst is None or wait > worst.retry_after:
                    worst = Verdict(False, count, window, 0, wait)
            else:
                left = count - in_window - 1
                if tightest is None or left < tightest.remaining:
                    tightest = Verdict(True, count, window, left)
        if worst is not None:
            return worst
        bisect.insort(self._log, now)  # insort: stays sorted even if the clock steps back
        assert tightest is not None
        return tightest

    def clear(self) -> None:
        self._log.clear()
