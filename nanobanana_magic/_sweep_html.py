"""The HTML of a sweep: labelled tables of image cards, filled in live.

Styles are inline (a notebook keeps no stylesheet); every label and message is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _display as display

if TYPE_CHECKING:
    from ._sweep_result import SweepPage, SweepRun


def sweep_html(result: SweepRun) -> str:
    """The labelled grid(s), with the current state of every cell."""
    simulated = any(run.simulated for run in result.runs.values() if run is not None)
    head = (
        f"<div class='banana-sweep-summary' style='{display.NOTE_STYLE}'>"
        f"{display.esc(result.status_line())}{display.SIM_BADGE if simulated else ''}</div>"
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
    return (
        f"<div class='banana-sweep banana-sweep-live'><div class='banana-sweep-summary' "
        f"style='{display.NOTE_STYLE}'>{display.esc(result.status_line())} The labelled "
        f"grid is shown when the sweep ends.</div>{bar}{latest}</div>"
    )


def page_html(result: SweepRun, page: SweepPage) -> str:
    esc = display.esc
    th = (
        "style='padding:4px 8px;text-align:left;vertical-align:bottom;"
        "font:600 12px system-ui,sans-serif;color:#24292f;border-bottom:1px solid "
        "#d0d7de;position:sticky;top:0;z-index:1;background:var(--jp-layout-color0,#fff)'"
    )
    axis_th = (
        "style='padding:2px 8px;text-align:left;font:12px system-ui,sans-serif;"
        "color:#57606a;white-space:nowrap'"
    )
    row_th = (
        "style='padding:4px 8px;text-align:left;vertical-align:middle;"
        "font:600 12px system-ui,sans-serif;color:#24292f;border-right:1px solid "
        "#d0d7de;position:sticky;left:0;background:var(--jp-layout-color0,#fff)'"
    )
    td = "style='padding:4px;vertical-align:top;width:220px;min-width:160px'"
    caption = (
        f"<caption style='text-align:left;font:600 13px system-ui,sans-serif;"
        f"padding:6px 0 2px'>{esc(page.title)}</caption>"
        if page.title
        else ""
    )
    corner = (
        f"<th {axis_th}>{esc(page.row_axis)} ↓</th>" if page.row_axis else f"<th {axis_th}></th>"
    )
    axis_row = (
        f"<tr>{corner}<th class='banana-sweep-axis' {axis_th} "
        f"colspan='{len(page.col_labels)}'>{esc(page.col_axis)} →</th></tr>"
    )
    header = (
        f"<tr><th {th}></th>"
        + "".join(
            f"<th class='banana-sweep-col' {th}>{esc(label)}</th>" for label in page.col_labels
        )
        + "</tr>"
    )
    body = "".join(
        f"<tr><th class='banana-sweep-row' {row_th}>{esc(label)}</th>"
        + "".join(f"<td {td}>{cell_html(result, key)}</td>" for key in keys)
        + "</tr>"
        for label, keys in zip(page.row_labels, page.keys)
    )
    # labels stay visible while a large grid scrolls inside its frame
    return (
        f"<div class='banana-sweep-frame' style='overflow:auto;max-height:85vh'>"
        f"<table class='banana-sweep-grid' style='border-collapse:collapse;"
        f"margin:6px 0'>{caption}{axis_row}{header}{body}</table></div>"
    )


def cell_html(result: SweepRun, key: tuple) -> str:
    run = result.runs.get(key)
    if run is None:
        row = result.row(key)
        status, pct = row.shown, row.progress
        return (
            f"<div class='banana-sweep-pending' style='{display.NOTE_STYLE}'>"
            f"{display.esc(status)} {pct}%<div style='background:#eaeef2;"
            f"border-radius:3px;height:6px;margin-top:3px'><div style='background:"
            f"#0969da;height:6px;border-radius:3px;width:{pct}%'></div></div></div>"
        )
    if not run.ok:
        return display.error_box(run.error or f"status {run.status}", label=run.status)
    cards = "".join(display.image_card(image, run) for image in run.images)
    note = display.note("from the cache, $0 spent") if run.cached else ""
    return cards + note
