"""Finding runs again: the filters of `%banana history` and of the gallery.

A `RunFilter` is plain data; `matches(run, notes)` checks one stored run against it using
the folder's annotations (ratings, picks, tags, notes). `--search` looks in the prompt,
the note and the tags, case-insensitively.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from ._annotations import Annotations
from ._errors import ValidationError


@dataclasses.dataclass
class RunFilter:
    search: str | None = None
    tag: str | None = None
    picked: bool = False
    min_rating: int | None = None
    model: str | None = None
    size: str | None = None
    since: float | None = None  # a timestamp

    def index_filters(self) -> dict[str, Any]:
        """The filters besides the text, as keyword arguments of `RunIndex.search` and
        `RunIndex.images`."""
        fields = dataclasses.asdict(self)
        del fields["search"]
        return fields

    @property
    def active(self) -> bool:
        return any(value not in (None, False, "") for value in dataclasses.astuple(self))

    def matches(self, run, notes: Annotations) -> bool:
        request = run.request
        tags = notes.tags.get(run.run_id, ())
        if self.search:
            text = " ".join([request.prompt, notes.notes.get(run.run_id, ""), *tags]).lower()
            if self.search.lower() not in text:
                return False
        if self.tag and self.tag not in tags:
            return False
        indexes = [image.index for image in run.images]
        if self.picked and not any(notes.picked(run.run_id, i) for i in indexes):
            return False
        if self.min_rating is not None:
            ratings = [notes.rating(run.run_id, i) or 0 for i in indexes]
            if max(ratings, default=0) < self.min_rating:
                return False
        if self.model and request.model != self.model:
            return False
        if self.size and request.size != self.size:
            return False
        return not (self.since is not None and run.created_at < self.since)


def parse_since(text: str) -> float:
    """A date (2025-01-31), a date and time (2025-01-31T14:00) or a number of days ago
    (`3d`) as a timestamp."""
    text = str(text).strip()
    if text.endswith("d") and text[:-1].isdigit():
        return (dt.datetime.now() - dt.timedelta(days=int(text[:-1]))).timestamp()
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValidationError(
            f"--since {text!r} is not a date; write 2025-01-31, 2025-01-31T14:00 or 3d."
        ) from None


def filter_runs(runs, notes: Annotations, run_filter: RunFilter, limit: int | None = None):
    """The runs (newest first, as given) that match, at most `limit` of them."""
    found = [run for run in runs if run_filter.matches(run, notes)]
    return found[:limit] if limit else found
