"""The generation request: a frozen value object, its local validation and its wire form.

`ImageRequest` holds what the user asked for in the product's own words (model, prompt,
size, n, resolution, reference images). `validate()` checks it against the contract
before any network use, raising one `ValidationError` sentence that names the fix.
`to_payload()` is the single place where our names map onto the wire (contract §13.1).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ._defaults import DEFAULT_MODEL, DEFAULT_N, DEFAULT_RESOLUTION, DEFAULT_SIZE
from ._errors import ValidationError

#: the id the ToAPIs API reference uses for the same model (contract §2)
API_REFERENCE_MODEL = "gemini-3.1-flash-image-preview"
KNOWN_MODELS = (DEFAULT_MODEL, API_REFERENCE_MODEL, "nano_banana_2")
MODEL_ENV = "NANOBANANA_MODEL"

SIZES = (
    "1:1",
    "3:2",
    "2:3",
    "4:3",
    "3:4",
    "16:9",
    "9:16",
    "5:4",
    "4:5",
    "21:9",
    "1:4",
    "4:1",
    "1:8",
    "8:1",
)
RESOLUTIONS = ("0.5K", "1K", "2K", "4K")
MAX_N = 4
MAX_PROMPT_CHARS = 32_000
MAX_REFERENCES = 14
MAX_REFERENCE_BYTES = 10_000_000
REFERENCE_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}


def default_model() -> str:
    """The model id used when none is given: NANOBANANA_MODEL, else nano-banana-2."""
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def sniff_image_type(head: bytes) -> str | None:
    """Name the image type from its first bytes: png, jpeg, webp, gif or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def is_url(reference: str) -> bool:
    return "://" in reference or reference.startswith("data:")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The file's SHA-256, remembered while its size and modification time stay the same
    (a sweep asks for the same reference's hash in every cell)."""
    stat = os.stat(path)
    return _sha256_of(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class ImageRequest:
    """One generation task: what to make, in the product's terms.

    `reference_images` are local file paths or http(s) URLs; local files are uploaded
    once per content hash. `variant` labels a separate sample set for otherwise equal
    parameters (it is part of the cache key, never sent). `extra_metadata` passes extra
    `metadata` fields through unchanged.
    """

    prompt: str
    model: str = DEFAULT_MODEL
    size: str = DEFAULT_SIZE
    n: int = DEFAULT_N
    resolution: str = DEFAULT_RESOLUTION
    reference_images: tuple[str, ...] = ()
    google_search: bool = False
    google_image_search: bool = False
    extra_metadata: tuple[tuple[str, object], ...] = ()
    variant: str | None = None

    @classmethod
    def create(
        cls,
        prompt: str,
        *,
        model: str | None = None,
        size: str | None = None,
        n: int = DEFAULT_N,
        resolution: str | None = None,
        reference_images: Iterable[str | os.PathLike[str]] | str = (),
        google_search: bool = False,
        google_image_search: bool = False,
        extra_metadata: Mapping[str, object] | None = None,
        variant: str | None = None,
    ) -> ImageRequest:
        """Build and validate a request from loosely typed input (None = default)."""
        if isinstance(reference_images, (str, os.PathLike)):
            reference_images = (reference_images,)
        refs = tuple(_normalise_reference(r) for r in reference_images)
        request = cls(
            prompt=prompt,
            model=(model if model is not None else DEFAULT_MODEL),
            size=DEFAULT_SIZE if size is None else size,
            n=n,
            resolution=_normalise_resolution(
                DEFAULT_RESOLUTION if resolution is None else resolution
            ),
            reference_images=refs,
            google_search=bool(google_search or google_image_search),
            google_image_search=bool(google_image_search),
            extra_metadata=tuple(sorted((extra_metadata or {}).items())),
            variant=variant or None,
        )
        request.validate()
        return request

    def replace(self, **changes: Any) -> ImageRequest:
        """A copy with some fields changed, validated again."""
        if "resolution" in changes:
            changes["resolution"] = _normalise_resolution(changes["resolution"])
        if "reference_images" in changes:
            changes["reference_images"] = tuple(
                _normalise_reference(r) for r in changes["reference_images"]
            )
        request = dataclasses.replace(self, **changes)
        request.validate()
        return request

    # -- validation -------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ValidationError if the contract forbids this request: one sentence naming
        the fix, or one sentence listing every problem when there are several."""
        problems = self.problems()
        if len(problems) == 1:
            raise ValidationError(problems[0])
        if problems:
            listed = "; ".join(f"({i}) {_clause(p)}" for i, p in enumerate(problems, 1))
            raise ValidationError(f"This request has {len(problems)} problems: {listed}.")

    def problems(self) -> list[str]:
        """Every reason the contract forbids this request, each a sentence naming the fix."""
        found: list[str] = []
        if not isinstance(self.model, str) or not self.model.strip():
            found.append(f"The model is empty; use {DEFAULT_MODEL!r} or {API_REFERENCE_MODEL!r}.")
        elif self.model not in KNOWN_MODELS:
            found.append(f"Unknown model {self.model!r}; use one of {', '.join(KNOWN_MODELS)}.")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            found.append("The prompt is empty; write what the image should show.")
        elif len(self.prompt) > MAX_PROMPT_CHARS:
            found.append(
                f"The prompt has {len(self.prompt):,} characters; shorten it "
                f"to at most {MAX_PROMPT_CHARS:,}."
            )
        if self.size not in SIZES:
            found.append(
                f"Unknown size {self.size!r}; use one of the aspect ratios {', '.join(SIZES)}."
            )
        if isinstance(self.n, bool) or not isinstance(self.n, int):
            found.append(f"n must be a whole number from 1 to {MAX_N}, not {self.n!r}.")
        elif not 1 <= self.n <= MAX_N:
            found.append(
                f"n is {self.n}; ask for 1 to {MAX_N} images per task "
                "(use a sweep over n for more)."
            )
        if self.resolution not in RESOLUTIONS:
            found.append(
                f"Unknown resolution {self.resolution!r}; use one of {', '.join(RESOLUTIONS)}."
            )
        if len(self.reference_images) > MAX_REFERENCES:
            found.append(
                f"{len(self.reference_images)} reference images given; "
                f"use at most {MAX_REFERENCES}."
            )
        else:
            for reference in self.reference_images:
                try:
                    _check_reference(reference)
                except ValidationError as exc:
                    found.append(str(exc))
        for key, value in self.extra_metadata:
            if not isinstance(key, str) or not key:
                found.append(f"Metadata keys must be non-empty strings, not {key!r}.")
            elif key in ("resolution", "google_search", "google_image_search"):
                found.append(f"Set {key} with its own option, not as extra metadata.")
            elif not _strict_json(value):
                found.append(
                    f"Metadata {key!r} is {_short(value)}, which JSON cannot carry; "
                    "give a string, a finite number, true/false/null, or a list or "
                    "mapping of those."
                )
        for name in ("prompt", "variant"):
            position = _unsendable_character(getattr(self, name))
            if position is not None:
                found.append(
                    f"The {name} has a character that cannot be sent (a lone surrogate "
                    f"at position {position}); delete it or retype that part."
                )
        return found

    # -- derived values ---------------------------------------------------------------
    def reference_fingerprints(self) -> list[str]:
        """Content hashes of local files, URLs as they are: what the cache key depends on."""
        return [r if is_url(r) else "sha256:" + file_sha256(r) for r in self.reference_images]

    def key(self) -> str:
        """The request key naming cached results (design: Storage and reproducibility)."""
        material = {
            "model": self.model,
            "prompt": self.prompt,
            "size": self.size,
            "n": self.n,
            "resolution": self.resolution,
            "references": self.reference_fingerprints(),
            "google_search": self.google_search,
            "google_image_search": self.google_image_search,
            "metadata": [list(item) for item in self.extra_metadata],
            "variant": self.variant,
        }
        blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def to_payload(self, image_urls: Iterable[str] = ()) -> dict[str, Any]:
        """The JSON body for POST /v1/images/generations (contract §13.1)."""
        metadata: dict[str, object] = dict(self.extra_metadata)
        metadata["resolution"] = self.resolution
        if self.google_search or self.google_image_search:
            metadata["google_search"] = True
        if self.google_image_search:
            metadata["google_image_search"] = True
        payload: dict[str, object] = {
            "model": self.model,
            "prompt": self.prompt,
            "size": self.size,
            "n": self.n,
        }
        urls = [str(u) for u in image_urls]
        if urls:
            payload["image_urls"] = urls
        payload["metadata"] = metadata
        return payload

    def to_dict(self) -> dict[str, Any]:
        """Plain parameters for manifests, PNG chunks and provenance metadata."""
        data = dataclasses.asdict(self)
        data["reference_images"] = list(self.reference_images)
        data["extra_metadata"] = dict(self.extra_metadata)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageRequest:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["reference_images"] = tuple(values.get("reference_images") or ())
        values["extra_metadata"] = tuple(sorted((values.get("extra_metadata") or {}).items()))
        return cls(**values)

    def summary(self) -> str:
        refs = f" · {len(self.reference_images)} ref" if self.reference_images else ""
        variant = f" · variant {self.variant}" if self.variant else ""
        return f"{self.size} · {self.resolution} · n={self.n}{refs}{variant}"


def _clause(sentence: str) -> str:
    """A problem's sentence as a clause of a longer sentence."""
    text = sentence.rstrip(".")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        text = text[0].lower() + text[1:]
    return text


def _strict_json(value: object) -> bool:
    """True when `value` serialises to strict JSON: no NaN or infinity, no foreign objects,
    no text that UTF-8 cannot carry."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return False
    return True


def _unsendable_character(text: str) -> int | None:
    """The position of the first character UTF-8 cannot encode (a lone surrogate)."""
    if not isinstance(text, str):
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _normalise_resolution(value: object) -> str:
    text = str(value).strip()
    for allowed in RESOLUTIONS:
        if text.upper() == allowed.upper():
            return allowed
    return text


def _normalise_reference(reference: object) -> str:
    text = os.fspath(reference) if isinstance(reference, os.PathLike) else reference
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(
            f"A reference image must be a file path or an http(s) URL, not {reference!r}."
        )
    text = text.strip()
    if is_url(text):
        return text
    return str(Path(text).expanduser().resolve())


def _check_reference(reference: str) -> None:
    if is_url(reference):
        parsed = urlparse(reference)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValidationError(
                f"Reference {reference[:60]!r} is not an http(s) URL; pass a public "
                "http(s) URL or a local file path (local files are uploaded for you)."
            )
        return
    path = Path(reference)
    if not path.exists():
        raise ValidationError(f"Reference image {reference!r} does not exist; check the path.")
    if not path.is_file():
        raise ValidationError(
            f"Reference image {reference!r} is not a file; pass an image "
            "file (png, jpeg, webp or gif)."
        )
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ValidationError(
            f"Reference image {reference!r} cannot be read ({exc.strerror}); check its permissions."
        ) from None
    if size > MAX_REFERENCE_BYTES:
        raise ValidationError(
            f"Reference image {path.name!r} is {size / 1e6:.1f} MB; the "
            "limit is 10 MB, so resize or compress it."
        )
    if sniff_image_type(head) is None:
        raise ValidationError(
            f"Reference image {path.name!r} is not a png, jpeg, webp or gif "
            "image; convert it to one of those."
        )
