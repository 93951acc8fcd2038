"""The gallery: browse an output folder's images, filter them, act on a selection.

`gallery()` / `%banana gallery` shows the filters of `%banana history` (search, tag,
picked, minimum rating, model, size, since), one page of thumbnails at a time (each with
its rating stars, Pick, "Use as reference" and a checkbox to select it), and actions on
the selection: show, compare, rerun, export, use as reference. Everything is read from
disk; only Rerun sends (through the same engine, on the kernel's loop, cache first).
Where widgets cannot render, the output carries a static HTML page of the first page of
thumbnails instead.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import logging

import ipywidgets as widgets

from . import _display as display
from ._errors import BananaError
from ._history_filter import RunFilter, parse_since
from ._image_controls import ImageTile
from ._request import KNOWN_MODELS, SIZES
from ._styles import BORDER
from ._widgets import HTMLView, view_tail
from ._widgets import hook as _hook
from ._wording import plural

log = logging.getLogger("nanobanana_magic")
ANY = "any"


def matching_images(store, run_filter: RunFilter) -> StoredImages:
    """(run, image) of every completed run that passes the filter, newest run first; the
    rating and pick filters apply to each image. One index query (`RunIndex.images`);
    runs are read from disk only for the images a page shows."""
    if not (store.root / "runs").is_dir():
        return StoredImages(store, [])
    pairs = store.index().images(
        run_filter.search,
        **run_filter.index_filters(),
    )
    return StoredImages(store, pairs)


class StoredImages(collections.abc.Sequence):
    """A gallery's images as a sequence of (run, image), each run read when first shown."""

    def __init__(self, store, pairs: list[tuple[str, int]]):
        self.store, self.pairs = store, pairs
        self._runs: collections.OrderedDict = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self.pairs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (list, tuple, StoredImages)):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self.pairs)))]
        run_id, index = self.pairs[item]
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = self.store.load_run(run_id)
            while len(self._runs) > 256:
                self._runs.popitem(last=False)
        image = next((image for image in run.images if image.index == index), run.images[0])
        return run, image


def static_gallery_html(items, *, limit: int = 24, title: str = "") -> str:
    """The fallback where widgets do not render: thumbnails with their marks, linked."""
    cards = [
        display.image_card(image, run, label=str(image.address)) for run, image in items[:limit]
    ]
    more = f" (first {limit} shown)" if len(items) > limit else ""
    heading = display.note(f"{title}{plural(len(items), 'image')}{more}.")
    return display.output(
        f"<div class='banana-gallery-static'>{heading}{display.grid(cards)}</div>"
    )


class Gallery(widgets.VBox):
    """A widget browser over an output folder's runs (see the module docstring)."""

    def __init__(self, store, *, magic=None, panel=None, page_size: int = 12, filters=None):
        self.store, self.magic, self.panel = store, magic, panel
        self.page_size, self.page = page_size, 0
        self.items: collections.abc.Sequence[tuple] = []
        self.references: list = []
        self._build(filters or RunFilter())
        super().__init__(
            [
                self.filters_box,
                self.pager,
                self.tiles,
                self.actions,
                self.message,
                self.cell,
                self.output,
            ],
            layout=widgets.Layout(border=f"1px solid {BORDER}", padding="8px 10px"),
        )
        self.add_class("banana-gallery")
        self.refresh()

    # -- construction ----------------------------------------------------------------------
    def _build(self, start: RunFilter) -> None:
        W, L = widgets, widgets.Layout
        short = {"description_width": "70px"}
        self.search = _hook(
            W.Text(
                value=start.search or "",
                description="Search",
                style=short,
                placeholder="prompt, note or tag",
            ),
            "banana-gallery-search",
        )
        self.tag = _hook(
            W.Text(value=start.tag or "", description="Tag", style=short, layout=L(width="200px")),
            "banana-gallery-tag",
        )
        self.picked = _hook(
            W.Checkbox(
                value=start.picked, description="picked only", indent=False, layout=L(width="110px")
            ),
            "banana-gallery-picked",
        )
        self.min_rating = _hook(
            W.Dropdown(
                options=[(ANY, 0)] + [(f"★ ≥ {n}", n) for n in range(1, 6)],
                value=start.min_rating or 0,
                description="Rating",
                style=short,
                layout=L(width="170px"),
            ),
            "banana-gallery-rating",
        )
        self.model = _hook(
            W.Dropdown(
                options=[ANY, *KNOWN_MODELS],
                value=start.model or ANY,
                description="Model",
                style=short,
                layout=L(width="300px"),
            ),
            "banana-gallery-model",
        )
        self.size = _hook(
            W.Dropdown(
                options=[ANY, *SIZES],
                value=start.size or ANY,
                description="Size",
                style=short,
                layout=L(width="160px"),
            ),
            "banana-gallery-size",
        )
        self.since = _hook(
            W.Text(
                description="Since",
                style=short,
                layout=L(width="220px"),
                placeholder="2025-01-31 or 3d",
            ),
            "banana-gallery-since",
        )
        self._since_value = start.since
        row = L(flex_flow="row wrap", align_items="center")
        self.filters_box = W.VBox(
            [
                W.HBox([self.search, self.tag, self.picked], layout=row),
                W.HBox([self.min_rating, self.model, self.size, self.since], layout=row),
            ]
        )
        for field in (
            self.search,
            self.tag,
            self.picked,
            self.min_rating,
            self.model,
            self.size,
            self.since,
        ):
            field.observe(lambda _: self._filters_changed(), "value")
        self.previous = _hook(
            W.Button(description="‹ Previous", layout=L(width="100px")), "banana-gallery-previous"
        )
        self.next = _hook(
            W.Button(description="Next ›", layout=L(width="100px")), "banana-gallery-next"
        )
        self.page_label = _hook(W.Label(), "banana-gallery-page")
        self.previous.on_click(lambda _: self.go(self.page - 1))
        self.next.on_click(lambda _: self.go(self.page + 1))
        self.pager = W.HBox([self.previous, self.page_label, self.next], layout=row)
        self.tiles = _hook(W.Box(layout=L(flex_flow="row wrap")), "banana-gallery-tiles")
        self.buttons = {}
        for name, label in (
            ("show", "Show"),
            ("compare", "Compare"),
            ("rerun", "Rerun"),
            ("export", "Export"),
            ("reference", "Use as reference"),
        ):
            button = _hook(W.Button(description=label), f"banana-gallery-{name}")
            button.on_click(lambda _, n=name: self.act(n))
            self.buttons[name] = button
        self.actions = W.HBox(list(self.buttons.values()), layout=row)
        self.message = _hook(W.HTML(), "banana-gallery-message")
        self.cell = _hook(
            W.Textarea(layout=L(width="auto", height="70px", display="none")), "banana-gallery-cell"
        )
        self.output = _hook(HTMLView(layout=L(width="auto")), "banana-gallery-output")

    # -- filtering and paging ----------------------------------------------------------------
    def run_filter(self) -> RunFilter:
        return RunFilter(
            search=self.search.value.strip() or None,
            tag=self.tag.value.strip() or None,
            picked=self.picked.value,
            min_rating=self.min_rating.value or None,
            model=None if self.model.value == ANY else self.model.value,
            size=None if self.size.value == ANY else self.size.value,
            since=self._since_value,
        )

    def _filters_changed(self) -> None:
        text = self.since.value.strip()
        try:
            self._since_value = parse_since(text) if text else None
        except BananaError as exc:
            self.say(str(exc), error=True)
            return
        self.page = 0
        self.refresh()

    def refresh(self) -> None:
        """Read the folder again and show the current page."""
        self.items = matching_images(self.store, self.run_filter())
        self.go(self.page)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.items) // self.page_size))

    def go(self, page: int) -> None:
        self.page = min(max(0, page), self.pages - 1)
        start = self.page * self.page_size
        shown = self.items[start : start + self.page_size]
        self.selected_boxes = []
        tiles = []
        for run, image in shown:
            select = _hook(
                widgets.Checkbox(description="select", indent=False), "banana-gallery-select"
            )
            select.image, select.run = image, run
            self.selected_boxes.append(select)
            tiles.append(
                ImageTile(
                    image,
                    run,
                    label=str(image.address),
                    on_reference=self.use_as_reference,
                    extra=[select],
                )
            )
        self.tiles.children = tiles
        self.page_label.value = (
            f"page {self.page + 1} of {self.pages} · {plural(len(self.items), 'image')}"
        )
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.pages - 1

    def select(self, *positions: int) -> None:
        """Tick the checkboxes of these tiles of the current page."""
        for position in positions:
            self.selected_boxes[position].value = True

    @property
    def selection(self) -> list[tuple]:
        return [(box.run, box.image) for box in self.selected_boxes if box.value]

    # -- actions ------------------------------------------------------------------------------
    def say(self, text: str, *, error: bool = False) -> None:
        self.message.value = (
            display.error_box(text) if error else (display.note(text) if text else "")
        )

    def act(self, action: str) -> None:
        chosen = self.selection
        if not chosen:
            self.say("Select one or more images first (the checkbox under each).", error=True)
            return
        try:
            getattr(self, f"_action_{action}")(chosen)
        except BananaError as exc:
            self.say(str(exc), error=True)

    def _action_show(self, chosen) -> None:
        runs = {run.run_id: run for run, _ in chosen}
        for run in runs.values():
            run.cached = True
        self.output.value = display.runs_html(list(runs.values()))
        self.say(f"Showing {plural(len(runs), 'run')} from disk; nothing sent.")

    def _action_compare(self, chosen) -> None:
        from ._compare import compare

        self.output.value = compare(*(image for _, image in chosen), store=self.store)._repr_html_()
        self.say("")

    def _action_export(self, chosen) -> None:
        from ._export import export_request

        runs = {run.run_id: run for run, _ in chosen}
        text = "\n\n".join(export_request(run, self.store, "python") for run in runs.values())
        self.output.value = display.code_block(text, css_class="banana-export")
        self.say(
            f"Exported {plural(len(runs), 'run')}; the code reads the key from TOAPIS_API_KEY."
        )

    def use_as_reference(self, image) -> None:
        """Collect an image as a reference: into the panel's form when one is attached,
        else into the `%%banana --ref ...` cell shown under the gallery."""
        if self.panel is not None:
            self.panel.use_as_reference(image)
            self.say(f"{image.address} added to the panel's references.")
            return
        if str(image.address) not in map(str, self.references):
            self.references.append(image.address)
        refs = " ".join(f"--ref {address}" for address in self.references)
        self.cell.value = f"%%banana {refs}\n"
        self.cell.layout.display = None
        self.say(
            f"{plural(len(self.references), 'reference')} in the cell below; "
            "add a prompt and run it."
        )

    def _action_reference(self, chosen) -> None:
        for _, image in chosen:
            self.use_as_reference(image)

    def _action_rerun(self, chosen):
        runs = list({run.run_id: run for run, _ in chosen}.values())
        engine = self.magic.engine() if self.magic is not None else _engine_for(self.store)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.say(
                "Rerun needs a running Jupyter kernel; use %banana rerun RUN here.", error=True
            )
            return None
        self.say(f"Rerunning {plural(len(runs), 'run')} (stored results come from the cache)…")

        async def work():
            try:
                done = await engine.run([run.request for run in runs])
            except BananaError as exc:
                self.say(str(exc), error=True)
                return []
            self.output.value = display.runs_html(done)
            self.say(f"Rerun finished: {plural(len(done), 'run')}.")
            self.refresh()
            return done

        self.task = loop.create_task(work())
        return self.task

    # -- where widgets do not render ------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/html"] = self.static_html()
        data["text/plain"] = f"<Gallery of {self.store.root}: {plural(len(self.items), 'image')}>"
        return bundle

    def static_html(self) -> str:
        return static_gallery_html(self.items, title="Gallery (static view): ")

    def _ipython_display_(self) -> None:
        """The widget view, then its static page in an output of its own, shown only where
        the view is not (reopened without its kernel, untrusted, an HTML page), where it
        also hides ipywidgets' "model not found" line (`view_tail`)."""
        from IPython.display import display as show

        bundle = self._repr_mimebundle_()
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
        del data["text/html"]  # a front end without widgets shows the tail's page instead
        show(data, raw=True)
        tail = view_tail("banana-gallery-tail", self.static_html())
        show({"text/html": tail, "text/plain": ""}, raw=True)


def _engine_for(store):
    from ._engine import Engine

    return Engine(store=store)


def gallery(output_dir=None, *, panel=None, page_size: int = 12, **filters) -> Gallery:
    """A gallery of the output folder's images; `filters` as in `%banana history`
    (search=, tag=, picked=, min_rating=, model=, size=, since= a date text)."""
    from ._store import Store

    since = filters.pop("since", None)
    run_filter = RunFilter(**filters, since=parse_since(since) if since else None)
    return Gallery(Store(output_dir), panel=panel, page_size=page_size, filters=run_filter)
