"""Rating and pick controls under a thumbnail, where widgets render (grids, panel, gallery).

`ImageControls(image)` is a row of five star buttons (clicking the current rating clears
it), a Pick toggle and, when given a callback, "Use as reference". Every click writes to
the output folder's annotations at once (no page reload); `ImageTile` is the thumbnail
card (`_display.image_card`, the one renderer of a card) above those controls, redrawn so
its caption shows the new marks. Stable CSS classes (`banana-rate-3`, `banana-pick`,
`banana-use-reference`) are the test hooks. `_rating_grid` lays tiles out as a run's or
a sweep's grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets

from . import _display as display
from ._widgets import HTMLView, shared
from ._widgets import hook as _hook


class ImageControls(widgets.HBox):
    """Stars 1-5, Pick, and optionally "Use as reference", for one stored image."""

    def __init__(self, image, *, on_reference: Callable | None = None, on_change=None):
        self.image = image
        self.on_change = on_change
        small = shared(widgets.Layout, width="28px", padding="0", margin="0 1px")
        style = shared(widgets.ButtonStyle)
        self.stars = [
            _hook(
                widgets.Button(
                    description="☆", tooltip=f"rate {n} of 5", layout=small, style=style
                ),
                "banana-rate",
                f"banana-rate-{n}",
            )
            for n in range(1, 6)
        ]
        for n, button in enumerate(self.stars, start=1):
            button.on_click(lambda _, n=n: self.rate(n))
        self.pick_button = _hook(
            widgets.ToggleButton(
                description="Pick",
                layout=shared(widgets.Layout, width="64px"),
            ),
            "banana-pick",
        )
        self.pick_button.observe(self._on_pick, "value")
        children = [*self.stars, self.pick_button]
        if on_reference is not None:
            self.reference_button = _hook(
                widgets.Button(
                    description="Use as reference",
                    tooltip="Add the full-size image to the references of the next request",
                    layout=widgets.Layout(width="130px"),
                ),
                "banana-use-reference",
            )
            self.reference_button.on_click(lambda _: on_reference(self.image))
            children.append(self.reference_button)
        super().__init__(
            children, layout=shared(widgets.Layout, flex_flow="row wrap", align_items="center")
        )
        self.add_class("banana-image-controls")
        self._quiet = False
        self.refresh()

    def refresh(self) -> None:
        """Show the image's current rating and pick (as stored)."""
        rating = self.image.rating or 0
        for n, button in enumerate(self.stars, start=1):
            button.description = "★" if n <= rating else "☆"
        self._quiet = True
        try:
            self.pick_button.value = self.image.picked
        finally:
            self._quiet = False

    def rate(self, rating: int) -> None:
        """Rate the image (the current rating again clears it)."""
        self.image.rate(0 if rating == (self.image.rating or 0) else rating)
        self._changed()

    def _on_pick(self, change) -> None:
        if not self._quiet:
            self.image.pick(change["new"])
            self._changed()

    def _changed(self) -> None:
        self.refresh()
        if self.on_change is not None:
            self.on_change(self.image)


class ImageTile(widgets.VBox):
    """A thumbnail card with its controls underneath."""

    def __init__(
        self,
        image,
        run,
        *,
        label: str | None = None,
        on_reference=None,
        card=True,
        extra=(),
        layout: widgets.Layout | None = None,
    ):
        self.image, self.run, self.label, self.with_card = image, run, label, card
        #: the card (HTML with file links, so an Output widget: see `HTMLView`)
        self.card = HTMLView(self._card(), layout=shared(widgets.Layout))
        self.controls = ImageControls(image, on_reference=on_reference, on_change=self._redraw)
        super().__init__(
            [self.card, self.controls, *extra],
            layout=layout or shared(widgets.Layout, width="270px", margin="0 8px 8px 0"),
        )
        self.add_class("banana-tile")

    def _card(self) -> str:
        if not self.with_card:  # the grid above shows the picture: name the image only
            title = f"{self.label} · " if self.label else ""
            return display.output(display.note(f"{title}{self.image.address}"))
        return display.output(
            display.image_card(self.image, self.run, label=self.label, linked=True)
        )

    def refresh(self) -> None:
        """Show the image's marks as stored now (after a change made elsewhere)."""
        self.controls.refresh()
        self._redraw(self.image)

    def _redraw(self, _image) -> None:
        html_text = self._card()
        if html_text != self.card.value:  # unchanged: nothing sent to the front end
            self.card.value = html_text


def tiles(runs: Sequence, *, on_reference=None, labels: Sequence[str] | None = None, cards=True):
    """A wrapping box of tiles, one per image of the runs (completed ones); `cards=False`
    gives the controls with a label only, for under a grid that shows the pictures."""
    items = []
    for position, run in enumerate(runs):
        if run is None or not run.ok:
            continue
        label = labels[position] if labels else None
        items += [
            ImageTile(image, run, label=label, on_reference=on_reference, card=cards)
            for image in run.images
        ]
    box = widgets.Box(items, layout=widgets.Layout(flex_flow="row wrap"))
    box.add_class("banana-tiles")
    return box
