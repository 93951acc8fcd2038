"""What the line commands and dry runs return: small objects that display themselves.

Each has an HTML form for Jupyter and a plain-text form for terminals; every string in
them is HTML-escaped.
"""

from __future__ import annotations

import json
import time

from . import _display as display
from ._annotations import run_marks
from ._display import PROVENANCE_MIME
from ._pricing import format_usd
from ._run import Run


class DryRun:
    """What a --dry-run would send: the payloads and the cost, displayed as JSON."""

    def __init__(self, text: str, payloads: list[dict]):
        self.text, self.payloads = text, payloads

    def payloads_json(self) -> str:
        """One request: indented JSON. Several (a sweep): one compact line per request,
        so the plan reads as a list rather than pages of braces."""
        if len(self.payloads) == 1:
            return json.dumps(self.payloads, indent=2, ensure_ascii=False)
        lines = ",\n ".join(json.dumps(p, ensure_ascii=False) for p in self.payloads)
        return f"[{lines}]"

    def __repr__(self) -> str:
        if not self.payloads:  # all from the cache: the sentence says so, no empty list
            return self.text
        return self.text + "\n" + self.payloads_json()

    def _repr_html_(self) -> str:
        payloads = self.payloads_json() if self.payloads else ""
        return display.output(
            display.note(self.text)
            + (display.code_block(payloads, css_class="banana-payload") if payloads else "")
        )

    def _repr_mimebundle_(self, include=None, exclude=None):
        return (
            {"text/html": self._repr_html_(), "text/plain": repr(self)},
            {PROVENANCE_MIME: {"dry_run": True, "payloads": self.payloads}},
        )


class Help(str):
    """The `%banana help` text: Markdown in Jupyter, plain text in a terminal."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        return str(self)


class Exported(str):
    """An exported request; shown as a code block, usable as a string."""

    kind: str  # python, curl or json

    def __new__(cls, text: str, kind: str):
        obj = super().__new__(cls, text)
        obj.kind = kind
        return obj

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return display.output(display.code_block(str(self), css_class="banana-export"))


class Runs(list):
    """Several runs shown together."""

    def _repr_html_(self) -> str:
        return display.output(display.runs_html(self))

    def __repr__(self) -> str:
        return "\n".join(display.run_text(run) for run in self) or "(no runs)"


class History(list):
    """`%banana history`: runs made on their own (`Run`) and sweeps (`SweepEntry`, one
    entry for all its cells), newest first. `reuse` counts how often the cache served
    each run again."""

    def __init__(self, entries, reuse):
        super().__init__(entries)
        self.reuse = reuse

    def rows(self):
        for entry in self:
            yield self._run_row(entry) if isinstance(entry, Run) else self._sweep_row(entry)

    def _run_row(self, run) -> dict:
        reused = self.reuse[run.run_id]
        return {
            "id": run.run_id,
            "time": _when(run.created_at),
            "prompt": _short(run.request.prompt),
            "params": run.request.summary(),
            "images": len(run.images),
            "cost": format_usd(run.cost),
            "cached": f"sent, reused ×{reused}" if reused else "sent",
            "status": run.status,
            "marks": run_marks(run),
        }

    @staticmethod
    def _sweep_row(sweep) -> dict:
        return {
            "id": sweep.sweep_id,
            "time": _when(sweep.created_at),
            "prompt": _short(sweep.template),
            "params": f"{sweep.description} · {sweep.cells} cells",
            "images": sweep.images,
            "cost": format_usd(sweep.cost),
            "cached": f"{sweep.cached} of {sweep.cells} cells",
            "status": sweep.status(),
            "marks": sweep.marks(),
        }

    def __repr__(self) -> str:
        rows = [{k: str(v) for k, v in row.items()} for row in self.rows()]
        if not rows:
            return "No runs yet."
        widths = {k: max(len(k), *(len(row[k]) for row in rows)) for k in rows[0]}
        lines = [[k.ljust(widths[k]) for k in widths]]
        lines += [[row[k].ljust(widths[k]) for k in widths] for row in rows]
        return "\n".join("  ".join(line).rstrip() for line in lines)

    def _repr_html_(self) -> str:
        rows = list(self.rows())
        if not rows:
            return display.output(display.note("No runs yet."))
        return display.output(
            display.table(rows, css_class="banana-history", nowrap=("id", "time", "cost"))
        )


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _short(prompt: str) -> str:
    return prompt if len(prompt) <= 60 else prompt[:59] + "…"
