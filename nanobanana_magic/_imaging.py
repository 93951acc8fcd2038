"""Image file chores: check what arrived, write parameters into PNGs, make thumbnails.

Pillow is imported inside the functions, so importing the package stays fast.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

#: a result larger than this many pixels is refused before decoding (4K is ~16.8 MP)
MAX_PIXELS = 40_000_000
ALLOWED_FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PARAMETERS_KEY = "nanobanana"


def inspect_image(path: str | Path) -> tuple[str, int, int]:
    """(format, width, height) of an image file, refusing non-images and decompression bombs.

    Raises ValueError with a short reason.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            fmt, (width, height) = image.format, image.size
            if fmt not in ALLOWED_FORMATS:
                raise ValueError(f"it is a {fmt} file, not png/jpeg/webp")
            if width * height > MAX_PIXELS:
                raise ValueError(f"it claims {width}x{height} pixels, too many to decode safely")
            image.verify()
    except UnidentifiedImageError:
        raise ValueError("it is not an image") from None
    except Image.DecompressionBombError:
        raise ValueError("it looks like a decompression bomb") from None
    except (SyntaxError, struct.error, OSError) as exc:
        raise ValueError(f"it is damaged ({exc})") from None
    return fmt, width, height


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def save_with_parameters(source: str | Path, dest: str | Path, parameters: dict | None) -> None:
    """Write `source` to `dest` as PNG carrying `parameters` (JSON) in an iTXt chunk
    (None: no chunk).

    PNG input gets the chunk spliced in after IHDR without re-encoding (fast for 4K);
    other formats are converted once with Pillow.
    """
    data = Path(source).read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            out = io.BytesIO()
            image.save(out, "PNG")
        data = out.getvalue()
    if parameters is None:
        Path(dest).write_bytes(data)
        return
    text = json.dumps(parameters, sort_keys=True, ensure_ascii=False)
    # iTXt: keyword, NUL, compression flag, method, language tag NUL, translated NUL, text
    chunk = _png_chunk(
        b"iTXt", PARAMETERS_KEY.encode() + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
    )
    ihdr_end = len(PNG_SIGNATURE) + 8 + struct.unpack(">I", data[8:12])[0] + 4
    Path(dest).write_bytes(data[:ihdr_end] + chunk + data[ihdr_end:])


def read_parameters(path: str | Path) -> dict | None:
    """The parameters `save_with_parameters` wrote into a PNG, or None."""
    from PIL import Image

    with Image.open(path) as image:
        text = image.info.get(PARAMETERS_KEY)
    return json.loads(text) if text else None


#: bytes a thumbnail may take on disk: inlined as base64 (4/3 larger) with its card's HTML,
#: each image then costs at most ~30 KB in a saved notebook
THUMBNAIL_BYTES = 21_000
THUMBNAIL_SUFFIX = ".webp"
_THUMBNAIL_QUALITIES = (80, 72, 64, 56)
_THUMBNAIL_SHRINK = 0.85  # when even the lowest quality is too large, shrink by this and retry


def make_thumbnail(
    source: str | Path, dest: str | Path, max_side: int = 512, max_bytes: int = THUMBNAIL_BYTES
) -> tuple[int, int]:
    """A WebP thumbnail (long side <= max_side) of at most `max_bytes`.

    WebP keeps photographs sharp at about half the bytes of JPEG, and every browser that
    runs JupyterLab 4 or Notebook 7 shows it. Quality steps down first; a photograph too
    busy even then is made a little smaller. Decoding the whole file here also proves it
    is not truncated. Returns the thumbnail's pixel size.
    """
    from PIL import Image

    with Image.open(source) as image:
        image.draft("RGB", (max_side, max_side))
        image = image.convert("RGB")
    side = max_side
    while True:
        thumb = image.copy()
        thumb.thumbnail((side, side), Image.Resampling.LANCZOS)
        for quality in _THUMBNAIL_QUALITIES:
            out = io.BytesIO()
            thumb.save(out, "WEBP", quality=quality, method=6)
            if out.tell() <= max_bytes:
                break
        if out.tell() <= max_bytes or side <= 64:
            Path(dest).write_bytes(out.getvalue())
            return thumb.size
        side = int(side * _THUMBNAIL_SHRINK)
