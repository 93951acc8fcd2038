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
