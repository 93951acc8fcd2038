"""Image addresses: `RUN#i` names image i of a stored run.

RUN is anything `%banana show` accepts (a run id, a unique prefix, `last`, `-2`); `#i`
defaults to `#0`. Used by `%banana rate/pick`, `--ref RUN#i`, `--refine RUN#i` and
`compare`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import ValidationError
from ._request import is_url
from ._run import Run, RunImage


def split_address(text: str) -> tuple[str, int]:
    """('RUN', i) from 'RUN#i' or 'RUN' (index 0)."""
    text = str(text).strip()
    run, _, index = text.rpartition("#") if "#" in text else (text, "", "0")
    run = run.strip()
    if not run or not index.strip().isdigit():
        raise ValidationError(
            f"{text!r} is not an image address; write RUN#i, e.g. last#0 or 20250101-120000-ab12cd#1."
        )
    return run, int(index)


def resolve_run(store, text: str) -> Run:
    return store.load_run(store.resolve_run_id(text))


def resolve_image(store, text: str) -> tuple[Run, RunImage]:
    """The run and the image an address names; one sentence when either does not exist."""
    run_text, index = split_address(text)
    run = resolve_run(store, run_text)
    for image in run.images:
        if image.index == index:
            return run, image
    have = ", ".join(f"#{image.index}" for image in run.images) or "no images"
    raise ValidationError(f"Run {run.run_id} has no image #{index} ({have}); pick one of those.")


def maybe_image_reference(store, reference):
    """A reference as given, or the full-size file of the stored image it names.

    A URL or an existing file stays as it is; a `RUN#i` (or a bare RUN) that names a
    stored run becomes that image's full-size path (never the thumbnail).
    """
    if isinstance(reference, RunImage):
        return str(reference.path)
    if isinstance(reference, os.PathLike) or not isinstance(reference, str):
        return reference
    text = reference.strip()
    if not text or is_url(text) or Path(text).expanduser().exists():
        return reference
    if "#" not in text and ("/" in text or os.sep in text or "." in Path(text).name):
        return reference  # looks like a file path that does not exist: let validation say so
    try:
        _, image = resolve_image(store, text)
    except ValidationError:
        if "#" in text:
            raise
        return reference
    return str(image.path)
