"""Small helpers shared by the widget views (the panel, the gallery, rating controls)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

W = Any  # an ipywidgets widget


def hook(widget: W, *classes: str) -> W:
    """Give the widget CSS classes: `banana-*` names are the stable hooks of the tests."""
    for name in classes:
        widget.add_class(name)
    return widget


_SHARED: dict[tuple, W] = {}


def shared(kind: type, **traits) -> W:
    """One `kind` widget (a Layout or a style) with these traits for every view asking for
    it, never changed afterwards: a grid of many buttons then sends, and a notebook saved
    with its widget state keeps, one such model instead of one per button."""
    key = (kind, tuple(sorted(traits.items())))
    widget = _SHARED.get(key)
    if widget is None or widget.comm is None:  # none yet, or closed (Widget.close_all)
        widget = _SHARED[key] = kind(**traits)
    return widget


def dropdown(
    options: Sequence, description: str, css_class: str, *, width: str, label_width: str = "80px"
) -> W:
    """A labelled dropdown with its CSS hook."""
    return hook(
        widgets.Dropdown(
            options=list(options),
            description=description,
            style={"description_width": label_width},
            layout=widgets.Layout(width=width),
        ),
        css_class,
    )


class HTMLView(widgets.Output):
    """HTML with links to files, shown like a cell's output (`value` as in `widgets.HTML`).

    A `widgets.HTML` view puts its text into the page as it is, so a link to a full-size
    file resolves against the page's own address (`/lab/tree/...`: a second JupyterLab)
    and the thumbnail's zoom cannot load the file. An Output widget hands the HTML to the
    front end's renderer, which turns those links into the server's file URLs."""

    def __init__(self, value: str = "", **kwargs):
        super().__init__(**kwargs)
        self.value = value

    @property
    def value(self) -> str:
        return self._html

    @value.setter
    def value(self, html_text: str) -> None:
        self._html = html_text
        data = {"text/html": html_text, "text/plain": ""}
        self.outputs = (
            ({"output_type": "display_data", "data": data, "metadata": {}},) if html_text else ()
        )


def view_tail(marker: str, when_dead: str = "") -> str:
    """HTML for the output displayed right after a widget view (`marker`: a class naming
    it), which keeps the cell readable once the view's kernel has gone.

    Reopened without its kernel, a view finds no model, and ipywidgets 8 (JupyterLab 4,
    Notebook 7) writes "Error displaying widget: model not found" in its place: the output
    element itself then has the class `jupyter-widgets` (a live view is an element inside
    it that has the class). The first rule hides that one output, the one just before this
    tail, and no other. `when_dead` is shown only while no live view is above it: after a
    reopen, in an untrusted notebook (which renders no widget views and drops <style>),
    on an HTML page."""
    rules = (
        "<style>.jp-OutputArea-child:has(> .jp-OutputArea-output.jupyter-widgets)"
        f":has(+ .jp-OutputArea-child .{marker}){{display:none}}"
        ".jp-OutputArea-child:has(> .jp-OutputArea-output > .jupyter-widgets)"
        f" + .jp-OutputArea-child .{marker}-when-dead{{display:none}}</style>"
    )
    dead = f"<div class='{marker}-when-dead'>{when_dead}</div>" if when_dead else ""
    return f"{rules}<div class='{marker}'>{dead}</div>"
