"""Validation of ``POST /v1/images/generations`` bodies (contract §13.2).

:func:`parse_submit` turns the raw body into a :class:`SubmitRequest` or raises
:class:`InvalidRequest` naming the offending field (``param``) with one sentence that says
what is wrong. Accepted aliases (contract C-H): ``reference_images`` for ``image_urls``, items
as strings or ``{"url": …}``, and a top-level ``resolution`` when ``metadata.resolution`` is
absent. Resolution tiers are matched case-insensitively and normalised to ``0.5K/1K/2K/4K``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .config import ACCEPTED_MODELS, ASPECT_RATIOS, RESOLUTION_TIERS

MAX_PROMPT_CHARS = 32_000
MAX_REFERENCES = 14
MAX_N = 4
DEFAULT_SIZE = "1:1"
DEFAULT_RESOLUTION = "1K"

_TIERS_BY_LOWER = {tier.lower(): tier for tier in RESOLUTION_TIERS}


class InvalidRequest(Exception):
    """A 400 answer: ``param`` is the field at fault, ``message`` one sentence about it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


class UnknownModel(InvalidRequest):
    """The model id is not one this server accepts (answered 400, or 503 model_not_found)."""

    def __init__(self, model: str, message: str) -> None:
        super().__init__("model", message)
        self.model = model


@dataclass(frozen=True)
class SubmitRequest:
    """A validated, normalised submit request."""

    model: str
    prompt: str
    size: str
    n: int
    resolution: str
    references: tuple[str, ...]
    google_search: bool = False
    google_image_search: bool = False


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON object body or raise :class:`InvalidRequest` (param ``body``)."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("body", "The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("body", "The request body must be a JSON object.")
    return payload


def parse_submit(
    body: bytes, *, models: tuple[str, ...] = ACCEPTED_MODELS, max_n: int = MAX_N
) -> SubmitRequest:
    """Validate a submit body; raise :class:`InvalidRequest` on the first problem found.
    `models` are the model ids accepted and `max_n` the most images one task may ask for
    (knobs: a gateway may accept fewer of either)."""
    payload = parse_json_object(body)
    # Checked in this order, so the first problem reported is the most basic one.
    model = _model(payload, models)
    prompt = _prompt(payload)
    size = _size(payload)
    n = _n(payload, max_n)
    metadata = _metadata(payload)
    resolution = _resolution(payload, metadata)
    google_search, google_image_search = _grounding(metadata)
    references = _references(payload)
    return SubmitRequest(
        model, prompt, size, n, resolution, references, google_search, google_image_search
    )


# ---------------------------------------------------------------------- fields
def _present(payload: dict[str, Any], name: str) -> bool:
    """A field counts as given when it is present and not JSON null."""
    return payload.get(name) is not None


def _model(payload: dict[str, Any], models: tuple[str, ...]) -> str:
    model = payload.get("model")
    if model is None or model == "":
        raise InvalidRequest("model", "The field 'model' is required.")
    if model not in models:
        raise UnknownModel(model, f"The model {model!r} is not supported.")
    return model


def _prompt(payload: dict[str, Any]) -> str:
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest(
            "prompt", "The field 'prompt' is required and must be a non-empty string."
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            "prompt",
            f"The field 'prompt' has {len(prompt)} characters; the maximum is {MAX_PROMPT_CHARS}.",
        )
    return prompt


def _size(payload: dict[str, Any]) -> str:
    if not _present(payload, "size"):
        return DEFAULT_SIZE
    size = payload["size"]
    if size not in ASPECT_RATIOS:
        raise InvalidRequest(
            "size",
            f"The field 'size' must be one of the aspect ratios {', '.join(ASPECT_RATIOS)}; "
            f"got {size!r}.",
        )
    return size


def _n(payload: dict[str, Any], max_n: int) -> int:
    if not _present(payload, "n"):
        return 1
    n = payload["n"]
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise InvalidRequest(
            "n", f"The field 'n' must be a JSON integer from 1 to {MAX_N}; got {n!r}."
        )
    if n > max_n:
        raise InvalidRequest(
            "n",
            f"This model generates one image per task; 'n' must be {max_n}, got {n}."
            if max_n == 1
            else f"The field 'n' must be at most {max_n} for this model; got {n}.",
        )
    return n


def _metadata(payload: dict[str, Any]) -> dict[str, Any]:
    if not _present(payload, "metadata"):
        return {}
    metadata = payload["metadata"]
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata", "The field 'metadata' must be a JSON object.")
    return metadata


def _resolution(payload: dict[str, Any], metadata: dict[str, Any]) -> str:
    if _present(metadata, "resolution"):
        param, value = "metadata.resolution", metadata["resolution"]
    elif _present(payload, "resolution"):
        param, value = "resolution", payload["resolution"]
    else:
        return DEFAULT_RESOLUTION
    tier = _TIERS_BY_LOWER.get(value.lower()) if isinstance(value, str) else None
    if tier is None:
        raise InvalidRequest(
            param,
            f"The field {param!r} must be one of {', '.join(RESOLUTION_TIERS)}; got {value!r}.",
        )
    return tier


def _grounding(metadata: dict[str, Any]) -> tuple[bool, bool]:
    flags = []
    for name in ("google_search", "google_image_search"):
        value = metadata.get(name, False)
        if value is None:
            value = False
        if not isinstance(value, bool):
            raise InvalidRequest(
                f"metadata.{name}", f"The field 'metadata.{name}' must be true or false."
            )
        flags.append(value)
    google_search, google_image_search = flags
    if google_image_search and not google_search:
        raise InvalidRequest(
            "metadata.google_image_search",
            "The field 'metadata.google_image_search' requires 'metadata.google_search' to be true.",
        )
    return google_search, google_image_search


def _references(payload: dict[str, Any]) -> tuple[str, ...]:
    given = [name for name in ("image_urls", "reference_images") if payload.get(name)]
    if len(given) == 2:
        raise InvalidRequest(
            "image_urls",
            "Send reference images in either 'image_urls' or 'reference_images', not both.",
        )
    if not given:
        # Present but empty (or null) is fine; anything else falsy-but-wrong is checked below.
        for name in ("image_urls", "reference_images"):
            if name in payload and payload[name] not in (None, [], ""):
                _reference_list(name, payload[name])
        return ()
    name = given[0]
    return _reference_list(name, payload[name])


def _reference_list(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidRequest(name, f"The field {name!r} must be an array of image URLs.")
    if len(value) > MAX_REFERENCES:
        raise InvalidRequest(
            name, f"The field {name!r} accepts at most {MAX_REFERENCES} images; got {len(value)}."
        )
    urls = []
    for item in value:
        url = item.get("url") if isinstance(item, dict) else item
        if not isinstance(url, str) or not url:
            raise InvalidRequest(
                name,
                f"Each item of {name!r} must be a URL string or an object with a 'url' string.",
            )
        lowered = url.strip().lower()
        if lowered.startswith("data:") or ("://" not in lowered and len(lowered) > 64):
            raise InvalidRequest(
                name,
                f"The field {name!r} does not accept base64 or data: URLs; upload the image "
                "(POST /v1/uploads/images) and send its URL.",
            )
        if not lowered.startswith(("http://", "https://")) or len(lowered.split("://", 1)[1]) == 0:
            shown = url if len(url) <= 60 else url[:57] + "..."
            raise InvalidRequest(
                name, f"Each item of {name!r} must be an http(s) URL; got {shown!r}."
            )
        urls.append(url.strip())
    return tuple(urls)
