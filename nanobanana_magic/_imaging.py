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


def make_thumbnail(
    source: str | Path, dest: str | Path, max_side: int = 512, max_bytes: int = 40_000
) -> tuple[int, int]:
    """A JPEG thumbnail (long side <= max_side), compressed to at most ~max_bytes.

    Decoding the whole file here also proves it is not truncated. Returns its size.
    """
    from PIL import Image

    with Image.open(source) as image:
        image.draft("RGB", (max_side, max_side))
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        for quality in (82, 72, 62, 50, 40):
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
            if out.tell() <= max_bytes:
                break
        Path(dest).write_bytes(out.getvalue())
        return image.size
