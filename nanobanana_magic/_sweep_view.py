"""A sweep grid as a widget: choose which axes form rows and columns, and with three or
more axes pick one combination of the others at a time (a selector over the grids)."""

from __future__ import annotations

import ipywidgets as widgets

from . import _styles as styles
from ._sweep_html import page_html
from ._widgets import HTMLView


class SweepView(widgets.VBox):
    """Rows/columns choosers, a selector over the other axes' values, and the grid."""

    def __init__(self, result, *, rows: str | None = None, cols: str | None = None):
        self.result = result
        axes = list(result.axes)
        rows = rows or axes[0]
        cols = cols or next(name for name in axes if name != rows) if len(axes) > 1 else None
        self.rows = widgets.Dropdown(options=axes, value=rows, description="Rows")
        self.cols = widgets.Dropdown(options=axes, value=cols, description="Columns")
        self.selector = widgets.ToggleButtons(options=[("", 0)], value=0)
        self.rows.add_class("banana-sweep-rows")
        self.cols.add_class("banana-sweep-cols")
        self.selector.add_class("banana-sweep-selector")
        self.grid = HTMLView()  # the thumbnails' links resolved by the front end
        self.grid.add_class("banana-sweep-view-grid")
        self.message = widgets.HTML()
        choosers = [self.rows, self.cols] if len(axes) > 1 and not result.plan.zipped else []
        super().__init__([widgets.HBox(choosers), self.selector, self.message, self.grid])
        self.add_class("banana-sweep-view")
        self.rows.observe(lambda _: self._axes_changed("rows"), "value")
        self.cols.observe(lambda _: self._axes_changed("cols"), "value")
        self.selector.observe(lambda _: self.draw(), "value")
        self._axes_changed(None)

    def _axes_changed(self, which) -> None:
        if self.rows.value == self.cols.value and which is not None:
            other = next(n for n in self.result.axes if n != self.rows.value)
            # keep the two different: the chooser not touched moves out of the way
            (self.cols if which == "rows" else self.rows).value = other
            return
        pages = self._pages()
        titles = [(page.title or "all", i) for i, page in enumerate(pages)]
        self.selector.options = titles
        self.selector.value = 0
        self.selector.layout.display = None if len(titles) > 1 else "none"
        self.draw()

    def _pages(self):
        if len(self.result.axes) < 2 or self.result.plan.zipped:
            return self.result.pages()
        return self.result.pages(rows=self.rows.value, cols=self.cols.value)

    def draw(self) -> None:
        pages = self._pages()
        index = min(self.selector.value or 0, len(pages) - 1)
        self.grid.value = styles.output(page_html(self.result, pages[index]))
