"""Reproducing an image from the file alone: the parameters inside its PNG.

`request_from_image(path)` reads the `nanobanana` text chunk this package writes into
every full-size PNG (`_imaging.save_with_parameters`), even in a copied or renamed file,
and returns the `ImageRequest` that made it. The chunk is untrusted: anything that is not
the shape we write gets one sentence. `cell_for_request` writes the `%%banana` cell that
makes the same request (and so hits the same cache).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
from pathlib import Path

from . import _display as display
from ._defaults import DEFAULT_RESOLUTION, DEFAULT_SIZE
from ._errors import ValidationError
from ._request import ImageRequest, default_model

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def image_parameters(path: str | os.PathLike) -> dict:
    """The parameters dict inside a PNG saved by this package; one sentence otherwise."""
    from PIL import Image, UnidentifiedImageError

    from ._imaging import PARAMETERS_KEY

    name = Path(path).name
    try:
        with Image.open(path) as image:
            kind, text = image.format, image.info.get(PARAMETERS_KEY)
    except FileNotFoundError:
        raise ValidationError(f"There is no file {str(path)!r}; check the path.") from None
    except (UnidentifiedImageError, OSError):
        raise ValidationError(
            f"{name!r} is not an image; `from` reads the PNGs nanobanana saves "
            "(runs/<run>/<run>-<i>.png in the output folder)."
        ) from None
    if text is None:
        raise ValidationError(
            f"{name!r} ({kind}) carries no nanobanana parameters: it was not saved by "
            "nanobanana-magic, or saved with Banana.embed_parameters off (the run's "
            "manifest.json still has them)."
        )
    try:
        parameters = json.loads(text)
        if not isinstance(parameters, dict) or not isinstance(parameters.get("request"), dict):
            raise ValueError
    except ValueError:
        raise ValidationError(
            f"The nanobanana parameters in {name!r} are malformed, so the request cannot "
            "be read; the run's manifest.json holds them too."
        ) from None
    return parameters


def request_from_image(path: str | os.PathLike) -> ImageRequest:
    """The `ImageRequest` that made an image saved by this package (from its PNG chunk).

    Reference images are returned as recorded; `validate()` tells whether they still
    exist here.
    """
    data = image_parameters(path)["request"]
    try:
        request = ImageRequest.from_dict(data)
        dataclasses.replace(request, reference_images=()).validate()
        if not all(isinstance(r, str) for r in request.reference_images):
            raise ValidationError("reference images are not paths or URLs")
    except (TypeError, ValueError, AttributeError) as exc:
        detail = str(exc).rstrip(".") if isinstance(exc, ValidationError) else "wrong types"
        raise ValidationError(
            f"The nanobanana parameters in {Path(path).name!r} do not make a valid request "
            f"({detail}); the run's manifest.json holds them too."
        ) from None
    return request


def cell_for_request(request: ImageRequest) -> str:
    """The `%%banana` cell that makes `request` (defaults left out, braces kept literal)."""
    words: list[str] = []
    if request.model != default_model():
        words += ["--model", request.model]
    if request.size != DEFAULT_SIZE:
        words += ["--size", request.size]
    if request.resolution != DEFAULT_RESOLUTION:
        words += ["--resolution", request.resolution]
    if request.n != 1:
        words += ["-n", str(request.n)]
    for reference in request.reference_images:
        words += ["--ref", reference]
    if request.google_image_search:
        words.append("--image-search")
    elif request.google_search:
        words.append("--search")
    for key, value in request.extra_metadata:
        text = value if isinstance(value, str) else json.dumps(value)
        words += ["--meta", f"{key}={text}"]
    if request.variant:
        words += ["--variant", request.variant]
    line = " ".join(["%%banana", *(shlex.quote(w) for w in words)])
    return line + "\n" + _PLACEHOLDER.sub(r"{{\1}}", request.prompt)


class FromImage:
    """What `%banana from PATH` shows: where the image came from, its request and cell."""

    def __init__(self, path, request: ImageRequest, parameters: dict):
        self.path, self.request, self.parameters = Path(path), request, parameters
        self.cell = cell_for_request(request)

    def describe(self) -> str:
        run = self.parameters.get("run_id")
        index = self.parameters.get("index")
        origin = f" (image #{index} of run {run})" if isinstance(run, str) else ""
        sim = " It was made by the simulator." if self.parameters.get("simulated") is True else ""
        return f"{self.path.name}{origin}: {self.request.summary()}.{sim}"

    def __repr__(self) -> str:
        payload = json.dumps(self.request.to_dict(), indent=2, ensure_ascii=False)
        return f"{self.describe()}\n{payload}\n\n{self.cell}"

    def _repr_html_(self) -> str:
        return display.output(
            display.note(self.describe())
            + display.code_block(
                json.dumps(self.request.to_dict(), indent=2, ensure_ascii=False),
                css_class="banana-from-request",
            )
            + display.note("The cell that makes it (a cache hit while the folder holds it):")
            + display.code_block(self.cell, css_class="banana-from-cell")
        )


def from_image(path) -> FromImage:
    return FromImage(path, request_from_image(path), image_parameters(path))
