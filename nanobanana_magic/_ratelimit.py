"""A sliding-window limiter that keeps request rates under the provider's limits.

ToAPIs counts submits and status queries per user in windows of 1 s, 10 s and 60 s
(contract §8.1). `SlidingWindowLimiter.acquire()` lets a request go only when no window
would then hold more than its count, and records when it went. It uses no locks or
loop-bound primitives, so one limiter can be shared by every task of a client.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

#: (count, window seconds) for the default group
SUBMIT_LIMITS: tuple[tuple[int, float], ...] = ((5, 1.0), (50, 10.0), (300, 60.0))
QUERY_LIMITS: tuple[tuple[int, float], ...] = ((50, 1.0), (500, 10.0), (3000, 60.0))
# Slack on each window absorbs clock and network jitter between us and the server: requests
# granted together reach it up to tens of milliseconds apart (new connections, busy server).
_SLACK = 0.1


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class SlidingWindowLimiter:
    def __init__(
        self,
        limits: Sequence[tuple[int, float]],
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ):
        self.limits = tuple((int(count), float(window)) for count, window in limits)
        self._clock = clock
        self._sleep = sleep
        self._grants: collections.deque[float] = collections.deque(
            maxlen=max((count for count, _ in self.limits), default=1)
        )
        self._penalty_until = 0.0

    def delay(self) -> float:
        """How long a request must wait before every window has room for it (0: go now)."""
        now = self._clock()
        start = max(now, self._penalty_until)
        for count, window in self.limits:
            if len(self._grants) >= count:
                start = max(start, self._grants[-count] + window + _SLACK)
        return start - now

    def penalise(self, seconds: float) -> None:
        """After a 429, hold every later request back for `seconds`."""
        self._penalty_until = max(self._penalty_until, self._clock() + seconds)

    async def acquire(self) -> None:
        """Wait until the request may go, then record it as sent now.

        Recording the moment a request really leaves (not a time booked in advance) keeps
        the windows right even when a busy event loop wakes waiters late.
        """
        while (wait := self.delay()) > 0:
            await self._sleep(wait)
        self._grants.append(self._clock())


def header_hold(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """How long to hold requests back, read from `X-RateLimit-Remaining`/`-Reset` of an
    answer: the requests still allowed, spread evenly over the time until the window
    resets (all of it when none is left), so the next ones do not run into a 429. `Reset`
    may be seconds left or the epoch second of the reset (epoch milliseconds too).
    None when the headers are missing or unreadable."""
    remaining_text = headers.get("x-ratelimit-remaining")
    reset_text = headers.get("x-ratelimit-reset")
    if remaining_text is None or reset_text is None:
        return None
    try:
        remaining, reset = int(remaining_text), float(reset_text)
    except ValueError:
        return None
    if remaining < 0 or reset < 0 or reset != reset:  # nan
        return None
    if reset > 1e12:  # epoch milliseconds
        reset /= 1000.0
    if reset > 1e9:  # an epoch second, not seconds left
        reset -= time.time() if now is None else now
    return max(0.0, reset) / (remaining + 1)


class LimiterRegistry:
    """One limiter per API host, key and kind of request, for every client that shares it.

    The provider counts requests per key, so every client of one session (a notebook's
    magic, one call of the Python API) must draw from the same windows. A registry is
    owned by that session, not by the process.
    """

    def __init__(self, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._limiters: dict[tuple[str, int, str], SlidingWindowLimiter] = {}
        self._clock = clock  # the limiters' time and waiting: seams for tests
        self._sleep = sleep

    def limiter(
        self, base_url: str, key: str, kind: str, limits: Sequence[tuple[int, float]]
    ) -> SlidingWindowLimiter:
        """The limiter of (base_url, key, kind); a new one when `limits` changed."""
        entry = (base_url, hash(key), kind)
        limiter = self._limiters.get(entry)
        if limiter is None or limiter.limits != tuple((int(c), float(w)) for c, w in limits):
            limiter = SlidingWindowLimiter(limits, self._clock, self._sleep)
            self._limiters[entry] = limiter
        return limiter
