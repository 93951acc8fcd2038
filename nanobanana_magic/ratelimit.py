"""A sliding-window limiter that keeps request rates under the provider's limits.

ToAPIs counts submits and status queries per user in windows of 1 s, 10 s and 60 s
(contract §8.1). `SlidingWindowLimiter.acquire()` hands out start times so that no window
ever holds more than its count. Reservations are made synchronously, so one limiter can be
shared by every task of a client without locks or loop-bound primitives.
"""
from __future__ import annotations

import asyncio
import collections
import time
from typing import Sequence

#: (count, window seconds) for the default group
SUBMIT_LIMITS: tuple[tuple[int, float], ...] = ((5, 1.0), (50, 10.0), (300, 60.0))
QUERY_LIMITS: tuple[tuple[int, float], ...] = ((50, 1.0), (500, 10.0), (3000, 60.0))
# A hair of slack on each window absorbs clock and network jitter between us and the server.
_SLACK = 0.02


class SlidingWindowLimiter:
    def __init__(self, limits: Sequence[tuple[int, float]], clock=time.monotonic):
        self.limits = tuple((int(count), float(window)) for count, window in limits)
        self._clock = clock
        self._grants: collections.deque[float] = collections.deque(
            maxlen=max((count for count, _ in self.limits), default=1))
        self._penalty_until = 0.0

    def reserve(self) -> float:
        """Book the earliest allowed start time and return how long to wait for it."""
        now = self._clock()
        start = max(now, self._penalty_until)
        for count, window in self.limits:
            if len(self._grants) >= count:
                start = max(start, self._grants[-count] + window + _SLACK)
        self._grants.append(start)
        return start - now

    def penalise(self, seconds: float) -> None:
        """After a 429, hold every later request back for `seconds`."""
        self._penalty_until = max(self._penalty_until, self._clock() + seconds)

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
