"""Planning a parameter sweep: axes → one validated request per grid cell, priced.

An axis is a request parameter (`size`, `n`, `resolution`, `model`, `ref`) or a `{name}`
used in the prompt. `plan_sweep` expands the axes (cartesian product, or position by
position with `zip=True`) into one validated request per grid cell, finds the cells the
cache already holds and prices the rest; it sends nothing. `check_budget` refuses a plan
above the budget unless told to go ahead.

A `ref` value is one reference set: files (or URLs) joined by `+`, e.g.
`ref=cat.png+hat.png,dog.png`; `none` is the empty set (no references).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._displayables import DryRun
from ._engine import Engine
from ._errors import ValidationError
from ._limits import check_setting
from ._plan import BatchPlan, cache_hits
from ._pricing import format_usd, price_per_image
from ._request import ImageRequest, default_model, is_url
from ._run import stored_image_address
from ._template import interpolate, placeholders
from ._wording import plural

_zip = zip  # `zip` is also the name of a sweep option

PARAMETER_AXES = ("size", "n", "resolution", "model", "ref")
#: where a parameter axis goes in ImageRequest.create
_REQUEST_FIELD = {
    "size": "size",
    "n": "n",
    "resolution": "resolution",
    "model": "model",
    "ref": "reference_images",
}
MAX_CELLS = 1000
NO_REFS = "none"


class BudgetExceededError(ValidationError):
    """The estimated cost of a sweep is above its budget; nothing was sent."""

    title = "Over budget"


# -- axes --------------------------------------------------------------------------------------------
def parse_axis_values(key: str, values: Any) -> list:
    """One axis as a list: a Python list/tuple, or a comma-separated string.

    `n` values become integers; each `ref` value becomes a tuple of references (a string
    splits on `+`; `none` is the empty set).
    """
    if isinstance(values, str):
        items: list = [v.strip() for v in values.split(",") if v.strip()]
    elif isinstance(values, Iterable) and not isinstance(values, (bytes, Mapping)):
        items = list(values)
    else:
        items = [values]
    if not items:
        raise ValidationError(
            f"The sweep axis {key!r} has no values; give at least one, e.g. {key}=a,b."
        )
    if key == "n":
        items = [_whole_number(v) for v in items]
    elif key == "ref":
        items = [_reference_set(v) for v in items]
    seen = Counter(axis_label(key, v) if key == "ref" else repr(v) for v in items)
    repeated = [value for value, count in seen.items() if count > 1]
    if repeated:
        raise ValidationError(
            f"The sweep axis {key!r} lists {repeated[0]} twice; list each value once."
        )
    return items


def _whole_number(value) -> int:
    try:
        number = int(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValidationError(f"The sweep axis 'n' needs whole numbers like n=1,2, not {value!r}.")
    return number


def _reference_set(value) -> tuple:
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value).strip()
        if text.lower() == NO_REFS:
            return ()
        parts = [p.strip() for p in text.split("+")] if not is_url(text) else [text]
        if not all(parts):
            raise ValidationError(
                f"The reference set {text!r} has an empty part; join files with + like a.png+b.png."
            )
        return tuple(parts)
    if isinstance(value, Iterable):
        return tuple(os.fspath(p) if isinstance(p, os.PathLike) else p for p in value)
    raise ValidationError(
        f"A ref value must be a file, a URL, a+b for a set, or none; not {value!r}."
    )


def axis_label(key: str, value) -> str:
    """How an axis value is shown in headers and records."""
    if key == "ref":
        if not value:
            return "no refs"
        return " + ".join(_reference_label(p) for p in map(str, value))
    return str(value)


def _reference_label(reference: str) -> str:
    """A file's name, a URL's last part, or `RUN#i` for a stored image (short id)."""
    if is_url(reference):
        return reference.rsplit("/", 1)[-1]
    address = stored_image_address(reference)
    if address is not None:
        return f"{address.run_id[-6:]}#{address.index}"
    return Path(reference).name


def cell_label(axes: Iterable[str], key: tuple) -> str:
    return " · ".join(f"{name} = {axis_label(name, value)}" for name, value in _zip(axes, key))


def sweep_common(
    defaults: Mapping[str, Any], explicit: Mapping[str, Any], axes: Iterable[str]
) -> dict:
    """Request options shared by every cell: defaults, overridden by explicit options,
    minus the swept parameters. An explicit option that is also swept is an error."""
    swept = {_REQUEST_FIELD[key] for key in axes if key in _REQUEST_FIELD}
    for key in axes:
        field = _REQUEST_FIELD.get(key)
        if field is not None and explicit.get(field) not in (None, (), []):
            option = "--ref" if key == "ref" else f"--{key}"
            raise ValidationError(
                f"{key} is swept and also given as {option}; drop one of the two."
            )
    return {k: v for k, v in {**defaults, **explicit}.items() if k not in swept}


# -- the plan -----------------------------------------------------------------------------------------
@dataclasses.dataclass(kw_only=True)
class SweepPlan(BatchPlan):
    """The cells of a sweep, what they cost, and which of them the cache already holds.

    `cells` is a list of (key, request) in grid order, a key being the tuple of the
    cell's axis values in the order of `axes`; `cached` holds the keys of cached cells.
    Everything else (estimate, payloads, budget) is the `BatchPlan` of its requests.
    Nothing has been sent.
    """

    axes: dict[str, list]
    keys: list[tuple]
    template: str = ""
    zipped: bool = False
    cells: list[tuple[tuple, ImageRequest]] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cells = list(zip(self.keys, self.requests))

    @property
    def cached(self) -> set[tuple]:
        return {self.keys[i] for i in self.hits}

    def kind(self) -> str:
        return f"sweep of {len(self.cells)} cells"

    def shape(self) -> str:
        """The axes and their sizes: "size × style (2 × 3)", or "size paired with style (2 pairs)"."""
        names, counts = list(self.axes), [len(values) for values in self.axes.values()]
        if self.zipped:
            return f"{' paired with '.join(names)} ({plural(counts[0], 'pair')})"
        if len(names) == 1:
            return f"{names[0]} ({plural(counts[0], 'value')})"
        return f"{' × '.join(names)} ({' × '.join(map(str, counts))})"

    def describe(self, budget: float | None = None) -> str:
        """One paragraph: cells, tasks, images, the estimate and its prices, the budget."""
        sending = self.to_send
        prices = ", ".join(
            f"{count} × {resolution} at {format_usd(price_per_image(resolution, self.prices))}"
            for resolution, count in sorted(self.images_by_resolution().items())
        )
        text = (
            f"Sweep over {self.shape()}: {plural(len(self.cells), 'cell')}, "
            f"{plural(len(sending), 'task')} to send for {plural(self.images, 'image')}, estimated {format_usd(self.estimate)}"
            + (f" ({prices})" if prices else "")
        )
        if self.cached:
            text += f"; {plural(len(self.cached), 'cell')} from the cache for free"
        if budget is not None:
            text += (
                f"; above the {format_usd(budget)} budget"
                if self.over_budget(budget)
                else f"; budget {format_usd(budget)}"
            )
        return text + "."

    def dry_run_text(self, budget: float | None = None) -> str:
        """What a dry run of the sweep says; a fully cached sweep says so instead of
        listing no payloads."""
        if self.cells and not self.to_send:
            return (
                f"Sweep over {self.shape()}: every one of its {len(self.cells)} cells comes "
                "from the cache, so nothing would be sent and nothing spent."
            )
        return self.describe(budget) + " Nothing was sent."

    def dry_run(self, budget: float | None = None) -> DryRun:
        return DryRun(self.dry_run_text(budget), self.payloads())

    def __repr__(self) -> str:
        return repr(self.dry_run())

    def _repr_html_(self) -> str:
        return self.dry_run()._repr_html_()


def plan_sweep(
    template: str,
    axes: Mapping[str, Any],
    *,
    engine: Engine,
    zip: bool = False,
    namespace: Mapping[str, object] | None = None,
    cache: bool = True,
    prices: Mapping[str, float] | None = None,
    **common,
) -> SweepPlan:
    """Expand the axes into validated requests and find the cached cells. Sends nothing.

    `common` are ImageRequest.create options shared by every cell; `namespace` supplies
    the prompt's `{name}`s that are not swept. Every problem is one ValidationError
    sentence, raised before anything could be sent.
    """
    if not axes:
        raise ValidationError("A sweep needs at least one axis, e.g. size=1:1,16:9.")
    names = placeholders(template)
    normalised: dict[str, list] = {}
    for key, values in axes.items():
        if not isinstance(key, str) or (key not in PARAMETER_AXES and key not in names):
            raise ValidationError(
                f"Cannot sweep over {key!r}: use a parameter ({', '.join(PARAMETER_AXES)}) "
                f"or a {{name}} that appears in the prompt."
            )
        field = _REQUEST_FIELD.get(key)
        if field is not None and common.get(field) not in (None, (), []):
            raise ValidationError(
                f"{key} is swept and also given as {field}=...; drop one of the two."
            )
        normalised[key] = parse_axis_values(key, values)
    lists = list(normalised.values())
    if zip:
        if len({len(v) for v in lists}) > 1:
            sizes = ", ".join(f"{k} has {len(v)}" for k, v in normalised.items())
            raise ValidationError(
                f"--zip pairs values position by position, so every axis "
                f"needs the same number of values ({sizes})."
            )
        combos = list(_zip(*lists))
    else:
        combos = list(itertools.product(*lists))
    if len(combos) > MAX_CELLS:
        raise ValidationError(
            f"The sweep has {len(combos)} cells; keep it to {MAX_CELLS} "
            "or fewer by listing fewer values."
        )
    shared = {k: v for k, v in common.items() if v is not None}
    shared.setdefault("model", default_model())
    base = dict(namespace or {})
    cells = []
    for combo in combos:
        values = dict(_zip(normalised, combo))
        words = {k: (axis_label(k, v) if k == "ref" else v) for k, v in values.items()}
        prompt = interpolate(template, {**base, **words})
        params = dict(shared)
        params.update({_REQUEST_FIELD[k]: v for k, v in values.items() if k in _REQUEST_FIELD})
        cells.append((tuple(combo), ImageRequest.create(prompt, **params)))
    keys = [key for key, _ in cells]
    requests = [request for _, request in cells]
    return SweepPlan(
        requests,
        [cell_label(normalised, key) for key in keys],
        cache_hits(engine, requests, cache),
        prices,
        engine,
        axes=normalised,
        keys=keys,
        template=template,
        zipped=zip,
    )


def check_budget(
    plan: SweepPlan, budget: float | None, yes: bool, *, in_python: bool = False
) -> None:
    """Refuse (BudgetExceededError, nothing sent) a plan above the budget unless `yes`;
    the refusal names the options in the words of the caller (a magic or Python)."""
    if budget is not None:
        check_setting("budget", budget)
    if budget is not None and plan.over_budget(budget) and not yes:
        go_ahead, raise_it = ("yes=True", "budget") if in_python else ("--yes", "--budget")
        raise BudgetExceededError(
            f"{plan.describe()} That is above the {format_usd(budget)} budget: pass {go_ahead} "
            f"to go ahead, or raise {raise_it}."
        )
