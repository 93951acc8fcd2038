"""Compare stored images side by side: what differs between their requests, and how.

`compare(a, b, ...)` takes runs, run ids (every image of the run) and images (`RUN#i`
addresses or `run.images[i]`), reads everything from disk and sends nothing. It shows
the images at one common scale (a 2K image is drawn twice as wide as a 1K one), a table
of the request parameters with the rows that differ highlighted, and each prompt diffed
word by word against the first. `Comparison.overlay()` is a widget that shows two images
of the same pixel size in one place, switching between them with a toggle.
"""

from __future__ import annotations

import difflib
import os

from . import _display as display
from . import _styles as styles
from ._addresses import resolve_image, resolve_run, split_address
from ._errors import ValidationError
from ._run import Run, RunImage

#: the widest image is drawn this many CSS pixels wide; the others at the same scale
COMPARE_WIDTH = 360
#: rows shown for each image but never highlighted as a difference of the requests
_NOT_PARAMETERS = ("image", "rating", "picked")
# light chips with their own dark text: readable on light and dark themes alike
DIFF_STYLE = "background:#fff8c5;color:#1f2328;font-weight:600"
INSERT_STYLE = "background:#dafbe1;color:#116329;text-decoration:none"
DELETE_STYLE = "background:#ffebe9;color:#82071e"


def _images_of(item, store) -> list[RunImage]:
    if isinstance(item, RunImage):
        return [item]
    if isinstance(item, Run):
        return list(item.images)
    if isinstance(item, str):
        if "#" in item:
            split_address(item)  # a clear sentence for a malformed address
            return [resolve_image(store, item)[1]]
        return list(resolve_run(store, item).images)
    raise ValidationError(
        f"compare takes runs, run ids and images (RUN#i), not {type(item).__name__}."
    )


def _parameters(image: RunImage) -> dict[str, str]:
    request = image.request
    return {
        "image": str(image.address),
        "model": request.model,
        "size": request.size,
        "resolution": request.resolution,
        "n": str(request.n),
        "references": ", ".join(os.path.basename(r) for r in request.reference_images) or "–",
        "search": ("image" if request.google_image_search else "web")
        if request.google_search
        else "–",
        "metadata": ", ".join(f"{k}={v}" for k, v in request.extra_metadata) or "–",
        "variant": request.variant or "–",
        "pixels": f"{image.width}×{image.height}" if image.width else "–",
        "rating": str(image.rating or "–"),
        "picked": "yes" if image.picked else "–",
    }


def word_diff(base: str, other: str) -> list[tuple[str, str]]:
    """(kind, text) pieces turning `base` into `other`: same, insert or delete."""
    a, b = base.split(), other.split()
    pieces = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            pieces.append(("same", " ".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            pieces.append(("delete", " ".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            pieces.append(("insert", " ".join(b[j1:j2])))
    return pieces


def _diff_html(base: str, other: str) -> str:
    out = []
    for kind, text in word_diff(base, other):
        if kind == "same":
            out.append(display.esc(text))
        elif kind == "insert":
            out.append(
                f"<ins class='banana-diff-ins' style='{INSERT_STYLE}'>{display.esc(text)}</ins>"
            )
        else:
            out.append(
                f"<del class='banana-diff-del' style='{DELETE_STYLE}'>{display.esc(text)}</del>"
            )
    return " ".join(out)


class Comparison:
    """Images side by side with their differing parameters; displays itself."""

    def __init__(self, images: list[RunImage]):
        self.images = images
        self.parameters = [_parameters(image) for image in images]

    @property
    def differing(self) -> list[str]:
        """The parameter names whose values are not all the same (prompt included)."""
        names = [
            name
            for name in self.parameters[0]
            if name not in _NOT_PARAMETERS and len({p[name] for p in self.parameters}) > 1
        ]
        if len({image.request.prompt for image in self.images}) > 1:
            names.insert(0, "prompt")
        return names

    def _scale(self) -> float:
        widest = max((image.width for image in self.images), default=0)
        return COMPARE_WIDTH / widest if widest else 1.0

    def __repr__(self) -> str:
        lines = [
            f"Comparing {len(self.images)} images; differing: {', '.join(self.differing) or 'nothing'}."
        ]
        base = self.images[0].request.prompt
        for image, params in zip(self.images, self.parameters):
            lines.append(
                f"{params['image']}: "
                + ", ".join(f"{k}={v}" for k, v in params.items() if k != "image")
            )
            if image.request.prompt != base:
                diff = " ".join(
                    text if kind == "same" else f"[{'+' if kind == 'insert' else '-'}{text}]"
                    for kind, text in word_diff(base, image.request.prompt)
                )
                lines.append(f"  prompt: {diff}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = display.esc
        scale = self._scale()
        figures = "".join(
            f"<figure class='banana-compare-image' style='margin:0'>"
            f"<img src='{display.data_uri(image.thumbnail)}' alt='{esc(str(image.address))}' "
            f"style='width:{max(40, round(image.width * scale)) if image.width else COMPARE_WIDTH}px;"
            f"height:auto;display:block;border-radius:3px'>"
            f"<figcaption style='{display.NOTE_STYLE}'>{esc(str(image.address))}</figcaption></figure>"
            for image in self.images
        )
        differing = set(self.differing)
        cell = styles.CELL
        base = self.images[0].request.prompt
        prompt_cells = "".join(
            f"<td class='banana-compare-prompt' style='{cell};max-width:320px'>"
            + (esc(image.request.prompt) if i == 0 else _diff_html(base, image.request.prompt))
            + "</td>"
            for i, image in enumerate(self.images)
        )
        rows = [
            f"<tr class='{'banana-differs' if 'prompt' in differing else ''}' style='{styles.ROW}'>"
            f"<th style='{cell}{';' + DIFF_STYLE if 'prompt' in differing else ''}'>prompt</th>"
            f"{prompt_cells}</tr>"
        ]
        for name in self.parameters[0]:
            marked = name in differing
            style = f"{cell};{DIFF_STYLE}" if marked else cell
            rows.append(
                f"<tr class='{'banana-differs' if marked else ''}' style='{styles.ROW}'>"
                f"<th style='{style}'>{esc(name)}</th>"
                + "".join(f"<td style='{style}'>{esc(p[name])}</td>" for p in self.parameters)
                + "</tr>"
            )
        table = (
            f"<table class='banana-compare' style='{display.TABLE_STYLE}'>{''.join(rows)}</table>"
        )
        heading = display.note(
            f"{len(self.images)} images at one scale; differing: "
            f"{', '.join(self.differing) or 'nothing'} (highlighted). Read from disk; nothing sent."
        )
        return display.output(
            f"<div class='banana-compare-view'>{heading}"
            f"<div style='display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start'>{figures}</div>"
            f"{table}</div>"
        )

    def overlay(self, first: int = 0, second: int = 1):
        """A widget showing two images of the same pixel size in one place; a toggle
        switches between them, so differences show in place."""
        import ipywidgets as widgets

        a, b = self.images[first], self.images[second]
        if (a.width, a.height) != (b.width, b.height):
            raise ValidationError(
                f"Overlay needs two images of the same size; {a.address} is {a.width}×{a.height} "
                f"and {b.address} is {b.width}×{b.height}."
            )
        data = [a.thumbnail.read_bytes(), b.thumbnail.read_bytes()]
        fmt = a.thumbnail.suffix.lstrip(".").replace("jpg", "jpeg")
        image = widgets.Image(
            value=data[0], format=fmt, layout=widgets.Layout(width=f"{COMPARE_WIDTH}px")
        )
        toggle = widgets.ToggleButtons(options=[(str(a.address), 0), (str(b.address), 1)], value=0)
        toggle.add_class("banana-overlay-toggle")

        def switch(change):
            image.value = data[change["new"]]

        toggle.observe(switch, "value")
        box = widgets.VBox([toggle, image])
        box.add_class("banana-overlay")
        return box


def compare(*items, output_dir=None, store=None) -> Comparison:
    """Compare runs, run ids and images (`RUN#i`, `run.images[i]`) from disk."""
    if store is None:
        from ._store import Store

        store = Store(output_dir)
    images = [image for item in items for image in _images_of(item, store)]
    if len(images) < 2:
        raise ValidationError(
            "compare needs at least two images; give two runs or images, e.g. compare -2#0 last#0."
        )
    return Comparison(images)
