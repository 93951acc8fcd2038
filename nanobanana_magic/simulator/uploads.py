"""Reference-image uploads (contract §5): multipart parsing, type sniffing, in-memory store.

``cgi`` is gone from Python 3.13, so :func:`parse_multipart` splits ``multipart/form-data``
bodies itself (RFC 7578: parts separated by ``CRLF--boundary``, each with its own headers).
The image type is decided by magic bytes only, never by the file name or the declared type.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections import OrderedDict
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser

MAX_UPLOAD_BYTES = 10_000_000
_ID_ALPHABET = string.ascii_lowercase + string.digits


class MultipartError(ValueError):
    """The body is not well-formed ``multipart/form-data``."""


@dataclass(frozen=True)
class FormPart:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class Upload:
    id: str
    filename: str  # "<id>.<ext>", the last path segment of its URL
    data: bytes
    mime_type: str


def sniff_image_type(data: bytes) -> tuple[str, str] | None:
    """``(mime_type, extension)`` for JPEG, PNG, WebP and GIF data, else ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif", "gif"
    return None


def parse_multipart(body: bytes, content_type: str | None) -> dict[str, FormPart]:
    """Parse a ``multipart/form-data`` body into its parts by field name (first one wins)."""
    header = Message()
    header["content-type"] = content_type or ""
    if header.get_content_type() != "multipart/form-data":
        raise MultipartError("the request must be multipart/form-data")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MultipartError("the multipart boundary is missing")

    delimiter = b"\r\n--" + boundary.encode("latin-1")
    sections = (b"\r\n" + body).split(delimiter)
    if len(sections) < 2:
        raise MultipartError("no multipart sections found")
    parts: dict[str, FormPart] = {}
    closed = False
    for section in sections[1:]:
        if section.startswith(b"--"):
            closed = True
            break
        # After the delimiter: optional whitespace, CRLF, headers, blank line, content.
        line_end = section.find(b"\r\n")
        if line_end < 0 or section[:line_end].strip():
            raise MultipartError("malformed multipart delimiter line")
        head, sep, data = section[line_end + 2 :].partition(b"\r\n\r\n")
        if not sep:
            if section[line_end + 2 :].startswith(b"\r\n"):  # a part without headers
                head, data = b"", section[line_end + 4 :]
            else:
                raise MultipartError("a multipart section has no header terminator")
        headers = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        parts.setdefault(
            name, FormPart(name, headers.get_filename(), headers.get("content-type"), data)
        )
    if not closed:
        raise MultipartError("the multipart body is not terminated")
    return parts


class UploadStore:
    """Uploaded files kept in memory, oldest evicted beyond ``max_bytes``. Thread-safe."""

    def __init__(self, max_bytes: int = 512_000_000) -> None:
        self._files: OrderedDict[str, Upload] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    def add(self, data: bytes, mime_type: str, ext: str) -> Upload:
        with self._lock:
            while True:
                upload_id = "upload_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
                filename = f"{upload_id}.{ext}"
                if filename not in self._files:
                    break
            upload = Upload(upload_id, filename, data, mime_type)
            self._files[filename] = upload
            self._bytes += len(data)
            while self._bytes > self._max_bytes and len(self._files) > 1:
                _, old = self._files.popitem(last=False)
                self._bytes -= len(old.data)
            return upload

    def get(self, filename: str) -> Upload | None:
        with self._lock:
            return self._files.get(filename)
