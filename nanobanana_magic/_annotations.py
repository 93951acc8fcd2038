"""What a user adds to stored runs while exploring: ratings, picks, tags and notes.

They live in the output folder next to the journal, in `annotations.jsonl`: one JSON
line per change, appended under `flock` (see `_jsonl`), so several kernels can rate at
once and nothing is lost. Reading folds the lines in order; the last word wins. The
file is untrusted input: a line with a run id the store would not write, an index or
rating out of range, or a value of the wrong type is skipped.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from ._errors import ValidationError
from ._jsonl import append_json_line, read_json_lines

ANNOTATIONS = "annotations.jsonl"
#: the run ids `Store.new_run` writes: date-time and six hex digits
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
MAX_INDEX = 63
TAG = re.compile(r"^[\w.:+-]{1,40}$")
MAX_NOTE_CHARS = 4000

log = logging.getLogger("nanobanana_magic")
#: called after every change this process records, with (root, run id, image index or
#: None for a tag or note): grids on screen redraw the image's marks (`_rating_grid`), so
#: `%banana rate`, `image.rate()` and a click on the grid all show at once
listeners: list[Callable[[Path, str, int | None], None]] = []


@dataclasses.dataclass
class Annotations:
    """The folded state of one output folder's annotations file."""

    ratings: dict[tuple[str, int], int] = dataclasses.field(default_factory=dict)
    picks: set[tuple[str, int]] = dataclasses.field(default_factory=set)
    tags: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    notes: dict[str, str] = dataclasses.field(default_factory=dict)

    def rating(self, run_id: str, index: int) -> int | None:
        return self.ratings.get((run_id, index))

    def picked(self, run_id: str, index: int) -> bool:
        return (run_id, index) in self.picks

    def apply(self, entry: dict) -> None:
        """Fold one line in (later lines override earlier ones); ignore malformed ones."""
        run_id, kind, value = entry.get("run_id"), entry.get("kind"), entry.get("value")
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            return
        if kind in ("rating", "pick"):
            index = entry.get("index")
            if isinstance(index, bool) or not isinstance(index, int):
                return
            if not 0 <= index <= MAX_INDEX:
                return
            if kind == "rating" and _valid_rating(value):
                if value:
                    self.ratings[(run_id, index)] = value
                else:
                    self.ratings.pop((run_id, index), None)
            elif kind == "pick" and isinstance(value, bool):
                (self.picks.add if value else self.picks.discard)((run_id, index))
        elif kind in ("tag", "untag") and isinstance(value, str) and TAG.match(value):
            current = [t for t in self.tags.get(run_id, ()) if t != value]
            if kind == "tag":
                current.append(value)
            self.tags[run_id] = tuple(current)
        elif kind == "note" and isinstance(value, str) and len(value) <= MAX_NOTE_CHARS:
            if value:
                self.notes[run_id] = value
            else:
                self.notes.pop(run_id, None)


def _valid_rating(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= 5


def path_of(root: str | os.PathLike) -> Path:
    return Path(root) / ANNOTATIONS


def load(root: str | os.PathLike) -> Annotations:
    """The folder's annotations (re-read only when the file changed)."""
    path = path_of(root)
    try:
        stat = path.stat()
    except OSError:
        return Annotations()
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _load(path: str, mtime_ns: int, size: int) -> Annotations:
    state = Annotations()
    for entry in read_json_lines(Path(path)):
        state.apply(entry)
    return state


def _record(root: str | os.PathLike, kind: str, run_id: str, value, index: int | None = None):
    if not RUN_ID.match(run_id):
        raise ValidationError(f"{run_id!r} is not a run id of this package; check the address.")
    entry = {"ts": round(time.time(), 3), "pid": os.getpid(), "kind": kind, "run_id": run_id}
    if index is not None:
        entry["index"] = index
    entry["value"] = value
    Path(root).mkdir(parents=True, exist_ok=True)
    append_json_line(path_of(root), entry)
    for listener in list(listeners):
        try:
            listener(Path(root), run_id, index)
        except Exception:  # a display that cannot redraw must not undo the rating
            log.exception("redrawing the marks of %s failed", run_id)


def rate(root, run_id: str, index: int, rating) -> None:
    """Rate image `index` of a run 1-5 (0 or None clears the rating)."""
    rating = 0 if rating is None else rating
    if isinstance(rating, str) and rating.strip().isdigit():
        rating = int(rating)
    if not _valid_rating(rating):
        raise ValidationError(
            f"A rating is a whole number from 1 to 5 (0 clears it), not {rating!r}."
        )
    _record(root, "rating", run_id, rating, index)


def pick(root, run_id: str, index: int, picked: bool = True) -> None:
    """Mark image `index` of a run as a pick (picked=False takes the mark away)."""
    _record(root, "pick", run_id, bool(picked), index)


def tag(root, run_id: str, words, *, remove: bool = False) -> None:
    """Add (or remove) tags of a run: short words of letters, digits and `.:+-_`."""
    words = [words] if isinstance(words, str) else list(words)
    if not words:
        raise ValidationError("Give at least one tag word, e.g. `%banana tag last hero`.")
    for word in words:
        if not isinstance(word, str) or not TAG.match(word):
            raise ValidationError(
                f"The tag {word!r} is not one short word; use letters, digits and .:+-_ "
                "(at most 40 characters)."
            )
    for word in words:
        _record(root, "untag" if remove else "tag", run_id, word)


def note(root, run_id: str, text: str) -> None:
    """Set the note of a run (an empty text removes it)."""
    if not isinstance(text, str) or len(text) > MAX_NOTE_CHARS:
        raise ValidationError(f"A note is text of at most {MAX_NOTE_CHARS} characters.")
    _record(root, "note", run_id, text.strip())


def run_marks(run) -> str:
    """A short line of a run's marks for listings: best rating, picks, tags, a note."""
    if run.folder is None:
        return ""
    state = load(run.folder.parent.parent)
    indexes = [image.index for image in run.images]
    ratings = [r for r in (state.rating(run.run_id, i) for i in indexes) if r]
    picks = sum(1 for i in indexes if state.picked(run.run_id, i))
    parts = []
    if ratings:
        parts.append(f"★{max(ratings)}")
    if picks:
        parts.append(f"{picks} picked")
    parts += [f"#{word}" for word in state.tags.get(run.run_id, ())]
    if run.run_id in state.notes:
        parts.append("note")
    return " ".join(parts)
