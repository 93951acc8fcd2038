"""Prices per image by resolution and the cost of a plan, told before anything is spent.

Today's ToAPIs listing (contract §9): $0.025 / $0.030 / $0.040 per 1K / 2K / 4K image.
No 0.5K price is published; we assume the 1K price, so estimates err on the high side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

DEFAULT_PRICES: dict[str, float] = {"0.5K": 0.025, "1K": 0.025, "2K": 0.030, "4K": 0.040}


def price_per_image(resolution: str, prices: Mapping[str, float] | None = None) -> float:
    table = prices or DEFAULT_PRICES
    return float(table.get(resolution, max(table.values())))


class _Priced(Protocol):
    """What a price depends on: how many images, at which resolution (an ImageRequest)."""

    @property
    def n(self) -> int: ...

    @property
    def resolution(self) -> str: ...


def estimate_cost(requests: Iterable[_Priced], prices: Mapping[str, float] | None = None) -> float:
    """Dollars for the images these requests ask for."""
    return sum((r.n * price_per_image(r.resolution, prices) for r in requests), 0.0)


def format_usd(amount: float) -> str:
    return f"${amount:,.3f}" if amount < 1 else f"${amount:,.2f}"


def spent_text(spent: float, estimate: float) -> str:
    """What a batch or sweep has spent so far next to its estimate, for its header."""
    return f"{format_usd(spent)} spent (estimate {format_usd(estimate)})"
