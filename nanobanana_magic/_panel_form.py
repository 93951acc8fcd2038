"""The panel's form as plain data, with no widgets: its requests, its cell, its uploads.

`PanelForm` is the control panel's form as plain data. It turns into requests (one, or
one per sweep cell, via `plan_form`), into the exact `%%banana` cell that reproduces it
(`cell_text`), and back from a stored run (`from_run`). Where the requests go is the
panel's session (`_panel_session`). Everything here is testable without a browser or a
kernel; `_panel` is the view.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import shlex
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._defaults import DEFAULT_N, DEFAULT_RESOLUTION, DEFAULT_SIZE
from ._engine import Engine
from ._errors import ValidationError
from ._plan import BatchPlan, plan_batch
from ._request import (
    MAX_REFERENCE_BYTES,
    ImageRequest,
    default_model,
    is_url,
    sniff_image_type,
)
from ._run import Run
from ._sweep_plan import plan_sweep
from ._template import interpolate

#: request parameters the sweep dropdown offers (besides the prompt's {names})
SWEEP_PARAMETERS = ("size", "resolution", "n", "model")
_URL_SEPARATORS = re.compile(r"[\s,]+")
_UPLOAD_SUFFIX = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "gif": ".gif"}


# -- the form as data -----------------------------------------------------------------------------
@dataclasses.dataclass
class PanelForm:
    """What the panel's form says, in the magic's terms.

    `uploads` are local reference files (saved uploads, or paths); `urls` is the URL field
    as typed (separated by spaces, commas or new lines). `sweep_key` is "" for no sweep,
    else a parameter (size, resolution, n, model) or a `{name}` of the prompt, with
    `sweep_values` comma-separated.
    """

    prompt: str = ""
    model: str = dataclasses.field(default_factory=default_model)
    size: str = DEFAULT_SIZE
    resolution: str = DEFAULT_RESOLUTION
    n: int = DEFAULT_N
    uploads: tuple[str, ...] = ()
    urls: str = ""
    sweep_key: str = ""
    sweep_values: str = ""

    @property
    def url_list(self) -> list[str]:
        return [u for u in _URL_SEPARATORS.split(self.urls.strip()) if u]

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(self.uploads) + tuple(self.url_list)

    def request_options(self) -> dict:
        """Keyword arguments for ImageRequest.create, as the magic would pass them."""
        return {
            "model": self.model,
            "size": self.size,
            "n": self.n,
            "resolution": self.resolution,
            "reference_images": self.references,
        }

    def sweep_axes(self) -> dict[str, str]:
        """{key: "v1,v2"} for a sweep, {} for none; refuses a sweep without values."""
        if not self.sweep_key:
            return {}
        values = [v.strip() for v in self.sweep_values.split(",") if v.strip()]
        if not values:
            raise ValidationError(
                f"The sweep over {self.sweep_key} has no values; list them "
                "separated by commas (e.g. 1:1, 16:9) or choose no sweep."
            )
        return {self.sweep_key: ",".join(values)}

    def cell_text(self, output_dir: str | None = None) -> str:
        """The `%%banana` cell that makes the same requests (so it hits the same cache)."""
        axes = self.sweep_axes()
        words = []
        for key, option, value in (
            ("model", "--model", self.model),
            ("size", "--size", self.size),
            ("resolution", "--resolution", self.resolution),
            ("n", "-n", str(self.n)),
        ):
            if key not in axes:  # a swept parameter is given by its axis alone
                words += [option, value]
        for reference in self.references:
            words += ["--ref", reference]
        for key, values in axes.items():
            words += ["--sweep", f"{key}={values}"]
        if output_dir:
            words += ["--out", str(output_dir)]
        return "%%banana " + " ".join(shlex.quote(w) for w in words) + "\n" + self.prompt.strip()

    @classmethod
    def from_run(cls, run: Run) -> PanelForm:
        """The form that made `run` (its own parameters; no sweep)."""
        request = run.request
        local = tuple(r for r in request.reference_images if not is_url(r))
        urls = " ".join(r for r in request.reference_images if is_url(r))
        return cls(
            prompt=request.prompt,
            model=request.model,
            size=request.size,
            resolution=request.resolution,
            n=request.n,
            uploads=local,
            urls=urls,
        )


def plan_form(
    form: PanelForm,
    engine: Engine,
    *,
    namespace: Mapping[str, Any] | None = None,
    prices: Mapping[str, float] | None = None,
) -> BatchPlan:
    """Validate the form and expand it into its plan (a SweepPlan for a sweep), exactly
    as the magic would. Raises a one-sentence BananaError on bad input; sends nothing.
    """
    namespace = namespace if namespace is not None else {}
    axes = form.sweep_axes()
    template = form.prompt.strip()
    if axes:
        common = {k: v for k, v in form.request_options().items() if k not in axes}
        return plan_sweep(
            template, axes, engine=engine, namespace=namespace, prices=prices, **common
        )
    request = ImageRequest.create(interpolate(template, namespace), **form.request_options())
    return plan_batch(engine, [request], prices=prices)


def save_upload(root: Path, name: str, content: bytes) -> Path:
    """Keep an uploaded reference image as `<root>/uploads/<sha256>.<ext>` (once per content)."""
    kind = sniff_image_type(bytes(content[:16]))
    if kind is None:
        raise ValidationError(
            f"{name!r} is not a png, jpeg, webp or gif image; choose an image file."
        )
    if len(content) > MAX_REFERENCE_BYTES:
        raise ValidationError(
            f"{name!r} is {len(content) / 1e6:.1f} MB; the limit is 10 MB, "
            "so resize or compress it."
        )
    folder = Path(root) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(content).hexdigest() + _UPLOAD_SUFFIX[kind])
    if not path.exists():
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_bytes(bytes(content))
        partial.replace(path)
    return path


def reference_thumbnail(path: str | os.PathLike, side: int = 96) -> bytes:
    """Small JPEG bytes of a reference image, or b"" if it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.draft("RGB", (side, side))
            image = image.convert("RGB")
            image.thumbnail((side, side))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=80)
            return out.getvalue()
    except (OSError, ValueError):
        return b""


def history_label(run: Run) -> str:
    when = time.strftime("%m-%d %H:%M", time.localtime(run.created_at))
    prompt = run.request.prompt.replace("\n", " ")
    prompt = prompt if len(prompt) <= 40 else prompt[:39] + "…"
    status = "" if run.status == "completed" else f" · {run.status}"
    return f"{when} · {prompt} · {run.request.summary()}{status}"
