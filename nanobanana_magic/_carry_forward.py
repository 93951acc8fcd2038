"""Carrying a stored result into the next request: `--ref RUN#i`, `--refine RUN#i`, `--tag`.

A stored image used as a reference is always its full-size file (never the thumbnail),
so the engine's upload cache uploads it once per content hash, and the new run's
manifest names it: that is how the run records its parent.
"""

from __future__ import annotations

from ._addresses import maybe_image_reference, resolve_image
from ._errors import ValidationError


def resolve_ref_axis(store, values) -> list[tuple]:
    """A `--sweep ref=...` axis with every `RUN#i` replaced by that image's file."""
    from ._sweep_plan import parse_axis_values

    return [
        tuple(maybe_image_reference(store, ref) for ref in reference_set)
        for reference_set in parse_axis_values("ref", values)
    ]


def carry_forward(store, cmd, defaults: dict) -> dict:
    """Resolve the cell's stored-image references in place; return the request defaults
    (with `--refine`, the refined image's model, size and resolution)."""
    cmd.refs = [maybe_image_reference(store, ref) for ref in cmd.refs]
    if "ref" in cmd.sweep:
        if cmd.refine:
            raise ValidationError(
                "--refine sets the reference image, so it cannot be combined with "
                "--sweep ref=...; sweep over ref alone and list the image there."
            )
        cmd.sweep["ref"] = resolve_ref_axis(store, cmd.sweep["ref"])
    if not cmd.refine:
        return defaults
    run, image = resolve_image(store, cmd.refine)
    cmd.refs = [str(image.path), *cmd.refs]
    parent = run.request
    return {
        **defaults,
        "model": parent.model,
        "size": parent.size,
        "resolution": parent.resolution,
    }


def tag_results(cmd, result) -> None:
    """Apply `--tag` words to the runs a cell made."""
    if not cmd.tags or result is None:
        return
    runs = result.runs.values() if hasattr(result, "runs") else [result]
    for run in runs:
        if run is not None and run.folder is not None:
            run.tag(*cmd.tags)
