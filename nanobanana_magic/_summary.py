"""Which value wins: ratings, picks, cost and time per axis value of a sweep.

`summarize(cells, axes)` takes the cells of a sweep (each a mapping axis → value label,
and its Run) and gives, per axis and value, the images, rated images, mean rating,
picks, cost and mean seconds, marks the best value of each axis (highest mean rating,
then most picks), and with two axes the mean rating of every row × column. Ratings and
picks are read from the output folder, so a summary made from disk says the same as one
made in the kernel that rated.

`summary_of_runs(runs)` does the same for stored runs that are not one sweep: the axes are
the request parameters that differ between them.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from . import _display as display
from ._errors import ValidationError
from ._pricing import format_usd


@dataclasses.dataclass
class ValueStats:
    axis: str
    value: str
    images: int = 0
    rated: int = 0
    rating_sum: int = 0
    picks: int = 0
    cost: float = 0.0
    seconds: list = dataclasses.field(default_factory=list)
    best: bool = False

    @property
    def mean_rating(self) -> float | None:
        return self.rating_sum / self.rated if self.rated else None

    @property
    def mean_seconds(self) -> float | None:
        return statistics.mean(self.seconds) if self.seconds else None

    def row(self) -> dict:
        mean, seconds = self.mean_rating, self.mean_seconds
        return {
            "axis": self.axis,
            "value": self.value,
            "images": self.images,
            "rated": self.rated,
            "mean_rating": round(mean, 2) if mean is not None else None,
            "picks": self.picks,
            "cost": round(self.cost, 4),
            "mean_seconds": None if seconds is None else round(seconds, 1),
            "best": self.best,
        }


class Summary:
    """Per-axis statistics of a sweep; shows itself as small tables."""

    def __init__(self, axes: list[str], stats: dict[str, list[ValueStats]], interaction=None):
        self.axes, self.stats, self.interaction = axes, stats, interaction

    @property
    def best(self) -> dict[str, str]:
        """{axis: the winning value} for each axis that has one."""
        return {axis: s.value for axis, values in self.stats.items() for s in values if s.best}

    @property
    def rated(self) -> int:
        return sum(s.rated for s in self.stats[self.axes[0]]) if self.axes else 0

    def rows(self) -> list[dict]:
        return [s.row() for values in self.stats.values() for s in values]

    def to_dataframe(self):
        try:
            import pandas
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from None
        return pandas.DataFrame.from_records(self.rows())

    def headline(self) -> str:
        if not self.rated and not any(s.picks for v in self.stats.values() for s in v):
            return "No image of this sweep is rated or picked yet; rate with %banana rate RUN#i N."
        wins = "; ".join(f"{axis}: {value}" for axis, value in self.best.items())
        return f"Best value per axis (mean rating, then picks): {wins or 'none yet'}."

    def __repr__(self) -> str:
        lines = [self.headline()]
        for axis, values in self.stats.items():
            lines.append(f"{axis}:")
            for s in values:
                mean = f"{s.mean_rating:.2f}" if s.mean_rating is not None else "–"
                secs = f"{s.mean_seconds:.1f} s" if s.seconds else "–"
                lines.append(
                    f"  {'★' if s.best else ' '} {s.value:<24} images {s.images:>3}  rated "
                    f"{s.rated:>3}  mean {mean:>4}  picks {s.picks:>2}  "
                    f"{format_usd(s.cost)}  {secs}"
                )
        if self.interaction:
            row_axis, col_axis, row_labels, col_labels, means = self.interaction
            lines.append(f"mean rating, {row_axis} ↓ × {col_axis} →")
            lines.append("  " + " | ".join([" " * 12, *(f"{c:>10}" for c in col_labels)]))
            for label, values in zip(row_labels, means):
                cells = (f"{v:>10.2f}" if v is not None else f"{'–':>10}" for v in values)
                lines.append("  " + " | ".join([f"{label:<12}", *cells]))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return display.output(self.html())

    def html(self) -> str:
        """The tables as an HTML fragment (the sweep grid embeds it)."""
        rows = []
        for s in (s for values in self.stats.values() for s in values):
            mean = s.mean_rating
            rows.append(
                {
                    "axis": s.axis,
                    "value": ("★ " if s.best else "") + s.value,
                    "images": s.images,
                    "rated": s.rated,
                    "mean rating": f"{mean:.2f}" if mean is not None else "–",
                    "picks": s.picks,
                    "cost": format_usd(s.cost),
                    "mean s": f"{s.mean_seconds:.1f}" if s.seconds else "–",
                }
            )
        html = display.note(self.headline()) + display.table(rows, css_class="banana-summary")
        if self.interaction:
            row_axis, col_axis, row_labels, col_labels, means = self.interaction
            table = [
                {
                    f"{row_axis} ↓ / {col_axis} →": label,
                    **{
                        col: (f"{v:.2f}" if v is not None else "–")
                        for col, v in zip(col_labels, values)
                    },
                }
                for label, values in zip(row_labels, means)
            ]
            html += display.note("Mean rating per row × column:") + display.table(
                table, css_class="banana-summary-interaction"
            )
        return f"<div class='banana-sweep-stats'>{html}</div>"


def _image_marks(run) -> list[tuple[int | None, bool]]:
    return [(image.rating, image.picked) for image in run.images]


def summarize(
    cells: Sequence[tuple[Mapping[str, str], Any]], axes: Sequence[str], *, zipped=False
) -> Summary:
    """Statistics per axis value over the cells (axis → label, Run or None)."""
    axes = list(axes)
    stats: dict[str, dict[str, ValueStats]] = {axis: {} for axis in axes}
    for labels, _run in cells:  # every value appears, in grid order, even if not run
        for axis in axes:
            stats[axis].setdefault(labels[axis], ValueStats(axis, labels[axis]))
    cell_ratings: dict[tuple, list[int]] = {}
    for labels, run in cells:
        if run is None or not getattr(run, "ok", False):
            continue
        marks = _image_marks(run)
        ratings = [r for r, _ in marks if r]
        cell_ratings[tuple(labels[a] for a in axes)] = ratings
        for axis in axes:
            s = stats[axis][labels[axis]]
            s.images += len(marks)
            s.rated += len(ratings)
            s.rating_sum += sum(ratings)
            s.picks += sum(1 for _, picked in marks if picked)
            s.cost += run.cost
            if run.elapsed is not None:
                s.seconds.append(run.elapsed)
    for values in stats.values():
        candidates = [s for s in values.values() if s.rated or s.picks]
        if len(values) > 1 and candidates:
            best = max(candidates, key=lambda s: (s.mean_rating or 0, s.picks))
            best.best = True
    interaction = None
    if len(axes) == 2 and not zipped:
        row_axis, col_axis = axes
        row_labels, col_labels = list(stats[row_axis]), list(stats[col_axis])
        means = [
            [
                statistics.mean(cell_ratings[(r, c)]) if cell_ratings.get((r, c)) else None
                for c in col_labels
            ]
            for r in row_labels
        ]
        interaction = (row_axis, col_axis, row_labels, col_labels, means)
    return Summary(
        axes, {axis: list(values.values()) for axis, values in stats.items()}, interaction
    )


#: request fields that can tell stored runs apart, and how each is labelled
_FIELDS = {
    "model": lambda r: r.model,
    "size": lambda r: r.size,
    "resolution": lambda r: r.resolution,
    "n": lambda r: str(r.n),
    "ref": lambda r: " + ".join(r.reference_images) or "no refs",
    "variant": lambda r: r.variant or "–",
    "prompt": lambda r: r.prompt if len(r.prompt) <= 48 else r.prompt[:47] + "…",
}


def summary_of_runs(runs: Sequence) -> Summary:
    """A summary of stored runs whose axes are the parameters that differ between them."""
    if len(runs) < 2:
        raise ValidationError(
            "A summary compares several runs or the cells of one sweep; give a sweep, or "
            "two or more runs, e.g. %banana summary -2 last."
        )
    axes = [
        name for name, label in _FIELDS.items() if len({label(run.request) for run in runs}) > 1
    ]
    if not axes:
        raise ValidationError(
            "These runs have the same parameters, so there is no axis to summarise; "
            "compare them with %banana compare instead."
        )
    cells = [({axis: _FIELDS[axis](run.request) for axis in axes}, run) for run in runs]
    if "prompt" in axes:  # label each prompt by the words that differ (a {name} sweep)
        labels = prompt_differences([run.request.prompt for run in runs])
        for (values, _), label in zip(cells, labels):
            values["prompt"] = label
    return summarize(cells, axes)


def prompt_differences(prompts: Sequence[str]) -> list[str]:
    """Each prompt without the words every prompt starts and ends with: for prompts made
    from one template, the values that were filled in."""
    words = [prompt.split() for prompt in prompts]
    shortest = min(len(w) for w in words)
    head = 0
    while head < shortest and len({w[head] for w in words}) == 1:
        head += 1
    tail = 0
    while tail < shortest - head and len({w[-1 - tail] for w in words}) == 1:
        tail += 1
    labels = [" ".join(w[head : len(w) - tail]) or "(same)" for w in words]
    return [label if len(label) <= 48 else label[:47] + "…" for label in labels]
