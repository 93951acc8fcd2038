"""The output folder from Python: `history()` and `show()`, what `%banana history` and
`%banana show` give (the same entries, the same objects), for scripts and notebooks that
prefer a function call to a magic."""

from __future__ import annotations

import os

from ._displayables import History
from ._errors import ValidationError
from ._run import Run
from ._sweep_result import SweepRun


def history(
    count: int = 20,
    *,
    output_dir: str | os.PathLike[str] | None = None,
    search: str | None = None,
    tag: str | None = None,
    picked: bool = False,
    min_rating: int | None = None,
    model: str | None = None,
    size: str | None = None,
    since: str | None = None,
) -> History:
    """The newest `count` entries of the output folder (0: all), newest first: each run
    made on its own (a `Run`) and each sweep as one entry (a `SweepEntry`: its axes,
    cells, images, cost and cached cells). The filters are `%banana history`'s: `search`
    in prompts, notes and tags, a `tag`, `picked`, `min_rating` 1-5, `model`, `size`,
    `since` a date text ("2025-01-31", "3d"); a sweep matches when one of its cells does."""
    from ._explore_commands import recent_history
    from ._history_filter import RunFilter, parse_since
    from ._store import Store

    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValidationError(f"count is how many entries (0 for all), not {count!r}.")
    if min_rating is not None and (
        isinstance(min_rating, bool) or min_rating not in (1, 2, 3, 4, 5)
    ):
        raise ValidationError(f"min_rating is a rating from 1 to 5, not {min_rating!r}.")
    wanted = RunFilter(
        search=search,
        tag=tag,
        picked=picked,
        min_rating=min_rating,
        model=model,
        size=size,
        since=parse_since(since) if since else None,
    )
    return recent_history(Store(output_dir), count, wanted)


def show(ref: str = "last", *, output_dir: str | os.PathLike[str] | None = None) -> Run | SweepRun:
    """A stored run, or a recorded sweep with its whole labelled grid, read from disk
    (nothing is sent). `ref` is an id, a unique part of one, "last" or "-2" (history's
    entries: after a sweep, "last" is the sweep)."""
    from ._store import Store
    from ._sweep_record import load_entry

    return load_entry(Store(output_dir), str(ref))
