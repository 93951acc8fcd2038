"""Rating and "Use as reference" in the panel, clicked in a real browser (JupyterLab 4 on
loopback, headless Debian chromium): the clicks reach the kernel and land in the output
folder's annotations, and the chosen image becomes the form's reference."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from nanobanana_magic._store import Store

from .pages import (
    browser_page,
    generate_in_panel,
    images_decoded,
    open_notebook,
    run_all_cells,
    write_notebook,
)

pytestmark = pytest.mark.browser

CELLS = [
    "%load_ext nanobanana_magic\n%banana use sim",
    "controls = %banana panel\ncontrols",
    "print('references:', json.dumps(controls.form().references))",
]


@pytest.mark.parametrize("jupyter_server", ["lab"], indirect=True)
def test_rate_and_use_as_reference_in_the_panel(chromium_browser, jupyter_server, tmp_path):
    root = jupyter_server["root"]
    write_notebook(root / "explore.ipynb", ["import json", *CELLS])
    with browser_page(chromium_browser, 1400, 1600, tmp_path) as page:
        open_notebook(page, jupyter_server, "explore.ipynb")
        run_all_cells(page)
        panel = page.locator(".jp-OutputArea-output .banana-panel")
        expect(panel).to_be_visible()
        generate_in_panel(page, "a lantern in fog", 2)
        controls = panel.locator(".banana-image-controls")
        expect(controls).to_have_count(2)

        controls.nth(1).locator("button.banana-rate-4").click()
        expect(controls.nth(1).locator("button.banana-rate")).to_have_text(
            ["★", "★", "★", "★", "☆"]
        )
        controls.nth(1).locator(".banana-pick").click()
        controls.nth(0).locator("button.banana-use-reference").click()
        images_decoded(page, ".banana-panel .banana-reference img", 1)

        store = Store(root / "banana_outputs")
        (run,) = store.recent_runs(1)
        assert [image.rating for image in run.images] == [None, 4]
        assert [image.picked for image in run.images] == [False, True]
        # the kernel's form now holds the full-size file of image #0
        cell = page.locator(".jp-CodeCell", has_text="print('references:'")
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        output = cell.locator(".jp-OutputArea-output")
        expect(output).to_contain_text(re.compile(r"references: \[.*-0\.png"))
        shown = json.loads(output.inner_text().split("references:", 1)[1])
        assert shown == [str(run.images[0].path)]
