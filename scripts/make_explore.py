"""Write notebooks/explore.ipynb (without outputs) from the cells below.

Edit the cells here and run `python scripts/make_explore.py`. `nanobanana demo` executes
the notebook (and so does tests/test_demo.py), against the simulator it selects itself
when no TOAPIS_API_KEY is set. Every step is deterministic, so a second run of the
notebook is served from the cache.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from make_quickstart import notebook_from  # the same folder: scripts/

CELLS = [
    (
        "md",
        """\
# The exploration loop: rate, compare, carry a result forward

Tuning an image is more than looking at a grid: choose the better image, see *which value
of which parameter* made it better, and carry that choice into the next request. This
notebook walks the loop once: a sweep, ratings, the summary naming the winning value, a
compare, a refine step from the best image, its lineage, and reproducing an image from a
copied PNG file.

With the simulator everything is free; with a ToAPIs key the whole notebook costs about
15 cents at today's prices (six 1K images at 2.5 cents).""",
    ),
    (
        "code",
        """\
%load_ext nanobanana_magic
import os
import shutil
from pathlib import Path

if not os.environ.get("TOAPIS_API_KEY"):
    %banana use sim""",
    ),
    (
        "md",
        """\
## 1. A sweep

Two sizes × two styles: four cells, one image each, shown as a labelled grid.""",
    ),
    (
        "code",
        """\
%%banana --sweep size=1:1,16:9 --sweep style=ink,oil --name posters
A lighthouse poster on a basalt cliff at dusk, {style}""",
    ),
    (
        "md",
        """\
## 2. Rate and pick

An image is addressed as `RUN#i` (a run id, a unique prefix, `last` or `-2`, and the image
index). Rate with `%banana rate RUN#i N` or `image.rate(N)`, mark picks with
`%banana pick RUN#i` or `image.pick()`. Ratings live in the output folder, so they survive
restarts and show wherever the image is shown again. (Where widgets render, the panel and
the gallery have star buttons under each thumbnail.)""",
    ),
    (
        "code",
        """\
wide_oil = str(posters["16:9", "oil"].images[0].address)
%banana rate $wide_oil 5
%banana pick $wide_oil
posters["1:1", "ink"].images[0].rate(2)
posters["1:1", "oil"].images[0].rate(4)
posters["16:9", "ink"].images[0].rate(3)
posters  # shown again: stars under the thumbnails, the summary under the grid""",
    ),
    (
        "md",
        """\
## 3. Which value wins

`summary()` gives per axis and value the images, the rated ones, the mean rating, the
picks, the cost and the seconds per task, marks the best value of each axis, and with two
axes the mean rating of every row × column.""",
    ),
    (
        "code",
        """\
summary = posters.summary()
print("best value per axis:", summary.best)
summary""",
    ),
    (
        "md",
        """\
## 4. Compare

The two wide posters side by side at one scale; the parameters that differ are highlighted
and the prompts are diffed word by word. Read from disk: nothing is sent.""",
    ),
    (
        "code",
        """\
from nanobanana_magic import compare

compare(posters["16:9", "ink"].images[0], posters["16:9", "oil"].images[0])""",
    ),
    (
        "md",
        """\
## 5. Carry the best image forward

`--refine RUN#i` makes the stored image the reference of the next request and keeps its
model, size and resolution: the "now change only this" step. The full-size file is
uploaded once; the new run records it as its parent.""",
    ),
    (
        "code",
        """\
best_cell = tuple(summary.best[axis] for axis in ("size", "style"))
best = str(posters[best_cell].images[0].address)
print("refining", best_cell, "=", best)""",
    ),
    (
        "code",
        """\
%%banana --refine $best --tag refined --name refined
The same lighthouse poster, with a small red sailboat in the foreground""",
    ),
    (
        "code",
        """\
print("parents:", [str(parent) for parent in refined.parents])
%banana lineage last""",
    ),
    (
        "md",
        """\
## 6. Reproduce from the image file

Every full-size PNG carries its request. A copy, renamed and moved elsewhere, still says
how it was made; `--run` makes it again, which here is a cache hit (nothing sent).""",
    ),
    (
        "code",
        """\
Path("shared").mkdir(exist_ok=True)
shutil.copy(refined.images[0].path, "shared/poster-final.png")
%banana from shared/poster-final.png""",
    ),
    ("code", "%banana from shared/poster-final.png --run"),
    (
        "md",
        """\
## 7. Find it again

`%banana history` filters by text, tag, picks, rating, model, size and date;
`%banana gallery` browses the folder with the same filters (static thumbnails where
widgets do not render).""",
    ),
    ("code", "%banana history --min-rating 4"),
    ("code", "%banana history --tag refined"),
    ("code", "%banana gallery --picked"),
    (
        "code",
        """\
for row in posters.records():
    print(row["size"], row["style"], "rating", row["rating"], "picked", row["picked"],
          "size ok", row["size_ok"])""",
    ),
]


def build() -> nbformat.NotebookNode:
    return notebook_from(CELLS)


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "notebooks" / "explore.ipynb"
    nbformat.write(build(), target)
    print(f"wrote {target}")
