"""Progress of a batch on the command line, written to stderr (stdout keeps the results).

In a terminal one table redraws in place (rich's Live display): a bar and the status per
task, and a summary line with the time elapsed and, once known, left. Elsewhere (a pipe,
a log file, CI) every change of a task's status is one plain line, and progress
percentages are left out, so logs stay short and greppable. Both use the words every
live view uses (`_progress.WORDS`: queued, generating, downloading, done, failed,
stopped), never the server's status words or task ids.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from ._runner import BatchView
from ._wording import plural

#: at most this many task rows in the live table; the summary line counts the rest
_MAX_ROWS = 12
_ORDER = {"downloading": 0, "running": 0, "queued": 1, "submitted": 1, "waiting": 2}


class PlainProgress(BatchView):
    """One line per change of a task's status."""

    def __init__(self, labels: Sequence[str], stream: TextIO, sweep=None):
        super().__init__(labels, sweep=sweep)
        self.board = self.progress
        self.stream = stream
        self.width = len(str(len(self.board.labels)))
        self._printed = [""] * len(self.board.rows)  # the first word of each task is said

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def changed(self, event, row) -> None:
        if row.shown == self._printed[event.index]:
            return
        self._printed[event.index] = row.shown
        detail = {
            "completed": f" ({plural(len(event.run.images), 'image')})" if event.run else "",
            "cached": " (from the cache, nothing sent)",
            "failed": f": {row.error}",
        }.get(event.kind, "")
        total = len(self.board.labels)
        self.stream.write(
            f"[{event.index + 1:>{self.width}}/{total}] {self.board.labels[event.index]}: "
            f"{row.shown}{detail}\n"
        )
        self.stream.flush()


class LiveProgress(BatchView):
    """A table that redraws in place in a terminal (from the rows, on rich's own clock)."""

    def __init__(self, labels: Sequence[str], stream: TextIO, sweep=None):
        from rich.console import Console
        from rich.live import Live

        super().__init__(labels, sweep=sweep)
        self.board = self.progress
        self.live = Live(
            console=Console(file=stream),
            get_renderable=self._render,
            refresh_per_second=8,
            transient=False,
        )

    def __enter__(self) -> LiveProgress:
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()

    def _render(self):
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        rows = list(zip(self.board.labels, self.board.rows))
        shown = sorted(rows, key=lambda pair: _ORDER.get(pair[1].state, 3))[:_MAX_ROWS]
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True, overflow="ellipsis", max_width=40)
        table.add_column(width=24)
        table.add_column(justify="right", width=4)
        table.add_column(no_wrap=True, overflow="ellipsis")
        for label, row in shown:
            failed = row.state == "failed"
            table.add_row(
                label,
                ProgressBar(
                    total=100,
                    completed=row.progress,
                    width=24,
                    complete_style="red" if failed else "green",
                    finished_style="red" if failed else "green",
                ),
                f"{row.progress}%",
                row.describe(),
            )
        hidden = len(rows) - len(shown)
        table.add_row(
            f"{self.board.summary()} · {self.board.timing()}"
            + (f" · {hidden} more not shown" if hidden else ""),
            "",
            "",
            "",
        )
        return table


def progress_for(labels: Sequence[str], stream: TextIO | None = None, sweep=None):
    """The view of a batch for `_runner.run_batch`: the live table in a terminal, plain
    lines otherwise (with `sweep`, the rows are the sweep's own)."""
    stream = sys.stderr if stream is None else stream
    if stream.isatty():
        return LiveProgress(labels, stream, sweep)
    return PlainProgress(labels, stream, sweep)
