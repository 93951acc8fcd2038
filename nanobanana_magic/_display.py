"""HTML for runs: image cards, responsive grids and the live progress table (sweeps: `_sweep_html`).

Everything a user or a server wrote (prompts, error messages, labels) goes through
`html.escape`. Grids embed the small WebP thumbnails; each card links the full-size
file on disk, so a saved notebook stays small.
"""

from __future__ import annotations

import base64
import functools
import html
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import _styles as styles
from ._pricing import format_usd, spent_text
from ._progress import BatchProgress
from ._wording import plural

GRID_STYLE = styles.GRID
CARD_STYLE = styles.CARD
IMG_STYLE = styles.IMAGE
ERROR_STYLE = styles.ERROR
NOTE_STYLE = styles.NOTE
PRE_STYLE = styles.CODE
TABLE_STYLE = styles.TABLE
CELL_STYLE = styles.CELL
SIM_BADGE = styles.SIM_BADGE
output = styles.output

esc = html.escape
#: the metadata key under which every displayed output carries its provenance
PROVENANCE_MIME = "application/vnd.nanobanana.provenance+json"


def data_uri(path: Path) -> str:
    """The thumbnail inlined as a data URI (remembered while the file is unchanged, since
    live grids redraw every finished cell many times)."""
    stat = os.stat(path)
    return _data_uri(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _data_uri(path: str, mtime_ns: int, size: int) -> str:
    mime = _IMAGE_TYPES.get(Path(path).suffix.lower(), "image/jpeg")  # older folders: JPEG
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode()


_IMAGE_TYPES = {".webp": "image/webp", ".png": "image/png", ".jpg": "image/jpeg"}


def file_link(path: Path) -> str:
    """A link to the full-size file that works from a notebook next to the output folder."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return Path(path).as_uri()


#: what clicking a thumbnail does where the output may run script (a trusted notebook,
#: an nbconvert page): the full-size file, fitted to the window, over the page; a click
#: or Escape closes it. Elsewhere the link itself opens the file. (The handler is the
#: link's first listener, so stopping the event here also stops JupyterLab's own, which
#: would open the file in an image tab at 100 % zoom.)
ZOOM_SCRIPT = (
    "event.preventDefault();event.stopImmediatePropagation();"
    "var d=document,o=d.createElement('div'),i=d.createElement('img');"
    "o.className='banana-lightbox';o.title='click or Escape to close';"
    "o.style.cssText='position:fixed;inset:0;z-index:10000;display:flex;align-items:center;"
    "justify-content:center;background:rgba(0,0,0,.85);cursor:zoom-out';"
    "i.src=this.href;i.alt=this.title;"
    "i.style.cssText='max-width:96vw;max-height:94vh;object-fit:contain;background:#fff';"
    "o.appendChild(i);"
    "function k(e){if(e.key==='Escape'){c()}}"
    "function c(){o.remove();d.removeEventListener('keydown',k,true)}"
    "o.onclick=c;d.addEventListener('keydown',k,true);d.body.appendChild(o);return false"
)


def thumbnail_src(path: Path, *, linked: bool = False) -> str:
    """The `src` of a thumbnail: inlined (a data URI, so the output stands alone), or with
    `linked` its file relative to the notebook, for widget cards, whose front end resolves
    it like the full-size link (their saved widget state then holds no image bytes);
    inlined all the same when the file is not below the notebook's folder."""
    if linked:
        relative = file_link(path)
        if not (relative.startswith("..") or os.path.isabs(relative) or "://" in relative):
            return relative
    return data_uri(path)


def image_card(image, run, *, label: str | None = None, linked: bool = False) -> str:
    """One image's card: the thumbnail (inlined, or its file with `linked`, see
    `thumbnail_src`) opening the full-size file, a caption and the image's marks."""
    request = image.request
    elapsed = f" · {run.elapsed:.1f} s" if run.elapsed is not None else ""
    per_image = run.cost / max(1, len(run.images))
    caption = (
        f"{esc(request.size)} · {esc(request.resolution)} · #{image.index}{elapsed}"
        f" · {format_usd(per_image)}"
    )
    title = esc(f"{request.prompt[:300]}\n{image.width}×{image.height} · run {run.run_id}")
    heading = (
        f"<div class='banana-card-title' style='{styles.CARD_TITLE}'>{esc(label)}</div>"
        if label
        else ""
    )
    link = esc(file_link(image.path))
    size = f" ({image.width}×{image.height})" if image.width else ""
    return (
        f"<figure class='banana-card' style='{CARD_STYLE}'>{heading}"
        f"<a class='banana-zoom' href='{link}' target='_blank' title='{title}' "
        f'onclick="{ZOOM_SCRIPT}" style="cursor:zoom-in;display:block">'
        f"<img class='banana-thumb' src='{esc(thumbnail_src(image.thumbnail, linked=linked))}' "
        f"alt='{esc(request.prompt[:120])}' style='{IMG_STYLE}'></a>"
        f"<figcaption class='banana-caption' style='{styles.CAPTION}'>{caption} · "
        f"<a href='{link}' target='_blank' style='{styles.LINK_STYLE}'>full size{size}</a>"
        f"{image_marks(image)}</figcaption></figure>"
    )


def image_marks(image) -> str:
    """Rating, pick and a size mismatch under a thumbnail (empty when there are none)."""
    parts = []
    rating = image.rating
    if rating:
        parts.append(
            f"<span class='banana-rating' title='rated {rating} of 5'>"
            f"{'★' * rating}{'☆' * (5 - rating)}</span>"
        )
    if image.picked:
        parts.append(f"<span class='banana-picked' style='{styles.TITLE}'>✓ picked</span>")
    problem = image.size_problem
    if problem:
        parts.append(
            f"<span class='banana-size-mismatch' style='{styles.TITLE}'>"
            f"⚠ size: {esc(problem)}</span>"
        )
    return f"<div class='banana-marks'>{' · '.join(parts)}</div>" if parts else ""


def code_block(text: str, *, css_class: str = "banana-code") -> str:
    """Preformatted text (payloads, exported code), escaped, in a monospace box."""
    return f"<pre class='{css_class}' style='{PRE_STYLE}'>{esc(text)}</pre>"


def table(
    rows: Sequence[dict], *, css_class: str = "banana-table", nowrap: Sequence[str] = ()
) -> str:
    """A small left-aligned table of dicts (same keys), every value escaped; rows and
    cells carry their own styles, so the notebook's table CSS does not restyle them."""
    if not rows:
        return ""

    def cell(tag: str, key, value, style: str) -> str:
        wrap = ";white-space:nowrap" if key in nowrap else ""
        return f"<{tag} style='{style}{wrap}'>{esc(str(value))}</{tag}>"

    head = "".join(cell("th", key, key, styles.HEAD_CELL) for key in rows[0])
    body = "".join(
        f"<tr style='{styles.ROW}'>"
        + "".join(cell("td", key, value, CELL_STYLE) for key, value in row.items())
        + "</tr>"
        for row in rows
    )
    return (
        f"<table class='{css_class}' style='{TABLE_STYLE}'>"
        f"<thead><tr style='{styles.ROW}'>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def error_box(message: str, *, label: str | None = None) -> str:
    prefix = f"<b style='{styles.TITLE}'>{esc(label)}</b>: " if label else ""
    return f"<div class='banana-error' style='{ERROR_STYLE}'>{prefix}{esc(message)}</div>"


def note(text: str) -> str:
    return f"<div class='banana-note' style='{NOTE_STYLE}'>{esc(text)}</div>"


def folder_text(path) -> str:
    """A folder as the user would type it: relative to the notebook (the kernel's working
    directory) when it is below it, else absolute."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return relative if not relative.startswith("..") else str(path)


def run_header(run) -> str:
    if run.cached:
        source = f"stored run {run.run_id}, from disk (nothing sent, $0 spent)"
    else:
        source = f"run {run.run_id} · {format_usd(run.spent)} spent"
    badge = SIM_BADGE if run.simulated else ""
    prompt = (
        run.request.prompt if len(run.request.prompt) <= 160 else run.request.prompt[:157] + "…"
    )
    mismatches = run.size_mismatches
    warning = (
        f" · <span class='banana-size-mismatch' style='{styles.TITLE}'>"
        f"⚠ {mismatches} of {plural(len(run.images), 'image')} not the requested size</span>"
        if mismatches
        else ""
    )
    where = f" · in {folder_text(run.folder)}" if run.folder is not None else ""
    return (
        f"<div class='banana-run-header' style='{NOTE_STYLE}'>"
        f"<b class='banana-run-title' style='{styles.TITLE}'>{esc(prompt)}</b>{badge}<br>"
        f"{esc(run.request.model)} · {esc(run.request.summary())} · {esc(source)}"
        f"{esc(where)}{warning}</div>"
    )


def run_cards(run, *, label: str | None = None) -> list[str]:
    if run.status != "completed":
        message = run.error or f"status {run.status}"
        return [error_box(message, label=label or f"run {run.run_id}")]
    return [image_card(image, run, label=label) for image in run.images]


def grid(cards: Iterable[str]) -> str:
    return f"<div class='banana-grid' style='{GRID_STYLE}'>{''.join(cards)}</div>"


def run_html(run) -> str:
    """One run: header and grid (a fragment; `output()` makes it a whole output)."""
    return f"<div class='banana-run'>{run_header(run)}{grid(run_cards(run))}</div>"


def runs_html(runs: Sequence) -> str:
    return "".join(run_html(run) for run in runs)


def run_text(run) -> str:
    """The plain-text listing used where HTML cannot be shown (terminal IPython)."""
    lines = [
        f"{'cached ' if run.cached else ''}run {run.run_id} ({run.status}): {run.request.summary()}"
    ]
    if run.status != "completed":
        lines.append(f"  error: {run.error}")
    lines += [
        f"  {image.path}"
        + (f"  [size: {image.size_problem}]" if image.size_problem else "")
        + (f"  rated {image.rating}" if image.rating else "")
        + ("  picked" if image.picked else "")
        for image in run.images
    ]
    return "\n".join(lines)


# -- live progress -------------------------------------------------------------------------------
def status_header(text: str, *, simulated: bool, css_class: str = "banana-status") -> str:
    """The header line of a batch or a sweep, live or finished: its status text and, when
    the backend is the simulator, the SIMULATED badge."""
    badge = SIM_BADGE if simulated else ""
    return f"<div class='{css_class}' style='{NOTE_STYLE}'>{esc(text)}{badge}</div>"


class ProgressBoard(BatchProgress):
    """The progress of a batch (`BatchProgress`) as one small table, updated in place,
    under the same header a sweep has: the status in words, the time elapsed and left,
    what was spent next to the estimate, and the SIMULATED badge."""

    def __init__(self, labels: Sequence[str], *, estimate: float = 0.0, simulated: bool = False):
        super().__init__(labels)
        self.estimate, self.simulated = estimate, simulated

    @property
    def spent(self) -> float:
        return sum(row.run.spent for row in self.rows if row.run is not None)

    def header_text(self) -> str:
        """e.g. '1 task: 1 generating · 3.2 s elapsed · about 8 s left; $0.000 spent
        (estimate $0.025)'."""
        return f"{self.status_line()}; {spent_text(self.spent, self.estimate)}"

    def html(self) -> str:
        now = time.time()
        body = []
        cell = (
            f"padding:1px 8px;border:none;text-align:left;vertical-align:top;"
            f"background:transparent;color:{styles.TEXT}"
        )
        for label, row in zip(self.labels, self.rows):
            body.append(
                f"<tr style='{styles.ROW}'><td style='{cell};padding-left:0;white-space:nowrap'>"
                f"{esc(label)}</td>"
                f"<td style='{cell};white-space:nowrap'>{styles.bar(row.progress, row.state)}"
                f" {row.progress}%</td><td class='banana-progress-status' style='{cell}'>"
                f"{esc(row.describe(now))}</td></tr>"
            )
        return (
            f"<div class='banana-progress' style='{NOTE_STYLE}'>"
            f"{status_header(self.header_text(), simulated=self.simulated)}"
            f"<table style='{styles.TABLE}'>{''.join(body)}</table></div>"
        )
