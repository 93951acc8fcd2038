"""The HTML of a sweep: labelled grids of image cards, filled in live.

Styles are inline and come from `_styles` (theme colours, a notebook keeps no
stylesheet); every label and message is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _display as display
from . import _styles as styles
from ._progress import WORDS

if TYPE_CHECKING:
    from ._sweep_result import SweepPage, SweepRun


def sweep_html(result: SweepRun, *, live: bool = False) -> str:
    """The labelled grids, with the current state of every cell (`live`: the header
    tells the time elapsed and left)."""
    head = display.status_header(
        result.status_line(live=live), simulated=result.simulated, css_class="banana-sweep-summary"
    )
    tables = "".join(page_html(result, page) for page in result.pages())
    stats = result.summary().html() if result.rated() else ""
    return f"<div class='banana-sweep'>{head}{tables}{stats}</div>"


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


def page_html(result: SweepRun, page: SweepPage) -> str:
    """One labelled grid as CSS grid boxes, not a table: the notebook's table styles
    (striped rows, hover colours, right-aligned cells) have nothing to hold on to. The
    labels stay visible (sticky) while a large grid scrolls inside its frame."""
    esc = display.esc
    columns = len(page.col_labels)
    label = f"padding:4px 8px;font-weight:600;color:{styles.TEXT};{styles.WRAP}"
    axis = f"padding:2px 8px;color:{styles.MUTED};white-space:nowrap"
    sticky = f"position:sticky;z-index:1;background:{styles.PAGE}"
    title = (
        f"<div class='banana-sweep-title' style='{styles.TITLE};font-size:13px;"
        f"padding:6px 0 2px'>{esc(page.title)}</div>"
        if page.title
        else ""
    )
    corner = esc(f"{page.row_axis} ↓") if page.row_axis else ""
    cells = [
        f"<div style='{axis}'>{corner}</div>",
        f"<div class='banana-sweep-axis' style='{axis};grid-column:span {columns}'>"
        f"{esc(page.col_axis)} →</div>",
        "<div></div>",
    ]
    cells += [
        f"<div class='banana-sweep-col' style='{label};{sticky};top:0;"
        f"border-bottom:1px solid {styles.BORDER}'>{esc(text)}</div>"
        for text in page.col_labels
    ]
    for row_label, keys in zip(page.row_labels, page.keys):
        cells.append(
            f"<div class='banana-sweep-row' style='{label};{sticky};left:0;"
            f"align-self:stretch;border-right:1px solid {styles.BORDER}'>{esc(row_label)}</div>"
        )
        cells += [
            f"<div class='banana-sweep-cell' style='padding:4px'>{cell_html(result, key)}</div>"
            for key in keys
        ]
    return (
        f"{title}<div class='banana-sweep-frame' style='overflow:auto;max-height:85vh'>"
        f"<div class='banana-sweep-grid' style='display:grid;grid-template-columns:"
        f"auto repeat({columns},minmax(160px,240px));justify-content:start;"
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
