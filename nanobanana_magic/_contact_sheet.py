"""One labelled PNG of a whole sweep: a heading, then per page a grid with headers.

Layout of a page (a page is one labelled grid of `SweepRun.pages()`):

    page title (the values of the axes beyond the first two)
    corner: "rows ↓ · columns →"   column axis name
                                    column label | column label | ...
    row label                       tile         | tile         | ...

A tile shows the cell's images side by side (2 × 2 for four), or its error on a red
background, or "not run". Labels are wrapped to their column, never clipped; text that
cannot fit in three lines ends with "…". Pillow is imported only here, when a sheet is
written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PAD = 12
GAP = 10
BACKGROUND = (255, 255, 255)
INK = (36, 41, 47)
MUTED = (87, 96, 106)
RULE = (208, 215, 222)
TILE = (246, 248, 250)
ERROR_INK = (130, 7, 30)
ERROR_FILL = (255, 235, 233)
BADGE_FILL = (255, 248, 197)
BADGE_EDGE = (212, 167, 44)
MAX_LINES = 3
_FONT_FILES = {
    False: ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf"),
    True: ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf"),
}


def _font(size: int, bold: bool = False):
    """A scalable font: DejaVu or Liberation when installed, else Pillow's own."""
    from PIL import ImageFont

    for name in _FONT_FILES[bold]:
        for candidate in (
            name,
            f"/usr/share/fonts/truetype/dejavu/{name}",
            f"/usr/share/fonts/truetype/liberation/{name}",
        ):
            try:
                return ImageFont.truetype(candidate, size)
            except OSError:
                continue
    return ImageFont.load_default(size=size)


class _Fonts:
    def __init__(self, cell: int):
        scale = max(0.75, cell / 256)
        self.heading = _font(round(18 * scale), bold=True)
        self.label = _font(round(14 * scale), bold=True)
        self.axis = _font(round(13 * scale))
        self.small = _font(round(12 * scale))
        self.line = round(18 * scale)


def render_contact_sheet(
    path: Path,
    pages,
    *,
    heading: str = "",
    subheading: str = "",
    simulated: bool = False,
    cell: int = 256,
) -> Path:
    """Write the sheet. `pages`: (SweepPage, grid) pairs, grid[row][col] a Run or None.

    A PNG, unless the path ends in .jpg/.jpeg (a much smaller file to embed or mail)."""
    from PIL import Image, ImageDraw

    fonts = _Fonts(cell)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    layouts = [_PageLayout(page, grid, cell, fonts, measure) for page, grid in pages]
    width = max(layout.width for layout in layouts)
    width = max(width, 480)
    head_lines = _wrap(measure, heading, fonts.heading, width - 2 * PAD - 120, MAX_LINES)
    sub_lines = _wrap(measure, subheading, fonts.small, width - 2 * PAD, MAX_LINES)
    head_h = PAD + len(head_lines) * (fonts.line + 4) + len(sub_lines) * fonts.line + PAD
    height = head_h + sum(layout.height for layout in layouts) + PAD

    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    y = PAD
    for line in head_lines:
        draw.text((PAD, y), line, fill=INK, font=fonts.heading)
        y += fonts.line + 4
    for line in sub_lines:
        draw.text((PAD, y), line, fill=MUTED, font=fonts.small)
        y += fonts.line
    if simulated:
        _badge(draw, width - PAD, PAD, "SIMULATED", fonts.small)
    y = head_h
    for layout in layouts:
        draw.line([(PAD, y), (width - PAD, y)], fill=RULE, width=1)
        layout.draw(sheet, draw, y)
        y += layout.height
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        sheet.save(path, "JPEG", quality=85, optimize=True, progressive=True)
    else:
        sheet.save(path, "PNG", optimize=True)
    return path


class _PageLayout:
    """Measures one page first (so the sheet can be sized), then draws it."""

    def __init__(self, page, grid, cell: int, fonts: _Fonts, measure):
        self.page, self.grid, self.cell, self.fonts = page, grid, cell, fonts
        self.columns = len(page.col_labels)
        has_rows = bool(page.row_axis)
        row_texts = page.row_labels if has_rows else []
        self.header_w = 0
        if has_rows:
            widest = max(
                [measure.textlength(t, font=fonts.label) for t in row_texts]
                + [measure.textlength(page.row_axis, font=fonts.axis)]
            )
            self.header_w = int(min(max(widest + 2 * GAP, cell * 0.45), cell * 0.9))
        self.title = _wrap(measure, page.title, fonts.label, self._grid_w() - PAD, 2)
        self.col_axis = _wrap(measure, f"{page.col_axis} →", fonts.axis, self._grid_w(), 1)
        self.col_lines = [
            _wrap(measure, t, fonts.label, cell - 8, MAX_LINES) for t in page.col_labels
        ]
        self.corner = _wrap(
            measure,
            f"{page.row_axis} ↓" if has_rows else "",
            fonts.axis,
            max(self.header_w - GAP, 1),
            2,
        )
        self.row_lines = [
            _wrap(measure, t, fonts.label, max(self.header_w - GAP, 1), MAX_LINES)
            for t in row_texts
        ] or [[]]
        self.error_lines: dict[Any, Any] = {}
        self.title_h = (len(self.title) * fonts.line + GAP) if self.title else 0
        self.col_head_h = (
            len(self.col_axis) * fonts.line
            + 4
            + max(len(lines) for lines in self.col_lines) * fonts.line
            + 6
        )
        self.caption_h = fonts.line + 2
        self.row_h = cell + self.caption_h + GAP
        self.width = PAD + self.header_w + self.columns * (cell + GAP) - GAP + PAD
        self.height = GAP + self.title_h + self.col_head_h + len(page.keys) * self.row_h + GAP
        self.measure = measure

    def _grid_w(self) -> int:
        return self.columns * (self.cell + GAP) - GAP + self.header_w

    def draw(self, sheet, draw, top: int) -> None:
        f, cell = self.fonts, self.cell
        y = top + GAP
        for line in self.title:
            draw.text((PAD, y), line, fill=INK, font=f.label)
            y += f.line
        if self.title:
            y += GAP
        left = PAD + self.header_w
        for line in self.col_axis:  # the column axis name over the columns
            draw.text((left, y), line, fill=MUTED, font=f.axis)
        corner_y = y
        for line in self.corner:
            draw.text((PAD, corner_y), line, fill=MUTED, font=f.axis)
            corner_y += f.line
        y += len(self.col_axis) * f.line + 4
        for c, lines in enumerate(self.col_lines):
            x = left + c * (cell + GAP)
            for i, line in enumerate(lines):
                draw.text((x + 2, y + i * f.line), line, fill=INK, font=f.label)
        y = top + GAP + self.title_h + self.col_head_h
        for r, row in enumerate(self.grid):
            row_top = y + r * self.row_h
            lines = self.row_lines[r] if r < len(self.row_lines) else []
            text_y = row_top + (cell - len(lines) * f.line) // 2
            for i, line in enumerate(lines):
                draw.text((PAD, text_y + i * f.line), line, fill=INK, font=f.label)
            for c, run in enumerate(row):
                self._tile(sheet, draw, run, left + c * (cell + GAP), row_top)

    def _tile(self, sheet, draw, run, x: int, y: int) -> None:
        from PIL import Image

        f, cell = self.fonts, self.cell
        box = [x, y, x + cell - 1, y + cell - 1]
        if run is None or not run.ok or not run.images:
            failed = run is not None
            draw.rectangle(box, fill=ERROR_FILL if failed else TILE, outline=RULE)
            title = run.status if failed else "not run"
            draw.text((x + 8, y + 8), title, fill=ERROR_INK if failed else MUTED, font=f.label)
            message = (run.error or "") if failed else ""
            lines = _wrap(self.measure, message, f.small, cell - 16, max(1, (cell - 40) // f.line))
            for i, line in enumerate(lines):
                draw.text(
                    (x + 8, y + 8 + f.line + 6 + i * f.line), line, fill=ERROR_INK, font=f.small
                )
            return
        draw.rectangle(box, fill=TILE, outline=RULE)
        count = len(run.images)
        across = 1 if count == 1 else 2
        down = (count + across - 1) // across
        slot_w, slot_h = (cell - 4) // across, (cell - 4) // down
        for i, image in enumerate(run.images):
            with Image.open(image.thumbnail) as thumb:
                thumb = thumb.convert("RGB")
                thumb.thumbnail((slot_w - 2, slot_h - 2))
                sx = x + 2 + (i % across) * slot_w + (slot_w - thumb.width) // 2
                sy = y + 2 + (i // across) * slot_h + (slot_h - thumb.height) // 2
                sheet.paste(thumb, (sx, sy))
        caption = [
            f"n={count}" if count > 1 else "",
            "cached" if run.cached else "",
            f"{run.elapsed:.1f} s" if run.elapsed is not None and not run.cached else "",
        ]
        text = " · ".join(part for part in caption if part)
        if text:
            draw.text(
                (x + 2, y + cell + 2),
                _fit(self.measure, text, f.small, cell - 4),
                fill=MUTED,
                font=f.small,
            )


def _badge(draw, right: int, top: int, text: str, font) -> None:
    width = draw.textlength(text, font=font)
    box = [right - width - 12, top, right, top + font.size + 8]
    draw.rounded_rectangle(box, radius=4, fill=BADGE_FILL, outline=BADGE_EDGE)
    draw.text((box[0] + 6, top + 3), text, fill=INK, font=font)


def _fit(draw, text: str, font, width: float) -> str:
    """`text`, shortened with "…" until it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _wrap(draw, text: str, font, width: float, max_lines: int) -> list[str]:
    """Break `text` into lines of at most `width` pixels (long words are split too); the
    last allowed line ends with "…" when text is left over."""
    lines: list[str] = []
    line = ""
    words = text.split()
    for position, word in enumerate(words):
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while draw.textlength(word, font=font) > width and len(word) > 1:
            cut = len(word)
            while cut > 1 and draw.textlength(word[:cut], font=font) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        line = word
        if len(lines) >= max_lines:
            rest = " ".join([line] + words[position + 1 :])
            lines = lines[:max_lines]
            lines[-1] = _fit(draw, lines[-1] + " " + rest, font, width)
            return lines
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [_fit(draw, " ".join(lines[max_lines - 1 :]), font, width)]
    return lines
