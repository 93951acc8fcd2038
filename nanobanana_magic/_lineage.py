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


def _all_runs(store) -> dict[str, Run]:
    runs = {}
    for run_id in store.run_ids():
        try:
            runs[run_id] = store.load_run(run_id)
        except (ValidationError, KeyError, TypeError, ValueError):
            continue  # an unreadable manifest is not part of any lineage
    return runs


def children_of(store, run_id: str) -> list[Run]:
    """Runs of the folder that used an image of `run_id` as a reference, oldest first."""
    return [
        run
        for run in _all_runs(store).values()
        if any(parent.run_id == run_id for parent in run.parents)
    ]


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
    runs = _all_runs(store)
    runs[run.run_id] = run
    children: dict[str, list[tuple[Run, ImageAddress]]] = {}
    for other in runs.values():
        for parent in other.parents:
            children.setdefault(parent.run_id, []).append((other, parent))
    # up: follow the first stored parent to a root (a cycle cannot occur: parents are older)
    chain: list[tuple[Run, ImageAddress | None]] = []
    current, seen = run, set()
    while current.run_id not in seen:
        seen.add(current.run_id)
        parents = [p for p in current.parents if p.run_id in runs]
        chain.append((current, parents[0] if parents else None))
        if not parents:
            break
        current = runs[parents[0].run_id]
    chain.reverse()
    steps = [
        Step(r, depth, parent, focus=r.run_id == run.run_id)
        for depth, (r, parent) in enumerate(chain)
    ]
    # down: every descendant, depth-first
    shown = {step.run.run_id for step in steps}

    def descend(parent_run: Run, depth: int) -> None:
        for child, address in children.get(parent_run.run_id, []):
            if child.run_id in shown:
                continue
            shown.add(child.run_id)
            steps.append(Step(child, depth, address))
            descend(child, depth + 1)

    descend(run, len(chain))
    return Lineage(steps, run)
