"""The HTML of a sweep: labelled grids of image cards, filled in live.

Styles are inline and come from `_styles` (theme colours, a notebook keeps no
stylesheet); every label and message is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from . import _display as display
from . import _styles as styles
from ._progress import WORDS

if TYPE_CHECKING:
    from ._sweep_result import SweepPage, SweepRun


def sweep_html(result: SweepRun, *, live: bool = False) -> str:
    """The labelled grids, with the current state of every cell (`live`: the header
    tells the time elapsed and left)."""
    tables = "".join(page_html(result, page) for page in result.pages())
    return (
        f"<div class='banana-sweep'>{head_html(result, live=live)}{tables}"
        f"{stats_html(result)}</div>"
    )


def head_html(result: SweepRun, *, live: bool = False) -> str:
    """The sweep's status line (with the SIMULATED badge when it applies)."""
    return display.status_header(
        result.status_line(live=live), simulated=result.simulated, css_class="banana-sweep-summary"
    )


def stats_html(result: SweepRun) -> str:
    """The summary table under the grid, once any image is rated or picked."""
    return result.summary().html() if result.rated() else ""


def live_summary_html(result: SweepRun) -> str:
    """A big sweep while it runs: its status line, a bar, and its latest finished images."""
    from . import _styles as styles
    from ._sweep_plan import cell_label

    final = sum(1 for row in result.progress.rows if row.finished)
    pct = round(100 * final / max(1, len(result.runs)))
    bar = f"<div style='margin:4px 0'>{styles.bar(pct, width='min(520px,100%)')}</div>"
    cards = "".join(
        display.image_card(image, run, label=cell_label(result.axes, key))
        for key in reversed(result.latest)
        if (run := result.runs.get(key)) is not None
        for image in run.images[:1]
    )
    latest = f"<div style='{display.GRID_STYLE}'>{cards}</div>" if cards else ""
    head = display.status_header(
        f"{result.status_line(live=True)} The labelled grid is shown when the sweep ends.",
        simulated=result.simulated,
        css_class="banana-sweep-summary",
    )
    return f"<div class='banana-sweep banana-sweep-live'>{head}{bar}{latest}</div>"


def columns_style(columns: int) -> str:
    """The columns of a page's grid: the row labels, then one per value."""
    return f"auto repeat({columns},minmax(160px,240px))"


def page_title(page: SweepPage) -> str:
    return (
        f"<div class='banana-sweep-title' style='{styles.TITLE};font-size:13px;"
        f"padding:6px 0 2px'>{display.esc(page.title)}</div>"
        if page.title
        else ""
    )


class Part(NamedTuple):
    """One box of a page's grid: a label (its HTML) or a cell (its key), and how many
    columns it spans."""

    html: str = ""
    key: tuple | None = None
    span: int = 1


def page_parts(page: SweepPage) -> list[Part]:
    """The boxes of one page's grid in order. Cells are left to the caller to render
    (HTML here, a widget with rating controls in `_rating_grid`)."""
    esc = display.esc
    columns = len(page.col_labels)
    label = f"padding:4px 8px;font-weight:600;color:{styles.TEXT};{styles.WRAP}"
    axis = f"padding:2px 8px;color:{styles.MUTED};white-space:nowrap"
    sticky = f"position:sticky;z-index:1;background:{styles.PAGE}"
    corner = esc(f"{page.row_axis} ↓") if page.row_axis else ""
    parts = [
        Part(f"<div style='{axis}'>{corner}</div>"),
        Part(
            f"<div class='banana-sweep-axis' style='{axis};grid-column:span {columns}'>"
            f"{esc(page.col_axis)} →</div>",
            span=columns,
        ),
        Part("<div></div>"),
    ]
    parts += [
        Part(
            f"<div class='banana-sweep-col' style='{label};{sticky};top:0;"
            f"border-bottom:1px solid {styles.BORDER}'>{esc(text)}</div>"
        )
        for text in page.col_labels
    ]
    for row_label, keys in zip(page.row_labels, page.keys):
        parts.append(
            Part(
                f"<div class='banana-sweep-row' style='{label};{sticky};left:0;"
                f"align-self:stretch;border-right:1px solid {styles.BORDER}'>"
                f"{esc(row_label)}</div>"
            )
        )
        parts += [Part(key=key) for key in keys]
    return parts


def page_html(result: SweepRun, page: SweepPage) -> str:
    """One labelled grid as CSS grid boxes, not a table: the notebook's table styles
    (striped rows, hover colours, right-aligned cells) have nothing to hold on to. The
    labels stay visible (sticky) while a large grid scrolls inside its frame."""
    columns = len(page.col_labels)
    cells = [
        part.html
        if part.key is None
        else f"<div class='banana-sweep-cell' style='padding:4px'>{cell_html(result, part.key)}</div>"
        for part in page_parts(page)
    ]
    return (
        f"{page_title(page)}<div class='banana-sweep-frame' style='overflow:auto;"
        f"max-height:85vh'><div class='banana-sweep-grid' style='display:grid;"
        f"grid-template-columns:{columns_style(columns)};justify-content:start;"
        f"align-items:start;margin:6px 0'>{''.join(cells)}</div></div>"
    )


def cell_html(result: SweepRun, key: tuple) -> str:
    run = result.runs.get(key)
    if run is None:
        row = result.row(key)
        status, pct = row.describe(), row.progress
        return (
            f"<div class='banana-sweep-pending' style='{display.NOTE_STYLE}'>"
            f"{display.esc(status)} · {pct}%<br>"
            f"{styles.bar(pct, row.state, width='100%', height=6)}</div>"
        )
    if not run.ok:
        word = WORDS.get(run.status, run.status)  # "failed", "stopped": the live rows' words
        return display.error_box(run.error or f"status {run.status}", label=word)
    cards = "".join(display.image_card(image, run) for image in run.images)
    note = display.note("from the cache, $0 spent") if run.cached else ""
    return cards + note
