"""A run's or a sweep's grid as a widget, with rating stars and Pick under every thumbnail.

Where widgets render (a Jupyter kernel), a `%%banana` cell's Run, a sweep's SweepRun and
`%banana show` are displayed as two outputs: the widget view, then the static grid of
`_display`/`_sweep_html` (the same HTML as ever) in an output of its own (`view_tail`),
hidden while the view is alive. Reopened after a kernel restart, or untrusted, or as an
nbconvert page, the view finds no model and the static grid shows in its place (the
tail also hides ipywidgets' "model not found" line); one output holding both would leave
JupyterLab choosing the dead view. Cards are `_display.image_card` in both.

A click writes to the output folder's annotations (`_annotations`, as `%banana rate`
does). Every change recorded in this process, by a click, `image.rate()` or a line
command, reaches the grids on screen that show the image (an `_annotations` listener):
they redraw its card and controls, a sweep its summary table, and each grid's static
output is updated (`update_display`), the part a saved notebook keeps, so it shows the
marks as they are now.

Elsewhere (terminal IPython, the in-process shell) and for sweeps of more than
`LIVE_GRID_CELLS` cells (thousands of widgets would swamp the browser; `SweepRun.view()`
and `controls()` remain), the static grid alone is displayed, as before.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as widgets

from . import _annotations
from . import _display as display
from ._image_controls import ImageTile
from ._live import in_kernel
from ._run import Run
from ._styles import RUN_COLUMNS
from ._sweep_html import cell_html, columns_style, head_html, page_parts, page_title, stats_html
from ._sweep_result import LIVE_GRID_CELLS, SweepRun
from ._widgets import hook as _hook
from ._widgets import shared, view_tail

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: the class naming the static output after a grid's view (`view_tail`)
TAIL = "banana-rating-tail"

if TYPE_CHECKING:
    Subject = Run | Sequence[Run] | SweepRun


class RatingGrid(widgets.VBox):
    """The grid of a run, of several runs (the panel) or of a sweep, each image a card
    with its controls underneath. `on_refresh` callbacks run after the grid redrew marks
    changed elsewhere (or by its own controls)."""

    def __init__(self, subject: Subject, *, on_reference: Callable | None = None):
        self.subject = subject
        self.on_reference = on_reference
        self.tiles: list[ImageTile] = []
        self.on_refresh: list[Callable[[], None]] = []
        self.stats: widgets.HTML | None = None
        if isinstance(subject, SweepRun):
            children = self._sweep(subject)
        else:
            children = self._runs([subject] if isinstance(subject, Run) else list(subject))
        super().__init__(children)
        self.add_class("banana-rating-grid")
        if isinstance(subject, SweepRun):
            self.add_class("banana-sweep")
        self._roots = {tile.image.root.resolve() for tile in self.tiles}
        _ON_SCREEN.add(self)

    # -- layout -------------------------------------------------------------------------------
    def _tile(self, image, run) -> ImageTile:
        tile = ImageTile(
            image, run, on_reference=self.on_reference, layout=shared(widgets.Layout, margin="0")
        )
        self.tiles.append(tile)
        return tile

    def _runs(self, runs: list[Run]) -> list:
        children: list = []
        for run in runs:  # the classes of the static grid's boxes are the tests' hooks too
            parts: list = [_html(display.run_header(run))]
            if run.ok:
                parts.append(
                    _hook(
                        widgets.GridBox(
                            [self._tile(image, run) for image in run.images],
                            layout=widgets.Layout(
                                grid_template_columns=RUN_COLUMNS,
                                grid_gap="10px",
                                align_items="flex-start",
                                margin="6px 0",
                            ),
                        ),
                        "banana-grid",
                    )
                )
            else:
                parts += [_html(card) for card in display.run_cards(run)]
            children.append(_hook(widgets.VBox(parts), "banana-run"))
        return children

    def _sweep(self, result: SweepRun) -> list:
        children: list = [_html(head_html(result))]
        for page in result.pages():
            if page.title:
                children.append(_html(page_title(page)))
            boxes = []
            for part in page_parts(page):
                if part.key is None:
                    # grid_area, not grid_column: ipywidgets removes an unset grid-area
                    # after setting grid-column, and that shorthand clears it again
                    span = f"auto / span {part.span}" if part.span > 1 else None
                    box = _html(part.html, layout=shared(widgets.Layout, grid_area=span))
                else:
                    box = self._cell(result, part.key)
                boxes.append(box)
            children.append(
                _hook(
                    widgets.GridBox(
                        boxes,
                        layout=widgets.Layout(
                            grid_template_columns=columns_style(len(page.col_labels)),
                            justify_content="flex-start",
                            align_items="flex-start",
                            margin="6px 0",
                        ),
                    ),
                    "banana-sweep-grid",
                )
            )
        self.stats = _html(stats_html(result))
        children.append(self.stats)
        return children

    def _cell(self, result: SweepRun, key: tuple):
        run = result.runs.get(key)
        if run is None or not run.ok:
            return _html(cell_html(result, key))
        items: list = [self._tile(image, run) for image in run.images]
        if run.cached:
            items.append(_html(display.note("from the cache, $0 spent")))
        return widgets.VBox(items, layout=shared(widgets.Layout, padding="4px", grid_gap="4px"))

    # -- the static grid and redraws -------------------------------------------------------------
    def static_html(self) -> str:
        """The same grid as static HTML, with the marks as they are now (a fragment)."""
        if isinstance(self.subject, SweepRun):
            return self.subject.html()
        runs = [self.subject] if isinstance(self.subject, Run) else self.subject
        return display.runs_html(runs)

    def shows(self, root: Path, run_id: str, index: int | None) -> bool:
        """True when the grid shows that image (`root` resolved)."""
        return root in self._roots and any(
            tile.image.run_id == run_id and index in (None, tile.image.index) for tile in self.tiles
        )

    def refresh(self, run_id: str, index: int | None = None) -> None:
        """Redraw the marks of that image (every image of the run when index is None)."""
        for tile in self.tiles:
            if tile.image.run_id == run_id and index in (None, tile.image.index):
                tile.refresh()
        if self.stats is not None and isinstance(self.subject, SweepRun):
            self.stats.value = display.output(stats_html(self.subject))
        for callback in list(self.on_refresh):
            callback()


#: grids that may be on screen (a grid lives while its widget is open)
_ON_SCREEN: weakref.WeakSet[RatingGrid] = weakref.WeakSet()


def _marks_changed(root: Path, run_id: str, index: int | None) -> None:
    if index is None:  # a tag or a note: nothing of it is under a thumbnail
        return
    root = root.resolve()
    for grid in list(_ON_SCREEN):
        if grid.comm is not None and grid.shows(root, run_id, index):
            grid.refresh(run_id, index)


_annotations.listeners.append(_marks_changed)


def _html(fragment: str, *, layout=None) -> widgets.HTML:
    return widgets.HTML(display.output(fragment), layout=layout or shared(widgets.Layout))


# -- displaying ----------------------------------------------------------------------------------
def can_rate(subject: Subject) -> bool:
    """True when the subject has images to rate and is small enough for widgets."""
    if isinstance(subject, SweepRun):
        runs = [run for run in subject.runs.values() if run is not None]
        if len(subject.runs) > LIVE_GRID_CELLS:
            return False
    else:
        runs = [subject] if isinstance(subject, Run) else list(subject)
    return any(run.ok and run.images for run in runs)


class GridOutput:
    """Two outputs: `grid`'s widget view, then its static HTML (`view_tail`), shown only
    where the view is not. The static part is re-sent whenever the grid redraws, so a
    saved notebook shows the marks as they are now."""

    def __init__(
        self,
        subject: Run | SweepRun,
        *,
        display_id: str | None = None,
        tail_id: str | None = None,
    ):
        self.subject = subject
        self.grid = RatingGrid(subject)
        #: new outputs', or the ones this grid replaces (a background cell's live display
        #: and the empty output kept after it, `LiveStatus.start(grid_slot=True)`)
        self.display_id = display_id or uuid.uuid4().hex
        self.tail_id = tail_id or uuid.uuid4().hex
        self.grid.on_refresh.append(self.update)

    def view_bundle(self) -> tuple[dict, dict]:
        """The widget view with the subject's provenance; nothing else: where the view does
        not render (an HTML page, a text export), the tail says it all."""
        _, metadata = self.subject._repr_mimebundle_()
        view = self.grid._repr_mimebundle_()
        return {"text/plain": "", WIDGET_VIEW: view[WIDGET_VIEW]}, metadata

    def tail_bundle(self) -> tuple[dict, dict]:
        """The static grid as it is now (and its text listing), shown only where the view
        is not."""
        data, metadata = self.subject._repr_mimebundle_()
        return {**data, "text/html": view_tail(TAIL, data["text/html"])}, metadata

    def show(self) -> GridOutput:
        """Display both outputs (new ones, or in place of those named by the ids)."""
        from IPython.display import display

        for bundle, display_id in self._parts():
            data, metadata = bundle
            display(data, metadata=metadata, raw=True, display_id=display_id)
        return self

    def replace(self) -> GridOutput:
        """Show both outputs in place of the ones their ids name (already on screen)."""
        from IPython.display import update_display

        for bundle, display_id in self._parts():
            data, metadata = bundle
            update_display(data, metadata=metadata, raw=True, display_id=display_id)
        return self

    def update(self) -> None:
        """Re-send the static grid (the view redraws itself)."""
        from IPython.display import update_display

        data, metadata = self.tail_bundle()
        update_display(data, metadata=metadata, raw=True, display_id=self.tail_id)

    def _parts(self):
        return ((self.view_bundle(), self.display_id), (self.tail_bundle(), self.tail_id))


def display_grid(subject: Run | SweepRun) -> GridOutput:
    """Display the subject as a rating grid (the `_ipython_display_` of Run and SweepRun).

    Raises NotImplementedError where widgets do not render or the subject has nothing to
    rate: IPython then displays the subject's own static bundle (`_repr_mimebundle_`), as
    a cell's value (`Out[n]`) where there is one."""
    from IPython import get_ipython

    if not in_kernel(get_ipython()) or not can_rate(subject):
        raise NotImplementedError("the static grid is displayed instead")
    return GridOutput(subject).show()
