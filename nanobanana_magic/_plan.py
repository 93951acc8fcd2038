"""What a batch would do, worked out once before anything is sent: the plan.

`plan_batch(engine, requests)` checks the cache for every request and prices the rest.
The plan serves every front end: dry runs (its payloads and one sentence), the panel's
estimate, sweeps (`SweepPlan` extends it with axes) and the budget guard. Nothing in
it sends anything or spends anything.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._pricing import format_usd, price_per_image
from ._wording import plural

if TYPE_CHECKING:
    from ._engine import Engine
    from ._request import ImageRequest


@dataclasses.dataclass
class BatchPlan:
    """Requests (in order, with a label each), which the cache already holds (their
    positions in `hits`), and what the others cost at `prices`."""

    requests: list[ImageRequest]
    labels: list[str]
    hits: set[int]
    prices: Mapping[str, float] | None = None
    engine: Engine | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def to_send(self) -> list[ImageRequest]:
        """The requests the cache does not hold: what would be sent and paid for."""
        return [r for i, r in enumerate(self.requests) if i not in self.hits]

    @property
    def images(self) -> int:
        """Images that will be paid for (cached requests excluded)."""
        return sum(request.n for request in self.to_send)

    def images_by_resolution(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for request in self.to_send:
            counts[request.resolution] += request.n
        return dict(counts)

    @property
    def estimate(self) -> float:
        """Estimated dollars for what is not cached."""
        return sum(
            count * price_per_image(resolution, self.prices)
            for resolution, count in self.images_by_resolution().items()
        )

    def over_budget(self, budget: float | None) -> bool:
        return budget is not None and self.estimate > budget + 1e-9

    def payloads(self) -> list[dict[str, Any]]:
        """The JSON bodies that would be sent (a local reference shown as its upload)."""
        assert self.engine is not None, "plans come from plan_batch"
        return [self.engine.preview_payload(request) for request in self.to_send]

    def kind(self) -> str:
        """What the batch is, in words ("1 task", "3 tasks")."""
        return plural(len(self.requests), "task")

    def estimate_line(self) -> str:
        """The panel's line, e.g. 'Estimate: 1 task, 2 new images, $0.050; 1 cached (free).'"""
        cached = f"; {len(self.hits)} cached (free)" if self.hits else ""
        return (
            f"Estimate: {self.kind()}, {plural(self.images, 'new image')}, "
            f"{format_usd(self.estimate)}{cached}."
        )

    def dry_run_text(self) -> str:
        """The dry run's sentence: how many requests would go where, and what they cost."""
        assert self.engine is not None, "plans come from plan_batch"
        if self.requests and not self.to_send:
            held = (
                "this request" if len(self.requests) == 1 else f"all {len(self.requests)} requests"
            )
            return (
                f"Dry run: the cache already holds {held}, so nothing would be sent "
                "and nothing spent."
            )
        return (
            f"Dry run: {plural(len(self.to_send), 'request')} to POST {self.engine.base_url}"
            f"/v1/images/generations, estimated {format_usd(self.estimate)}"
            + (f"; {len(self.hits)} cached (free)" if self.hits else "")
            + ". Nothing was sent."
        )


def cache_hits(engine: Engine, requests: Sequence[ImageRequest], cache: bool = True) -> set[int]:
    """Positions of the requests whose images the engine's store already holds."""
    if not cache:
        return set()
    return {
        i
        for i, request in enumerate(requests)
        if engine.store.cached_run(engine.cache_key(request)) is not None
    }


def plan_batch(
    engine: Engine,
    requests: Sequence[ImageRequest],
    labels: Sequence[str] | None = None,
    *,
    cache: bool = True,
    prices: Mapping[str, float] | None = None,
) -> BatchPlan:
    """The plan of running `requests` on `engine` (prices: the engine's unless given)."""
    requests = list(requests)
    return BatchPlan(
        requests,
        list(labels) if labels is not None else [r.summary() for r in requests],
        cache_hits(engine, requests, cache),
        prices if prices is not None else getattr(engine, "prices", None),
        engine,
    )
