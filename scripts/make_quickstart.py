"""Write notebooks/quickstart.ipynb (without outputs) from the cells below.

Edit the cells here and run `python scripts/make_quickstart.py`; the notebook is
executed in the test suite (tests/test_kernel_magics.py), with the simulator it selects
itself and against a simulator given through TOAPIS_BASE_URL / TOAPIS_API_KEY.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    (
        "md",
        """\
# Nano Banana 2 in a notebook: quickstart

`%%banana` turns a cell into an image request for ToAPIs' Nano Banana 2 model: the cell
body is the prompt, options go on the magic line, and the images appear under the cell.
Every image is saved full size in an output folder (`./banana_outputs` unless
`NANOBANANA_OUTPUT_DIR` says otherwise); the notebook itself only keeps small thumbnails.

Each step below says what it costs at today's ToAPIs prices ($0.025 per 1K image,
$0.030 per 2K, $0.040 per 4K). With the simulator everything is free.""",
    ),
    ("code", "%load_ext nanobanana_magic"),
    (
        "md",
        """\
## Choose the backend

With a ToAPIs key in `TOAPIS_API_KEY` (set it before starting Jupyter) the requests go to
ToAPIs and are paid. Without one, the next cell switches to the built-in **simulator**: a
local server that behaves like ToAPIs and draws placeholder images marked *SIMULATED*.

To use ToAPIs later, create a key at toapis.com/console/token, then run `%banana login`
(the key stays in this kernel's memory only) and `%banana use toapis`.
`%banana config` shows what is in effect, with the key hidden.""",
    ),
    (
        "code",
        """\
import os

if os.environ.get("TOAPIS_API_KEY"):
    print("Using the API at", os.environ.get("TOAPIS_BASE_URL", "https://toapis.com"),
          "with the key from TOAPIS_API_KEY.")
else:
    %banana use sim""",
    ),
    (
        "md",
        """\
## Text to image

The cell body is the prompt. `--size` takes an aspect ratio (`1:1`, `16:9`, `9:16`,
`21:9`, ...), `--resolution` a tier (`0.5K`, `1K`, `2K`, `4K`), `-n` the number of images (1-4).
While the task runs, one status line updates in place; then the grid appears. Click a
thumbnail for the full-size file.

*Cost: one 1K image, $0.025.*""",
    ),
    (
        "code",
        """\
%%banana --size 16:9
A lighthouse on a cliff at dusk, oil painting, warm light in the windows""",
    ),
    (
        "md",
        """\
## Guided by a reference image

`--ref` takes a local file or an `https://` URL and can be repeated (up to 14). Local
files are uploaded once and remembered. Here we draw a small palette with Pillow and ask
for the lighthouse in its colours.

*Cost: one 1K image, $0.025; the upload is free.*""",
    ),
    (
        "code",
        """\
from PIL import Image, ImageDraw

palette = Image.new("RGB", (256, 256), "#1d3557")
draw = ImageDraw.Draw(palette)
for i, colour in enumerate(["#e63946", "#f1faee", "#a8dadc", "#457b9d"]):
    draw.rectangle([i * 64, 160, i * 64 + 63, 255], fill=colour)
draw.ellipse([80, 30, 176, 126], fill="#ffb703")
palette.save("reference.png")
palette""",
    ),
    (
        "code",
        """\
%%banana --ref reference.png --size 1:1
The lighthouse from before, painted only in the colours of the reference image""",
    ),
    (
        "md",
        """\
## Keep the result: `--name`, and variables in the prompt

`--name boats` also stores the result in the variable `boats` (a `Run`: its run id,
parameters, images and file paths). `{subject}` in the prompt takes the value of the
notebook variable `subject`; other braces are left alone and `{{subject}}` stays literal.

*Cost: two 1K images, $0.050.*""",
    ),
    ("code", 'subject = "two sailing boats"'),
    (
        "code",
        """\
%%banana -n 2 --name boats
{subject} racing in a storm, dramatic sky""",
    ),
    (
        "code",
        """\
print(boats.run_id, boats.request.prompt)
for path in boats.paths:
    print(path)""",
    ),
    (
        "md",
        """\
## The cache: re-running is free

Running a cell again with the same prompt and parameters shows the stored images and
sends nothing (the note under the cell says so and names the run). This is what makes
"Run All" safe on a notebook you already ran. Use `--no-cache` to pay for fresh images.

*Cost: $0 (same cell as the first generation).*""",
    ),
    (
        "code",
        """\
%%banana --size 16:9
A lighthouse on a cliff at dusk, oil painting, warm light in the windows""",
    ),
    (
        "md",
        """\
## Another take: `--variant`

A variant label asks for a new sample set with the same parameters; it is cached
separately, so both takes stay available.

*Cost: one 1K image, $0.025.*""",
    ),
    (
        "code",
        """\
%%banana --size 16:9 --variant take-2
A lighthouse on a cliff at dusk, oil painting, warm light in the windows""",
    ),
    (
        "md",
        """\
## History and showing a run again

`%banana history` lists the runs in the output folder; `%banana show RUN` displays one
again from disk, without the network. RUN is a run id, a unique part of one, `last`, or
`$variable`.

*Cost: $0.*""",
    ),
    ("code", "%banana history"),
    (
        "code",
        """\
rid = boats.run_id
%banana show $rid""",
    ),
    (
        "md",
        """\
## Look before you pay: `--dry-run`

`--dry-run` shows the exact JSON that would be sent and the estimated cost, and sends
nothing.

*Cost: $0 (the request shown would cost $0.160).*""",
    ),
    (
        "code",
        """\
%%banana --dry-run --size 21:9 --resolution 4K -n 4
A panoramic harbour at night, long exposure""",
    ),
    (
        "md",
        """\
## Take it to production: `export`

`%banana export RUN` writes the exact request as Python (or `--as curl`, `--as json`).
The code reads the key from `TOAPIS_API_KEY`; it never contains it.

*Cost: $0.*""",
    ),
    ("code", "%banana export $rid --as curl"),
    ("code", "%banana export $rid"),
    (
        "md",
        """\
## What did it cost?

`%banana cost` adds up what this kernel paid and what the whole output folder holds.
`%banana help` lists every option and command; `%%banana?` shows the option reference.""",
    ),
    ("code", "%banana cost"),
]


def notebook_from(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A Python 3 notebook of ("md" | "code", text) cells (also used by make_explore.py)."""
    notebook = new_notebook()
    notebook.cells = [
        new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in cells
    ]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def build() -> nbformat.NotebookNode:
    return notebook_from(CELLS)


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"
    nbformat.write(build(), target)
    print(f"wrote {target}")
