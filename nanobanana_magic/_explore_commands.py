"""The exploring line commands: rate, pick, tag, note and history with filters.

Each function takes the words after the command name (already `$name`-resolved) and the
output folder's `Store`, parses them with a small argparse parser whose complaints are
one-sentence UsageErrors, and returns what the magic displays (or None).
"""

from __future__ import annotations

import collections

from IPython.core.error import UsageError

from ._addresses import resolve_image, resolve_run
from ._command_parser import CommandParser
from ._errors import ValidationError
from ._history_filter import RunFilter, parse_since


def _number(text: str, what: str) -> int:
    if not str(text).lstrip("-").isdigit():
        raise UsageError(f"{what} must be a whole number, not {text!r}.")
    return int(text)


def rate(store, args):
    parser = CommandParser("rate", "rate RUN#i RATING (1-5; 0 clears)")
    parser.add_argument("address")
    parser.add_argument("rating")
    ns = parser.parse(args)
    rating = _number(ns.rating, "The rating")
    _, image = resolve_image(store, ns.address)
    image.rate(rating)
    stars = f"{rating} of 5" if rating else "no rating"
    print(f"Rated {image.address}: {stars}.")


def pick(store, args):
    parser = CommandParser("pick", "pick RUN#i [--no]")
    parser.add_argument("address")
    parser.add_argument("--no", action="store_true", help="take the pick mark away")
    ns = parser.parse(args)
    _, image = resolve_image(store, ns.address)
    image.pick(not ns.no)
    print(f"{'Unpicked' if ns.no else 'Picked'} {image.address}.")


def tag(store, args):
    parser = CommandParser("tag", "tag RUN WORD [WORD ...] [--remove]")
    parser.add_argument("run")
    parser.add_argument("words", nargs="+")
    parser.add_argument("--remove", action="store_true")
    ns = parser.parse(args)
    run = resolve_run(store, ns.run)
    (run.untag if ns.remove else run.tag)(*ns.words)
    print(f"Run {run.run_id} tags: {', '.join(run.tags) or '(none)'}.")


def note(store, args):
    parser = CommandParser("note", 'note RUN "TEXT" (empty text removes the note)')
    parser.add_argument("run")
    parser.add_argument("text")
    ns = parser.parse(args)
    run = resolve_run(store, ns.run)
    run.set_note(ns.text)
    print(f"Run {run.run_id} note: {run.note or '(none)'}.")


HISTORY_USAGE = (
    "history [N] [--search TEXT] [--tag WORD] [--picked] [--min-rating N] "
    "[--model ID] [--size R] [--since DATE]"
)


def history_filter_parser(command: str = "history", usage: str = HISTORY_USAGE):
    parser = CommandParser(command, usage)
    parser.add_argument("--search", metavar="TEXT", help="words in the prompt, note or tags")
    parser.add_argument("--tag", metavar="WORD", help="runs with this tag")
    parser.add_argument("--picked", action="store_true", help="runs with a picked image")
    parser.add_argument("--min-rating", metavar="N", help="runs with an image rated N or more")
    parser.add_argument("--model", metavar="ID", help="runs of this model")
    parser.add_argument("--size", metavar="R", help="runs of this aspect ratio")
    parser.add_argument("--since", metavar="DATE", help="runs since 2025-01-31, or 3d (days)")
    return parser


def run_filter(ns) -> RunFilter:
    min_rating = None
    if ns.min_rating is not None:
        min_rating = _number(ns.min_rating, "--min-rating")
        if not 1 <= min_rating <= 5:
            raise UsageError(f"--min-rating is a rating from 1 to 5, not {min_rating}.")
    return RunFilter(
        search=ns.search,
        tag=ns.tag,
        picked=ns.picked,
        min_rating=min_rating,
        model=ns.model,
        size=ns.size,
        since=parse_since(ns.since) if ns.since is not None else None,
    )


def history(store, args):
    parser = history_filter_parser()
    parser.add_argument("count", nargs="?", default="20")
    ns = parser.parse(args)
    if not str(ns.count).isdigit():
        raise UsageError("Usage: %banana history [N] (N a whole number)")
    return recent_history(store, int(ns.count), run_filter(ns))


def recent_history(store, count: int, wanted: RunFilter):
    """The last `count` entries that match `wanted`, newest first: runs made on their own
    (with how often the cache served them again) and sweeps, each one entry."""
    from ._displayables import History
    from ._sweep_record import SweepEntry

    if not (store.root / "runs").is_dir():
        return History([], collections.Counter())
    index = store.index()  # the filters as one query: fast on folders of any size
    found = index.entries(wanted.search, **wanted.index_filters(), limit=count or None)
    facts = index.sweep_facts(id_ for kind, id_ in found if kind == "sweep")
    entries: list = []
    for kind, id_ in found:
        if kind == "sweep":
            if id_ in facts:
                entries.append(SweepEntry.from_facts(id_, facts[id_]))
            continue
        try:
            entries.append(store.load_run(id_))
        except ValidationError:
            continue  # broken or removed meanwhile by another kernel
    store.warn_unreadable()
    runs = [id_ for kind, id_ in found if kind == "run"]
    return History(entries, collections.Counter(index.reuse_counts(runs)))


def from_image(args):
    """(what the image's PNG says, whether to run it) for `%banana from PATH [--run]`."""
    from ._reproduce import from_image as read

    parser = CommandParser("from", "from PATH [--run]")
    parser.add_argument("path")
    parser.add_argument("--run", action="store_true")
    ns = parser.parse(args)
    return read(ns.path), ns.run


def lineage(store, args):
    from ._lineage import lineage as build

    parser = CommandParser("lineage", "lineage RUN")
    parser.add_argument("run")
    ns = parser.parse(args)
    return build(store, resolve_run(store, ns.run))


def summary(store, args):
    from ._summary import summary_of_runs

    parser = CommandParser(
        "summary", "summary SWEEP | summary RUN RUN [RUN ...] | summary --last N"
    )
    parser.add_argument("runs", nargs="*")
    parser.add_argument("--last", metavar="N")
    ns = parser.parse(args)
    if ns.last is not None:
        count = _number(ns.last, "--last")
        if ns.runs or count < 2:
            raise UsageError("Give either runs or --last N (N at least 2), not both.")
        return summary_of_runs(list(reversed(store.recent_runs(count))))
    if len(ns.runs) == 1:  # one sweep (its id, a part of it, last): its own axes, from disk
        from ._sweep_record import is_sweep_id, load_sweep

        found = store.resolve_run_id(ns.runs[0], sweeps=True)
        if is_sweep_id(found):
            return load_sweep(store, found).summary()
    return summary_of_runs([resolve_run(store, text) for text in ns.runs])


def compare(store, args):
    from ._compare import compare as build

    parser = CommandParser("compare", "compare A B [C ...] [--overlay] (runs or images RUN#i)")
    parser.add_argument("items", nargs="+")
    parser.add_argument("--overlay", action="store_true")
    ns = parser.parse(args)
    comparison = build(*ns.items, store=store)
    return comparison.overlay() if ns.overlay else comparison


def gallery(magic, args):
    from ._gallery import Gallery

    parser = history_filter_parser(
        "gallery",
        "gallery [--search TEXT] [--tag WORD] [--picked] [--min-rating N] [--model ID] "
        "[--size R] [--since DATE]",
    )
    ns = parser.parse(args)
    return Gallery(magic.store(), magic=magic, filters=run_filter(ns))
