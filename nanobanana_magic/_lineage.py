"""Lineage: which stored image a run was made from, and what was made from it.

A run's parents are the stored full-size images among its reference images (their path
names the run and the index: `runs/<run id>/<run id>-<i>.png`), so they are recorded in the
manifest with the request itself and need no second bookkeeping. `lineage(store, run)`
walks up to the roots and down to every descendant in the same folder.
"""

from __future__ import annotations

import dataclasses

from . import _display as display
from ._errors import ValidationError
from ._run import ImageAddress, Run


def _load(store, run_id: str) -> Run | None:
    try:
        return store.load_run(run_id)
    except (ValidationError, KeyError, TypeError, ValueError):
        return None  # gone, or an unreadable manifest: not part of any lineage


def _children(store, run_id: str) -> list[tuple[Run, ImageAddress]]:
    """The runs made from an image of `run_id`, each with the first of its references
    that is one, oldest first. The folder's index says which runs they are, so only their
    manifests are read (and they have the last word)."""
    children = []
    for child_id in dict.fromkeys(child for child, _image in store.index().children(run_id)):
        child = _load(store, child_id)
        address = next((p for p in child.parents if p.run_id == run_id), None) if child else None
        if child is not None and address is not None:
            children.append((child, address))
    return children


def children_of(store, run_id: str) -> list[Run]:
    """Runs of the folder that used an image of `run_id` as a reference, oldest first."""
    return [child for child, _address in _children(store, run_id)]


@dataclasses.dataclass
class Step:
    """One run in a lineage: its depth (0 for a root) and the image it was made from."""

    run: Run
    depth: int
    parent: ImageAddress | None
    focus: bool = False


class Lineage:
    """The chain from the roots to a run, then its descendants; displays itself."""

    def __init__(self, steps: list[Step], focus: Run):
        self.steps, self.focus = steps, focus

    @property
    def run_ids(self) -> list[str]:
        return [step.run.run_id for step in self.steps]

    def text(self) -> str:
        lines = []
        for step in self.steps:
            made_from = f" from {step.parent}" if step.parent else " (root)"
            mark = " ◀" if step.focus else ""
            prompt = step.run.request.prompt.replace("\n", " ")[:70]
            lines.append(f"{'  ' * step.depth}{step.run.run_id}{made_from}: {prompt!r}{mark}")
        return "\n".join(lines)

    __repr__ = text

    def _repr_html_(self) -> str:
        esc = display.esc
        rows = []
        for step in self.steps:
            run = step.run
            thumbs = "".join(
                f"<img src='{display.data_uri(image.thumbnail)}' alt='{esc(str(image.address))}' "
                f"title='{esc(str(image.address))}' style='height:72px;margin-right:4px;"
                f"border-radius:3px;vertical-align:top'>"
                for image in run.images
                if image.thumbnail.exists()
            )
            made_from = f"from {step.parent}" if step.parent else "root"
            weight = "font-weight:600;" if step.focus else ""
            rows.append(
                f"<div class='banana-lineage-step' style='margin:4px 0 4px "
                f"{step.depth * 28}px;{display.NOTE_STYLE};{weight}'>"
                f"{'↳ ' if step.depth else ''}<code>{esc(run.run_id)}</code> · "
                f"{esc(made_from)} · {esc(run.request.summary())}<br>"
                f"<span>{esc(run.request.prompt[:200])}</span><br>{thumbs}</div>"
            )
        return display.output(f"<div class='banana-lineage'>{''.join(rows)}</div>")


def lineage(store, run: Run) -> Lineage:
    """The chain of `run`'s first stored parents up to a root, then every descendant;
    reads only the manifests of the runs shown (parents from manifests, children from
    the folder's index)."""
    # up: follow the first stored parent to a root (a cycle cannot occur: parents are older)
    chain: list[tuple[Run, ImageAddress | None]] = []
    current: Run | None = run
    seen: set[str] = set()
    while current is not None and current.run_id not in seen:
        seen.add(current.run_id)
        parent, address = None, None
        for candidate in current.parents:
            parent = _load(store, candidate.run_id) if candidate.run_id != run.run_id else run
            if parent is not None:
                address = candidate
                break
        chain.append((current, address))
        current = parent
    chain.reverse()
    steps = [
        Step(r, depth, parent, focus=r.run_id == run.run_id)
        for depth, (r, parent) in enumerate(chain)
    ]
    # down: every descendant, depth-first
    shown = {step.run.run_id for step in steps}

    def descend(parent_run: Run, depth: int) -> None:
        for child, address in _children(store, parent_run.run_id):
            if child.run_id in shown:
                continue
            shown.add(child.run_id)
            steps.append(Step(child, depth, address))
            descend(child, depth + 1)

    descend(run, len(chain))
    return Lineage(steps, run)
