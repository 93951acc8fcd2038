"""Image bytes the simulator serves: deterministic placeholders and hostile payloads.

:func:`render_placeholder` draws a picture that is a pure function of its arguments: a
gradient and shapes coloured from a hash of the prompt (and image index), film grain, small
tiles of the reference images, a faint "SIMULATED" watermark and a caption band with the
(truncated) prompt and ``"16:9 · 1K · #0"``. The pixel size follows the aspect ratio and the
resolution tier (:func:`pixel_size`). The artwork is painted at about 1 megapixel and scaled up,
so even 4K stays fast; text is drawn at full size so it stays crisp.

Pillow is imported inside the functions, so importing this module (and the simulator) is cheap.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import io
import math
import queue
import random
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Union

from .config import RESOLUTION_TIERS

#: A reference image for :func:`render_placeholder`: its bytes (decoded and shown as a tile)
#: or its URL (shown as a tile coloured from a hash of the URL).
Reference = Union[bytes, str]  # noqa: UP007  (a runtime alias, kept for Python 3.9 readers)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DESIGN_AREA = 1024 * 1024  # pixels painted before scaling up
_MAX_TILES = 14

#: Served with ``result_kind="not_image"``: what a CDN/Cloudflare challenge page looks like.
NOT_AN_IMAGE = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
    b"<body><h1>Checking your browser before accessing files.</h1>"
    b"<p>This is an HTML page served with an image content type (simulated).</p></body></html>"
)


# ---------------------------------------------------------------------- geometry
def pixel_size(size: str, resolution: str) -> tuple[int, int]:
    """Pixel ``(width, height)`` for an aspect ratio and tier.

    The area is about tier² (0.5K → 512², 1K → 1024², 2K → 2048², 4K → 4096²) and both sides
    are multiples of 16: ``1:1``/``1K`` → 1024×1024, ``16:9``/``1K`` → 1360×768.
    """
    ratio_w, ratio_h = (int(part) for part in size.split(":"))
    side = RESOLUTION_TIERS[resolution]
    width = side * math.sqrt(ratio_w / ratio_h)
    height = side * math.sqrt(ratio_h / ratio_w)
    return _multiple_of_16(width), _multiple_of_16(height)


def _multiple_of_16(value: float) -> int:
    return max(16, int(round(value / 16)) * 16)


# ---------------------------------------------------------------------- placeholder
def render_placeholder(
    prompt: str,
    size: str,
    resolution: str,
    index: int,
    refs: Sequence[Reference] = (),
    *,
    fmt: str = "png",
    photo_folder: str | None = None,
) -> bytes:
    """Encoded placeholder image (``fmt`` ``"png"`` or ``"jpeg"``); deterministic."""
    if photo_folder:
        return encode(render_photo(photo_folder, prompt, size, resolution, index), fmt)
    return encode(render_image(prompt, size, resolution, index, refs), fmt)


def render_photo(folder: str, prompt: str, size: str, resolution: str, index: int):
    """A photograph from ``folder`` (picked by prompt and index, scaled to cover the pixel
    size and cropped to it) with the faint SIMULATED watermark: results that compress like
    real photographs, for benchmarks of thumbnail and notebook size."""
    from pathlib import Path

    from PIL import Image

    photos = sorted(p for p in Path(folder).iterdir() if p.is_file())
    if not photos:
        raise ValueError(f"the photo folder {folder!r} holds no images")
    width, height = pixel_size(size, resolution)
    with Image.open(photos[_digest(prompt, str(index)) % len(photos)]) as source:
        photo = source.convert("RGB")
    scale = max(width / photo.width, height / photo.height)
    cover = (max(width, round(photo.width * scale)), max(height, round(photo.height * scale)))
    photo = photo.resize(cover, Image.Resampling.LANCZOS)
    left, top = (cover[0] - width) // 2, (cover[1] - height) // 2
    photo = photo.crop((left, top, left + width, top + height))
    _draw_watermark(photo, 0)
    return photo


def render_image(
    prompt: str, size: str, resolution: str, index: int, refs: Sequence[Reference] = ()
):
    """The placeholder as a Pillow RGB image (see :func:`render_placeholder`)."""
    from PIL import Image

    width, height = pixel_size(size, resolution)
    seed = _digest(prompt, size, resolution, str(index), *(_reference_token(r) for r in refs))
    rng = random.Random(seed)
    palette = _palette(prompt, index)

    scale = min(1.0, math.sqrt(_DESIGN_AREA / (width * height)))
    design = (max(16, round(width * scale)), max(16, round(height * scale)))
    image = _artwork(design, rng, palette)
    if design != (width, height):
        image = image.resize((width, height), Image.Resampling.BICUBIC)

    caption_height = _draw_caption(image, prompt, size, resolution, index)
    _draw_watermark(image, caption_height)
    _draw_reference_tiles(image, refs, caption_height)
    return image


def encode(image, fmt: str = "png") -> bytes:
    """PNG (zlib level 1: five times faster than the default, files ~15 % larger) or JPEG
    (quality 90) bytes of ``image``."""
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.save(buffer, "JPEG", quality=90)
    elif fmt == "png":
        image.save(buffer, "PNG", compress_level=1)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buffer.getvalue()


def _digest(*parts: str) -> int:
    joined = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(joined).digest()[:8], "big")


def _reference_token(ref: Reference) -> str:
    if isinstance(ref, bytes):
        return "bytes:" + hashlib.sha256(ref).hexdigest()
    return "url:" + ref


def _palette(prompt: str, index: int) -> list[tuple[int, int, int]]:
    """Five colours from a hash of the prompt; the image index shifts them a little."""
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()
    base_hue = digest[0] / 255.0 + index * 0.09
    colours = []
    for i in range(5):
        hue = (base_hue + digest[1 + i] / 255.0 * 0.45 + i * 0.17) % 1.0
        saturation = 0.45 + digest[6 + i] / 255.0 * 0.4
        value = 0.55 + digest[11 + i] / 255.0 * 0.4
        r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


def _artwork(size: tuple[int, int], rng: random.Random, palette: list[tuple[int, int, int]]):
    """Gradient background, a glow, translucent shapes, wavy lines and grain."""
    from PIL import Image, ImageDraw, ImageFilter

    width, height = size
    # Background: a linear gradient between two palette colours at a random angle.
    gradient = Image.linear_gradient("L").rotate(
        rng.uniform(0, 360), Image.Resampling.BILINEAR, expand=True
    )
    inner = int(256 / math.sqrt(2)) - 2  # the square fully covered by the rotated gradient
    left = (gradient.width - inner) // 2
    mask = gradient.crop((left, left, left + inner, left + inner)).resize(
        size, Image.Resampling.BILINEAR
    )
    image = Image.composite(
        Image.new("RGB", size, palette[0]), Image.new("RGB", size, palette[1]), mask
    )

    # A soft glow in a third colour somewhere in the picture.
    glow_side = int(max(width, height) * rng.uniform(0.5, 0.9))
    glow_mask = Image.radial_gradient("L").resize((glow_side, glow_side), Image.Resampling.BILINEAR)
    glow_mask = glow_mask.point(lambda v: max(0, 200 - v) * 0.8)
    glow_at = (rng.randrange(-glow_side // 2, width), rng.randrange(-glow_side // 2, height))
    image.paste(Image.new("RGB", (glow_side, glow_side), palette[2]), glow_at, glow_mask)

    # Translucent shapes.
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    unit = min(width, height)
    for _i in range(rng.randint(14, 22)):
        colour = palette[rng.randrange(len(palette))] + (rng.randint(70, 170),)
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = unit * rng.uniform(0.05, 0.28)
        kind = rng.randrange(5)
        box = (x - r, y - r, x + r, y + r)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rounded_rectangle(
                (x - r, y - r * 0.6, x + r, y + r * 0.6), radius=r * 0.2, fill=colour
            )
        elif kind == 2:
            turn = rng.uniform(0, math.tau)
            draw.polygon(
                [
                    (
                        x + r * math.cos(turn + k * math.tau / 3),
                        y + r * math.sin(turn + k * math.tau / 3),
                    )
                    for k in range(3)
                ],
                fill=colour,
            )
        elif kind == 3:
            draw.ellipse(box, outline=colour, width=max(2, int(r * 0.15)))
        else:
            for k in range(4):
                offset = (k - 1.5) * r * 0.35
                draw.line(
                    (x - r, y + offset - r * 0.5, x + r, y + offset + r * 0.5),
                    fill=colour,
                    width=max(1, int(r * 0.08)),
                )
    # Wavy lines give the picture some horizontal structure.
    for _ in range(3):
        colour = palette[rng.randrange(len(palette))] + (rng.randint(90, 160),)
        base_y = rng.uniform(0.2, 0.9) * height
        amplitude = rng.uniform(0.02, 0.08) * height
        period = rng.uniform(0.3, 1.2) * width
        phase = rng.uniform(0, math.tau)
        points = [
            (x, base_y + amplitude * math.sin(phase + math.tau * x / period))
            for x in range(0, width + 8, 8)
        ]
        draw.line(points, fill=colour, width=max(2, unit // 120))
    overlay = overlay.filter(ImageFilter.GaussianBlur(max(0.8, unit / 700)))
    image = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")

    # Film grain: seeded noise, slightly blurred, blended in lightly.
    noise = Image.frombytes("L", size, rng.randbytes(width * height)).filter(
        ImageFilter.GaussianBlur(0.7)
    )
    return Image.blend(image, Image.merge("RGB", (noise, noise, noise)), 0.09)


@functools.lru_cache(maxsize=64)
def _font(pixels: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=pixels)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _fit_text(text: str, font, max_width: float) -> str:
    """``text`` cut (with an ellipsis) so it is at most ``max_width`` pixels wide."""
    if font.getlength(text) <= max_width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle].rstrip() + "…") <= max_width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


def _draw_caption(image, prompt: str, size: str, resolution: str, index: int) -> int:
    """Dark band at the bottom with the prompt, the parameters and SIMULATED; returns its height."""
    from PIL import Image, ImageDraw

    width, height = image.size
    text_px = max(10, min(width, height) // 26)
    line = int(text_px * 1.35)
    pad = max(4, text_px // 2)
    band = 2 * line + 2 * pad
    top = height - band
    region = image.crop((0, top, width, height))
    image.paste(Image.blend(region, Image.new("RGB", region.size, (12, 12, 16)), 0.72), (0, top))

    draw = ImageDraw.Draw(image)
    font = _font(text_px)
    bold = _font(int(text_px * 1.1))
    label = "SIMULATED"
    label_width = bold.getlength(label)
    one_line_prompt = " ".join(prompt.split())
    draw.text(
        (pad, top + pad),
        _fit_text(one_line_prompt, font, width - 2 * pad),
        font=font,
        fill=(245, 245, 245),
    )
    details = f"{size} · {resolution} · #{index}"
    draw.text(
        (pad, top + pad + line),
        _fit_text(details, font, width - 3 * pad - label_width),
        font=font,
        fill=(200, 200, 210),
    )
    if label_width + 2 * pad < width:
        draw.text(
            (width - pad - label_width, top + pad + line - (bold.size - font.size)),
            label,
            font=bold,
            fill=(255, 196, 0),
        )
    return band


def _draw_watermark(image, caption_height: int) -> None:
    """A large, faint SIMULATED across the middle of the picture."""
    from PIL import Image, ImageDraw

    width, height = image.size
    free_height = height - caption_height
    pixels = max(10, min(int(width / 7), int(free_height / 3)))
    font = _font(pixels)
    left, top, right, bottom = font.getbbox("SIMULATED")
    text_w, text_h = right - left, bottom - top
    if text_w <= 0 or text_h <= 0 or text_w > width:
        return
    mask = Image.new("L", (text_w, text_h), 0)
    ImageDraw.Draw(mask).text((-left, -top), "SIMULATED", font=font, fill=60)
    at = ((width - text_w) // 2, max(0, (free_height - text_h) // 2))
    image.paste((255, 255, 255), (at[0], at[1], at[0] + text_w, at[1] + text_h), mask)


def _draw_reference_tiles(image, refs: Sequence[Reference], caption_height: int) -> None:
    """Small square tiles of the reference images in the top-left corner."""
    if not refs:
        return
    from PIL import ImageDraw

    width, height = image.size
    tile = max(24, min(width, height) // 7)
    gap = max(3, tile // 10)
    x = y = gap
    draw = ImageDraw.Draw(image)
    for number, ref in enumerate(refs[:_MAX_TILES], start=1):
        if x + tile + gap > width:
            x, y = gap, y + tile + gap
        if y + tile + gap > height - caption_height:
            break
        draw.rectangle((x - 2, y - 2, x + tile + 1, y + tile + 1), fill=(255, 255, 255))
        image.paste(_reference_tile(ref, tile, number), (x, y))
        x += tile + gap


def _reference_tile(ref: Reference, side: int, number: int):
    """The reference image cropped to a square, or a hash-coloured square when it cannot be
    decoded (or only its URL is known)."""
    from PIL import Image, ImageDraw, ImageOps

    if isinstance(ref, bytes):
        try:
            with Image.open(io.BytesIO(ref)) as source:
                source.draft("RGB", (side, side))
                return ImageOps.fit(source.convert("RGB"), (side, side), Image.Resampling.BICUBIC)
        except Exception:  # undecodable or a decompression bomb: fall through to a square
            pass
    digest = hashlib.sha256(ref if isinstance(ref, bytes) else ref.encode("utf-8")).digest()
    tile = Image.new("RGB", (side, side), tuple(digest[:3]))
    draw = ImageDraw.Draw(tile)
    draw.polygon([(0, side), (side, 0), (side, side)], fill=tuple(digest[3:6]))
    font = _font(max(8, side // 4))
    draw.text((side // 10, side // 10), f"ref {number}", font=font, fill=(255, 255, 255))
    return tile


# ---------------------------------------------------------------------- cache
class RenderCache:
    """Bounded LRU of encoded images. Concurrent requests for the same key render it once."""

    def __init__(self, max_entries: int = 64, max_bytes: int = 768_000_000) -> None:
        self._entries: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    def get_or_render(self, key: tuple, render: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            try:
                with self._lock:
                    if key in self._entries:
                        return self._entries[key]
                data = render()
                with self._lock:
                    self._entries[key] = data
                    self._bytes += len(data)
                    while len(self._entries) > 1 and (
                        len(self._entries) > self._max_entries or self._bytes > self._max_bytes
                    ):
                        _, old = self._entries.popitem(last=False)
                        self._bytes -= len(old)
                return data
            finally:
                with self._lock:
                    self._key_locks.pop(key, None)


_cache = RenderCache()


def cached_placeholder(
    prompt: str,
    size: str,
    resolution: str,
    index: int,
    refs: Sequence[Reference] = (),
    *,
    fmt: str = "png",
    photo_folder: str | None = None,
) -> bytes:
    """:func:`render_placeholder` through a process-wide bounded LRU cache."""
    tokens = tuple(_reference_token(r) for r in refs)
    key = (prompt, size, resolution, index, tokens, fmt, photo_folder)
    return _cache.get_or_render(
        key,
        lambda: render_placeholder(
            prompt, size, resolution, index, refs, fmt=fmt, photo_folder=photo_folder
        ),
    )


_prerender_jobs: queue.SimpleQueue[tuple] = queue.SimpleQueue()
_prerender_started = threading.Lock()
_prerender_thread: threading.Thread | None = None


def prerender(
    prompt: str,
    size: str,
    resolution: str,
    index: int,
    refs: Sequence[Reference] = (),
    *,
    fmt: str = "png",
    photo_folder: str | None = None,
) -> None:
    """Draw an image into the cache in the background, as a real server has its result
    ready the moment a task completes; a download that comes first just draws it itself.
    One daemon thread works through the jobs in order, so it never delays shutdown."""
    global _prerender_thread
    with _prerender_started:
        if _prerender_thread is None:
            _prerender_thread = threading.Thread(
                target=_prerender_worker, daemon=True, name="simulator-prerender"
            )
            _prerender_thread.start()
    _prerender_jobs.put((prompt, size, resolution, index, tuple(refs), fmt, photo_folder))


def _prerender_worker() -> None:
    while True:
        prompt, size, resolution, index, refs, fmt, photo_folder = _prerender_jobs.get()
        try:
            cached_placeholder(
                prompt, size, resolution, index, refs, fmt=fmt, photo_folder=photo_folder
            )
        except Exception:  # a broken reference: the download will report it
            pass


# ---------------------------------------------------------------------- hostile payloads
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """PNG signature plus an IHDR chunk declaring an 8-bit RGB image of the given size."""
    return PNG_SIGNATURE + _png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    )


@functools.lru_cache(maxsize=4)
def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A few-KB, well-formed PNG whose IHDR declares ``width``×``height`` pixels (10.8 GB of
    RGB at the default size): a decompression bomb. Its IDAT holds only the first rows."""
    rows = (b"\x00" + b"\x00" * (3 * width)) * 4
    return (
        png_header(width, height)
        + _png_chunk(b"IDAT", zlib.compress(rows, 9))
        + _png_chunk(b"IEND", b"")
    )
