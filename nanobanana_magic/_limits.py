"""The allowed ranges of numeric settings, checked in one place for every front end.

The magic's traitlets (`%config Banana.x = ...`), the magic line (`--concurrency`,
`--budget`), the Python API (`generate(task_timeout=...)`, `Engine(...)`) and sweeps all
call `check_setting`, so a value is refused with the same sentence wherever it comes from,
before anything is sent. Money is checked by `check_money`: a NaN budget or price would
switch the budget guard off (every comparison with NaN is false).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ._errors import ValidationError
from ._request import MAX_N, RESOLUTIONS

#: lowest allowed value of each numeric setting, and the highest where there is one
SETTING_RANGES: dict[str, tuple[float, float | None]] = {
    "n": (1, MAX_N),
    "concurrency": (1, 64),
    "thumbnail_size": (64, 1024),
    "task_timeout": (1, None),
    "max_poll_interval": (0.1, None),
    "download_timeout": (1, None),
    "download_retries": (0, 20),
    "budget": (0, None),
}
#: settings that take whole numbers only
WHOLE_NUMBERS = {"n", "concurrency", "thumbnail_size", "download_retries"}


def check_setting(name: str, value, *, label: str | None = None):
    """Return `value` when it is a finite number in the range of setting `name`; else raise
    ValidationError with one sentence that names the allowed range."""
    low, high = SETTING_RANGES[name]
    label = label or name
    bounds = f"at least {low}" + (f" and at most {high}" if high is not None else "")
    kind = "a whole number" if name in WHOLE_NUMBERS else "a number"
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and (name not in WHOLE_NUMBERS or float(value).is_integer())
        and value >= low
        and (high is None or value <= high)
    )
    if not ok:
        raise ValidationError(f"{label} must be {kind} {bounds}, not {value!r}.")
    return value


def check_money(amount, label: str) -> float:
    """A dollar amount (a budget, a price): finite and not negative."""
    if (
        isinstance(amount, bool)
        or not isinstance(amount, (int, float))
        or not math.isfinite(amount)
        or amount < 0
    ):
        raise ValidationError(f"{label} must be a dollar amount of 0 or more, not {amount!r}.")
    return float(amount)


def check_prices(prices: Mapping | None, label: str = "prices") -> Mapping | None:
    """A price table: each resolution tier mapped to finite, non-negative dollars per image."""
    if prices is None:
        return None
    if not isinstance(prices, Mapping) or not prices:
        raise ValidationError(
            f"{label} maps {', '.join(RESOLUTIONS)} to dollars per image, not {prices!r}."
        )
    for tier, price in prices.items():
        if tier not in RESOLUTIONS:
            raise ValidationError(
                f"{label} maps {', '.join(RESOLUTIONS)} to dollars per image; "
                f"{tier!r} is not one of them."
            )
        check_money(price, f"The {tier} price in {label}")
    return prices
