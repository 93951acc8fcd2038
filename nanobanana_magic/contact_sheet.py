"""One labelled PNG of a whole sweep: column headers, row headers, a tile per cell."""
from __future__ import annotations

from pathlib import Path

PAD = 8
BACKGROUND = (255, 255, 255)
INK = (36, 41, 47)
MUTED = (110, 119, 129)
ERROR = (207, 34, 46)


def render_contact_sheet(path: Path, pages, *, cell: int = 256) -> Path:
    """`pages`: (title, row labels, column labels, grid of Run|None, row axis, col axis)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=15)
    bold = ImageFont.load_default(size=17)
    header_w = cell // 2 + 40
    rendered = []
    for title, row_labels, col_labels, grid, row_axis, col_axis in pages:
        title_h = 30 if title else 0
        width = header_w + len(col_labels) * (cell + PAD) + PAD
        height = title_h + 30 + len(row_labels) * (cell + PAD) + PAD
        page = Image.new("RGB", (width, height), BACKGROUND)
        draw = ImageDraw.Draw(page)
        if title:
            draw.text((PAD, 6), title, fill=INK, font=bold)
        top = title_h + 30
        draw.text((PAD, title_h + 6), f"{row_axis} \\ {col_axis}" if col_axis else row_axis,
                  fill=MUTED, font=font)
        for c, label in enumerate(col_labels):
            draw.text((header_w + c * (cell + PAD), title_h + 6), _fit(draw, label, font, cell),
                      fill=INK, font=bold)
        for r, label in enumerate(row_labels):
            y = top + r * (cell + PAD)
            draw.text((PAD, y + cell // 2 - 8), _fit(draw, label, font, header_w - PAD),
                      fill=INK, font=bold)
            for c, run in enumerate(grid[r]):
                _draw_cell(page, draw, run, header_w + c * (cell + PAD), y, cell, font)
        rendered.append(page)
    sheet = Image.new("RGB", (max(p.width for p in rendered),
                              sum(p.height for p in rendered)), BACKGROUND)
    y = 0
    for page in rendered:
        sheet.paste(page, (0, y))
        y += page.height
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, "PNG", optimize=True)
    return path


def _draw_cell(page, draw, run, x, y, cell, font) -> None:
    from PIL import Image

    draw.rectangle([x, y, x + cell - 1, y + cell - 1], outline=(208, 215, 222))
    if run is None or not run.ok or not run.images:
        message = "not run" if run is None else f"{run.status}: {run.error or ''}"
        for i, line in enumerate(_wrap(message, 28)[:6]):
            draw.text((x + 6, y + 6 + 18 * i), line, fill=ERROR if run else MUTED, font=font)
        return
    count = len(run.images)
    slot = (cell - 4) // count
    for i, image in enumerate(run.images):
        with Image.open(image.thumbnail) as thumb:
            thumb = thumb.convert("RGB")
            thumb.thumbnail((slot, cell - 4))
            page.paste(thumb, (x + 2 + i * slot + (slot - thumb.width) // 2,
                               y + (cell - thumb.height) // 2))


def _fit(draw, text: str, font, width: int) -> str:
    while text and draw.textlength(text, font=font) > width:
        text = text[:-2] + "…" if len(text) > 2 else ""
    return text


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])
