"""The panel in a real browser: JupyterLab 4 and Notebook 7 on loopback, headless Debian
chromium (the `jupyter_server` fixture runs each test once per front end).

Opens notebooks/panel.ipynb (no key: the notebook picks the simulator, 4 s per task),
runs it, generates with an uploaded reference, runs another cell while the panel works,
cancels a second generation and restores the first from the history. Its screenshots stay
in the test's temp folder (the README's come from test_outputs_browser, when asked).
"""

from __future__ import annotations

import re
import time

import pytest
from PIL import Image
from playwright.sync_api import expect

from nanobanana_magic._store import Store

from .pages import browser_page, images_decoded, open_notebook, run_all_cells, run_cell_containing

pytestmark = pytest.mark.browser

LOOPBACK = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")
FIRST_PROMPT = "a lighthouse on a cliff at dusk, watercolor"
SECOND_PROMPT = "a second idea that we cancel"


def test_panel_generates_cancels_and_restores(chromium_browser, jupyter_server, tmp_path):
    shots = tmp_path  # the README's pictures come from test_outputs_browser, when asked
    reference = tmp_path / "reference.png"
    Image.new("RGB", (64, 64), "#d9822b").save(reference)
    offbox, console_errors = [], []
    with browser_page(chromium_browser, 1500, 1800, tmp_path) as page:
        page.on("request", lambda r: r.url.startswith(LOOPBACK) or offbox.append(r.url))
        page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
        open_notebook(page, jupyter_server, "panel.ipynb")
        run_all_cells(page)
        panel = page.locator(".jp-OutputArea-output .banana-panel")
        expect(panel).to_be_visible()
        expect(panel.locator(".banana-header")).to_contain_text("SIMULATED images")
        expect(
            page.locator(".jp-CodeCell", has_text="controls.busy").locator(".jp-OutputArea-output")
        ).to_contain_text("panel busy: False")

        # the form: prompt, size, count and an uploaded reference image (thumbnail shown)
        panel.locator(".banana-prompt textarea").fill(FIRST_PROMPT)
        panel.locator(".banana-size select").select_option(label="16:9")
        panel.locator(".banana-count select").select_option(label="4")
        with page.expect_file_chooser() as chooser:  # the widget's <input> is off the DOM
            panel.locator(".banana-upload").click()
        chooser.value.set_files(str(reference))
        images_decoded(page, ".banana-panel .banana-reference img", 1)
        expect(panel.locator(".banana-cost")).to_contain_text("4 new images")

        panel.locator("button.banana-generate").click()
        status = panel.locator(".banana-progress-status")
        expect(status).to_have_text(re.compile(r"^(queued|generating)"))
        # the kernel is free while the panel works: another cell runs and answers
        run_cell_containing(page, "controls.busy")
        expect(
            page.locator(".jp-CodeCell", has_text="controls.busy").locator(".jp-OutputArea-output")
        ).to_contain_text("panel busy: True")

        expect(status).to_have_text(re.compile(r"^done"))
        images_decoded(page, ".banana-panel .banana-results img.banana-thumb", 4)
        expect(panel.locator(".banana-cost")).to_contain_text("Spent $0.100 on 4 images")
        panel.locator("button.banana-copy").click()
        cell_text = panel.locator(".banana-cell-text textarea")
        expect(cell_text).to_have_value(re.compile(r"^%%banana .*--size 16:9 .*-n 4 --ref "))
        panel.scroll_into_view_if_needed()
        panel.screenshot(path=str(shots / "panel.png"))
        panel.locator(".banana-results").screenshot(path=str(shots / "grid.png"))

        # a second generation, cancelled while its task runs: the journal keeps the task
        panel.locator(".banana-prompt textarea").fill(SECOND_PROMPT)
        panel.locator("button.banana-generate").click()
        expect(status).to_have_text(re.compile(r"^(queued|generating)"))
        # "queued" is said before the task is sent too: cancel once the journal has it
        store = Store(jupyter_server["root"] / "banana_outputs")
        deadline = time.monotonic() + 60
        while not store.pending_tasks():
            assert time.monotonic() < deadline, "the second task was never submitted"
            time.sleep(0.05)
        panel.locator("button.banana-cancel").click()
        expect(status).to_have_text(re.compile(r"^stopped"))
        expect(panel.locator(".banana-cost")).to_contain_text("Cancelled")
        pending = [store.load_run(entry["run_id"]) for entry in store.pending_tasks()]
        assert [run.request.prompt for run in pending] == [SECOND_PROMPT]

        # the history restores the first run's form and shows its images from disk
        history = panel.locator(".banana-history select")
        labels = history.locator("option").all_text_contents()
        (first,) = [label for label in labels if "lighthouse" in label]
        history.select_option(label=first)
        expect(panel.locator(".banana-prompt textarea")).to_have_value(FIRST_PROMPT)
        expect(panel.locator(".banana-count select")).to_have_value(re.compile(".+"))
        assert panel.locator(".banana-count select option:checked").text_content() == "4"
        assert panel.locator(".banana-size select option:checked").text_content() == "16:9"
        images_decoded(page, ".banana-panel .banana-results img.banana-thumb", 4)
        expect(panel.locator(".banana-cost")).to_contain_text("nothing was sent")
    assert (shots / "panel.png").stat().st_size > 20_000
    assert not offbox, offbox
    assert not [e for e in console_errors if "widget" in e.lower()], console_errors
