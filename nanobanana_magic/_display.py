"""HTML for runs: image cards, responsive grids, labelled sweep tables and live progress.

Everything a user or a server wrote (prompts, error messages, labels) goes through
`html.escape`. Grids embed the small JPEG thumbnails; each card links the full-size
file on disk, so a saved notebook stays small.
"""

from __future__ import annotations

import base64
import functools
import html
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from ._pricing import format_usd

GRID_STYLE = (
    "display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,260px),1fr));"
    "gap:10px;align-items:start;margin:6px 0"
)
CARD_STYLE = (
    "margin:0;max-width:512px;border:1px solid #d0d7de;border-radius:6px;"
    "padding:6px;background:#fff;font:12px/1.35 system-ui,sans-serif;"
    "color:#24292f;text-align:left"
)
IMG_STYLE = "width:100%;height:auto;display:block;border-radius:3px;background:#f3f4f6"
ERROR_STYLE = (
    "border-left:4px solid #cf222e;background:#fff5f5;color:#82071e;"
    "padding:6px 10px;margin:4px 0;font:13px/1.4 system-ui,sans-serif"
)
NOTE_STYLE = "color:#57606a;font:12px/1.4 system-ui,sans-serif;margin:2px 0"
PRE_STYLE = (
    "font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    "background:#f6f8fa;color:#24292f;border:1px solid #d0d7de;border-radius:6px;"
    "padding:8px 10px;margin:4px 0;white-space:pre;overflow-x:auto;text-align:left"
)
TABLE_STYLE = "border-collapse:collapse;font:12px/1.4 system-ui,sans-serif;margin:4px 0"
CELL_STYLE = "text-align:left;vertical-align:top;padding:2px 8px;border-bottom:1px solid #eaeef2"
SIM_BADGE = (
    "<span style='background:#fff8c5;border:1px solid #d4a72c;border-radius:4px;"
    "padding:0 4px;margin-left:6px;font-size:11px'>SIMULATED</span>"
)

esc = html.escape
#: the metadata key under which every displayed output carries its provenance
PROVENANCE_MIME = "application/vnd.nanobanana.provenance+json"


def data_uri(path: Path) -> str:
    """The thumbnail inlined as a data URI (remembered while the file is unchanged, since
    live grids redraw every finished cell many times)."""
    stat = os.stat(path)
    return _data_uri(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _data_uri(path: str, mtime_ns: int, size: int) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def file_link(path: Path) -> str:
    """A link to the full-size file that works from a notebook next to the output folder."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return Path(path).as_uri()


def image_card(image, run, *, label: str | None = None) -> str:
    request = image.request
    elapsed = f" · {run.elapsed:.1f} s" if run.elapsed is not None else ""
    per_image = run.cost / max(1, len(run.images))
    caption = (
        f"{esc(request.size)} · {esc(request.resolution)} · #{image.index}{elapsed}"
        f" · {format_usd(per_image)}"
    )
    title = esc(f"{request.prompt[:300]}\n{image.width}×{image.height} · run {run.run_id}")
    heading = f"<div style='font-weight:600;margin-bottom:3px'>{esc(label)}</div>" if label else ""
    return (
        f"<figure class='banana-card' style='{CARD_STYLE}'>{heading}"
        f"<a href='{esc(file_link(image.path))}' target='_blank' title='{title}'>"
        f"<img class='banana-thumb' src='{data_uri(image.thumbnail)}' "
        f"alt='{esc(request.prompt[:120])}' style='{IMG_STYLE}'></a>"
        f"<figcaption style='margin-top:4px'>{caption} · "
        f"<a href='{esc(file_link(image.path))}' target='_blank'>full size"
        f"{f' ({image.width}×{image.height})' if image.width else ''}</a>"
        f"{image_marks(image)}</figcaption></figure>"
    )


def image_marks(image) -> str:
    """Rating, pick and a size mismatch under a thumbnail (empty when there are none)."""
    parts = []
    rating = image.rating
    if rating:
        parts.append(
            f"<span class='banana-rating' title='rated {rating} of 5'>"
            f"{'★' * rating}{'☆' * (5 - rating)}</span>"
        )
    if image.picked:
        parts.append("<span class='banana-picked' style='font-weight:600'>✓ picked</span>")
    problem = image.size_problem
    if problem:
        parts.append(
            f"<span class='banana-size-mismatch' style='color:#9a6700;font-weight:600'>"
            f"⚠ size: {esc(problem)}</span>"
        )
    return f"<div class='banana-marks'>{' · '.join(parts)}</div>" if parts else ""


def code_block(text: str, *, css_class: str = "banana-code") -> str:
    """Preformatted text (payloads, exported code), escaped, in a monospace box."""
    return f"<pre class='{css_class}' style='{PRE_STYLE}'>{esc(text)}</pre>"


def table(
    rows: Sequence[dict], *, css_class: str = "banana-table", nowrap: Sequence[str] = ()
) -> str:
    """A small left-aligned table of dicts (same keys), every value escaped."""
    if not rows:
        return ""
    head = "".join(f"<th style='{CELL_STYLE};font-weight:600'>{esc(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>"
        + "".join(
            f"<td style='{CELL_STYLE}"
            f"{';white-space:nowrap' if key in nowrap else ''}'>"
            f"{esc(str(value))}</td>"
            for key, value in row.items()
        )
        + "</tr>"
        for row in rows
    )
    return f"<table class='{css_class}' style='{TABLE_STYLE}'><tr>{head}</tr>{body}</table>"


def error_box(message: str, *, label: str | None = None) -> str:
    prefix = f"<b>{esc(label)}</b>: " if label else ""
    return f"<div class='banana-error' style='{ERROR_STYLE}'>{prefix}{esc(message)}</div>"


def note(text: str) -> str:
    return f"<div class='banana-note' style='{NOTE_STYLE}'>{esc(text)}</div>"


def run_header(run) -> str:
    if run.cached:
        source = f"stored run {run.run_id}, from disk (nothing sent, $0 spent)"
    else:
        source = f"run {run.run_id} · {format_usd(run.spent)} spent"
    badge = SIM_BADGE if run.simulated else ""
    prompt = (
        run.request.prompt if len(run.request.prompt) <= 160 else run.request.prompt[:157] + "…"
    )
    mismatches = run.size_mismatches
    warning = (
        f" · <span class='banana-size-mismatch' style='color:#9a6700;font-weight:600'>"
        f"⚠ {mismatches} of {len(run.images)} image(s) not the requested size</span>"
        if mismatches
        else ""
    )
    return (
        f"<div class='banana-run-header' style='{NOTE_STYLE}'>"
        f"<b style='color:#24292f'>{esc(prompt)}</b>{badge}<br>"
        f"{esc(run.request.model)} · {esc(run.request.summary())} · {esc(source)}{warning}</div>"
    )


def run_cards(run, *, label: str | None = None) -> list[str]:
    if run.status != "completed":
        message = run.error or f"status {run.status}"
        return [error_box(message, label=label or f"run {run.run_id}")]
    return [image_card(image, run, label=label) for image in run.images]


def grid(cards: Iterable[str]) -> str:
    return f"<div class='banana-grid' style='{GRID_STYLE}'>{''.join(cards)}</div>"


def run_html(run) -> str:
    return f"<div class='banana-run'>{run_header(run)}{grid(run_cards(run))}</div>"


def runs_html(runs: Sequence) -> str:
    return "".join(run_html(run) for run in runs)


def run_text(run) -> str:
    """The plain-text listing used where HTML cannot be shown (terminal IPython)."""
    lines = [
        f"{'cached ' if run.cached else ''}run {run.run_id} ({run.status}): {run.request.summary()}"
    ]
    if run.status != "completed":
        lines.append(f"  error: {run.error}")
    lines += [
        f"  {image.path}"
        + (f"  [size: {image.size_problem}]" if image.size_problem else "")
        + (f"  rated {image.rating}" if image.rating else "")
        + ("  picked" if image.picked else "")
        for image in run.images
    ]
    return "\n".join(lines)


# -- live progress -------------------------------------------------------------------------------
_BAR = (
    "<div style='background:#eaeef2;border-radius:3px;height:8px;width:120px;"
    "display:inline-block;vertical-align:middle'><div style='background:{color};"
    "height:8px;border-radius:3px;width:{pct}%'></div></div>"
)
_COLORS = {"completed": "#1a7f37", "cached": "#1a7f37", "failed": "#cf222e", "cancelled": "#6e7781"}


class ProgressBoard:
    """Status of every task of a batch, rendered as one small table that is updated in place."""

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        self.rows = [
            {"status": "waiting", "progress": 0, "task_id": "", "detail": ""} for _ in self.labels
        ]
        self.started = time.monotonic()

    def apply(self, event) -> None:
        row = self.rows[event.index]
        row["status"] = event.kind if event.kind != "progress" else (event.status or "running")
        if event.run is not None and event.run.task_id:
            row["task_id"] = event.run.task_id
        if event.kind in ("completed", "cached"):
            row["progress"] = 100
        elif event.progress is not None:
            row["progress"] = event.progress
        if event.kind == "failed":
            row["detail"] = str(event.error)[:200]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts

    def summary(self) -> str:
        """e.g. '3 completed, 1 failed'."""
        return ", ".join(f"{n} {status}" for status, n in self.counts().items())

    def html(self) -> str:
        elapsed = time.monotonic() - self.started
        body = []
        for label, row in zip(self.labels, self.rows):
            color = _COLORS.get(row["status"], "#0969da")
            detail = f" {esc(row['detail'])}" if row["detail"] else ""
            body.append(
                f"<tr><td style='padding:1px 8px 1px 0'>{esc(label)}</td>"
                f"<td style='padding:1px 8px'>{_BAR.format(color=color, pct=row['progress'])}"
                f" {row['progress']}%</td><td style='padding:1px 8px'>{esc(row['status'])}"
                f"{detail}</td><td style='padding:1px 8px;color:#6e7781'>"
                f"{esc(row['task_id'])}</td></tr>"
            )
        return (
            f"<div class='banana-progress' style='{NOTE_STYLE}'>"
            f"<div>{esc(self.summary())} · {elapsed:.1f} s elapsed</div>"
            f"<table style='border-collapse:collapse;font-size:12px'>{''.join(body)}"
            f"</table></div>"
        )
