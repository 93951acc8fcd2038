"""The exploring widgets in a real kernel (nbclient): the gallery, rating controls and the
compare overlay render as widget views with their state saved in the notebook, and the
gallery's static HTML follows its view for front ends that cannot show widgets."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from nanobanana_magic._demo import execute_notebook

pytestmark = pytest.mark.kernel

CELLS = [
    "%load_ext nanobanana_magic\n%banana use sim",
    "%%banana -n 2 --name r\nA glass fishing float on a pebble beach",
    "r.images[1].rate(4)\nr.images[1].pick()\n%banana gallery --min-rating 4",
    "r.controls()",
    "from nanobanana_magic import compare\ncompare(r.images[0], r.images[1]).overlay()",
]
WIDGET = "application/vnd.jupyter.widget-view+json"


def test_gallery_controls_and_overlay_in_a_kernel(tmp_path):
    source = tmp_path / "widgets.ipynb"
    notebook = new_notebook(cells=[new_code_cell(text) for text in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, source)
    executed, page = execute_notebook(
        source, tmp_path / "out", env={"TOAPIS_API_KEY": None, "NANOBANANA_OUTPUT_DIR": None}
    )
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    controls, overlay = (
        next(o for o in nb.cells[i].outputs if o.output_type == "execute_result").data
        for i in (3, 4)
    )
    # the gallery: its view, then its static page in an output of its own (shown where
    # the view is not: reopened without a kernel, untrusted, an HTML page)
    gallery, tail = (o.data for o in nb.cells[2].outputs if o.output_type == "display_data")
    assert WIDGET in gallery and WIDGET in controls and WIDGET in overlay
    assert "text/html" not in gallery and WIDGET not in tail
    # one image passes the filter; the static page shows it with its marks
    static = tail["text/html"]
    assert static.count("class='banana-thumb'") == 1 and "banana-gallery-tail-when-dead" in static
    assert "★★★★☆" in static and "mathjax_ignore" in static
    state = json.dumps(nb.metadata["widgets"])
    for hook in ("banana-gallery", "banana-rate-4", "banana-pick", "banana-overlay-toggle"):
        assert hook in state
    # the HTML page (no kernel, maybe no network for the widget manager) shows the
    # gallery's static record in place of its widget view
    html = page.read_text()
    assert "banana-gallery-static" in html and "★★★★☆" in html
    assert "output_widget_view" not in html
