"""A sliding-window limiter that keeps request rates under the provider's limits.

ToAPIs counts submits and status queries per user in windows of 1 s, 10 s and 60 s
(contract §8.1). The server counts a request at some moment between our sending it and
its answer arriving, and we cannot know which, so the limiter keeps, for each request,
the latest moment the server can have counted it: the arrival of its answer (while no
answer has come, the request counts as in every window). A request goes only when no
window, counted that way, would then hold more than its count. So requests are spaced
by exactly what the windows need plus the time one answer takes, not by a fixed margin,
and a request slowed on its way (a busy connection pool, a busy server) can never crowd
the window of a later one. It uses no locks or loop-bound primitives, so one limiter can
be shared by every task of a client.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

#: (count, window seconds) for the default group
SUBMIT_LIMITS: tuple[tuple[int, float], ...] = ((5, 1.0), (50, 10.0), (300, 60.0))
QUERY_LIMITS: tuple[tuple[int, float], ...] = ((50, 1.0), (500, 10.0), (3000, 60.0))
# Added to each window: clock granularity only (the answer's arrival already bounds when
# the server counted a request).
_SLACK = 0.005


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
        self._keep = max((count for count, _ in self.limits), default=1)
        #: when the answers of past requests arrived, oldest first (the newest `_keep`)
        self._answered: list[float] = []
        #: tokens of the requests sent and not yet answered
        self._in_flight: set[int] = set()
        self._tokens = itertools.count()
        self._penalty_until = 0.0

    def delay(self) -> float:
        """How long a request must wait before every window has room for it (0: go now)."""
        now = self._clock()
        wait = self._penalty_until - now
        flying = len(self._in_flight)
        for count, window in self.limits:
            answered = len(self._answered) - bisect.bisect_right(
                self._answered, now - window - _SLACK
            )
            if flying + answered < count:
                continue
            # Unanswered requests count until their answers come: then the window frees
            # when its (count - flying)-th latest answered request leaves it; all of it
            # unanswered, a window after the first answer at the earliest.
            if flying >= count:
                need = window + _SLACK
            else:
                need = self._answered[flying - count] + window + _SLACK - now
            wait = max(wait, need)
        return max(0.0, wait)

    def penalise(self, seconds: float) -> None:
        """After a 429, hold every later request back for `seconds`."""
        self._penalty_until = max(self._penalty_until, self._clock() + seconds)

    async def acquire(self) -> int:
        """Wait until a request may go, then count it as sent now; returns the token that
        `answered` takes once its answer (or failure) arrived."""
        while (wait := self.delay()) > 0:
            await self._sleep(wait)
        token = next(self._tokens)
        self._in_flight.add(token)
        return token

    def answered(self, token: int) -> None:
        """The request of `token` is over (answered, failed or cancelled): from now on it
        counts in the windows from this moment, the latest the server can have seen it."""
        if token not in self._in_flight:
            return
        self._in_flight.remove(token)
        bisect.insort(self._answered, self._clock())
        del self._answered[: -self._keep]

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """`async with limiter.turn(): send the request` — waits for room, and counts the
        request until its answer arrived."""
        token = await self.acquire()
        try:
            yield
        finally:
            self.answered(token)


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
