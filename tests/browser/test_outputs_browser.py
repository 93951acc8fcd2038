"""The package's outputs at home in JupyterLab 4 and Notebook 7 (real browser, both themes).

One notebook, run once per front end against the built-in simulator, shows a sweep's dry
run and its grid (6 cells × 1K at $0.025: "$0.150"), a single run's card, a sweep with a
failed cell (the error box) and the panel. The test checks, in the page as rendered:

- dollar amounts stay literal: the summary reads "$0.150" and MathJax typeset nothing;
- a thumbnail click shows the whole full-size image fitted to the window, and closes;
- in JupyterLab Dark, titles, labels and captions keep a measured text contrast of at least
  4.5:1 (WCAG AA) against what is really behind them;
- the panel: "Copy as cell" puts the `%%banana` cell on the clipboard and says so, and
  that cell run as it is shows the panel's images from the cache; after a kernel restart
  the panel says its kernel is gone, and after saving and reopening, the panel's static
  record still shows its last images with their run id, and ipywidgets' "Error displaying
  widget" line for the dead view is hidden.

Screenshots of both themes (from JupyterLab) go to the test's temporary folder, or to
docs/ for the README when UPDATE_DOCS_SCREENSHOTS=1.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .pages import (
    browser_page,
    choose_theme,
    code_cell,
    full_size_shown_fitted,
    generate_in_panel,
    images_decoded,
    open_notebook,
    run_all_cells,
    write_notebook,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "at_home.ipynb"
SWEEP = "--sweep size=1:1,16:9,9:16 --sweep style=ink,oil"
PANEL_PROMPT = "a paper boat on a pond"
CELLS = [
    "%load_ext nanobanana_magic\n%banana use sim --set duration=0.4 --set queue_delay=0.05",
    f"%%banana {SWEEP} --dry-run\nA red fox in snow, {{style}}",
    f"%%banana {SWEEP}\nA red fox in snow, {{style}}",
    "%%banana --size 16:9\nA lighthouse on a cliff at dusk",
    "%%banana --sweep mood=calm,[fail]\nA harbour at night, {mood}",
    "controls = %banana panel\ncontrols",
]
# what the test measures in Dark: titles, labels and captions of every kind of output
CONTRAST_TARGETS = {
    "run title": ".banana-run-title",
    "run caption": ".banana-run-header",
    "card caption": ".banana-caption",
    "sweep summary": ".banana-sweep-summary",
    "sweep column label": ".banana-sweep-col",
    "sweep row label": ".banana-sweep-row",
    "sweep axis label": ".banana-sweep-axis",
    "error": ".banana-error",
    "badge": ".banana-badge",
    "note": ".banana-note",
    "code": ".banana-payload",
    "panel title": ".banana-panel .banana-title",
    "panel caption": ".banana-panel .banana-subtitle",
    "panel label": ".banana-panel .widget-label",
}
# WCAG relative luminance and contrast of each element's text against its real backdrop:
# the backgrounds of its ancestors composited from the page down, the text colour (often
# translucent in JupyterLab's themes) composited over that.
CONTRAST_JS = """
(targets) => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, below) =>
    [0, 1, 2].map((i) => top[i] * top[3] + below[i] * (1 - top[3])).concat([1]);
  const luminance = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const backdrop = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const results = [];
  for (const [name, selector] of Object.entries(targets)) {
    const found = [...document.querySelectorAll(selector)].filter(
      (el) => el.offsetParent !== null && el.textContent.trim());
    for (const el of found.slice(0, 4)) {
      const bg = backdrop(el);
      const fg = over(parse(getComputedStyle(el).color), bg);
      const [a, b] = [luminance(fg), luminance(bg)];
      results.push({name, text: el.textContent.trim().slice(0, 40),
                    ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)});
    }
  }
  return results;
}
"""


def shoot(page, folder: Path, cells: dict[str, int], theme: str) -> None:
    """<folder>/<name>-<theme>.png of each named cell's output."""
    for name, index in cells.items():
        output = code_cell(page, index).locator(".jp-Cell-outputArea")
        output.scroll_into_view_if_needed()
        output.screenshot(path=str(folder / f"{name}-{theme}.png"))


def test_outputs_are_at_home_in_light_and_dark(
    chromium_browser, jupyter_server, tmp_path, screenshot_folder
):
    # the README's pictures come from JupyterLab, into docs/ only when asked for
    shots_folder = screenshot_folder(tmp_path) if jupyter_server["app"] == "lab" else tmp_path
    write_notebook(jupyter_server["root"] / NOTEBOOK, CELLS)
    with browser_page(chromium_browser, 1280, 1400, tmp_path) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        open_notebook(page, jupyter_server, NOTEBOOK)
        run_all_cells(page)
        sweep, single, failing = code_cell(page, 2), code_cell(page, 3), code_cell(page, 4)
        # every cell has run (generous: the machine may be busy)
        expect(code_cell(page, 5).locator(".banana-panel")).to_be_visible(timeout=180_000)
        images_decoded(page, ".banana-sweep-grid img.banana-thumb", 7)
        expect(failing.locator(".banana-error:visible")).to_contain_text("failed")
        images_decoded(page, ".banana-run img.banana-thumb", 1)

        # dollars stay dollars: the text as rendered, and no MathJax element anywhere
        expect(code_cell(page, 1).locator(".banana-note")).to_contain_text(
            "estimated $0.150 (6 × 1K at $0.025)"
        )
        expect(sweep.locator(".banana-sweep-summary:visible")).to_contain_text("$0.150 spent")
        expect(sweep.locator(".banana-sweep-summary:visible")).to_contain_text("(estimate $0.150)")
        expect(page.locator(".jp-OutputArea mjx-container, .jp-OutputArea .MathJax")).to_have_count(
            0
        )

        # a thumbnail click shows the whole image, fitted to the window; a click closes it
        single.locator("a.banana-zoom:visible").first.click()
        full_size_shown_fitted(page, "run card")
        page.locator(".banana-lightbox").click()
        expect(page.locator(".banana-lightbox")).to_have_count(0)

        # the panel makes one image; "Copy as cell" puts its cell on the clipboard
        panel = generate_in_panel(page, PANEL_PROMPT)
        record = page.locator(".banana-panel-record")
        images_decoded(page, ".banana-panel-record img.banana-thumb", 1)
        run_id = record.locator(".banana-run-header").inner_text().split("run ")[1].split(" ")[0]
        panel.locator("button.banana-copy").click()
        expect(panel.locator(".banana-copy-status")).to_have_text(re.compile("^Copied"))
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith("%%banana ") and copied.endswith("\n" + PANEL_PROMPT), copied

        shots = {"sweep": 2, "run": 3, "panel": 5}
        shoot(page, shots_folder, shots, "light")
        choose_theme(page, "JupyterLab Dark")
        measured = page.evaluate(CONTRAST_JS, CONTRAST_TARGETS)
        missing = set(CONTRAST_TARGETS) - {item["name"] for item in measured}
        assert not missing, f"nothing measured for {missing}"
        low = [item for item in measured if item["ratio"] < 4.5]
        assert not low, f"contrast below 4.5:1 in JupyterLab Dark: {low}"
        shoot(page, shots_folder, shots, "dark")

        # the copied cell, pasted into a new cell and run, is the panel's request: cached
        code_cell(page, 5).locator(".jp-InputArea-prompt").click()
        page.keyboard.press("b")  # a new cell below, in command mode
        page.keyboard.press("Enter")
        page.keyboard.press("ControlOrMeta+v")
        page.keyboard.press("Shift+Enter")
        pasted = code_cell(page, 6)
        expect(pasted.locator(".jp-InputArea-editor")).to_contain_text(PANEL_PROMPT)
        expect(pasted.locator(".jp-OutputArea-output").first).to_contain_text(
            f"From the cache (run {run_id})"
        )

        # a kernel restart: the panel says its kernel is gone, the record keeps the grid
        page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").first.click()
        labels = page.locator(".lm-Menu .lm-Menu-itemLabel")
        labels.get_by_text("Restart Kernel…", exact=True).click()
        page.locator(".jp-Dialog button.jp-mod-accept").click()
        expect(panel.locator(".banana-kernel-gone")).to_be_visible()
        expect(panel.locator(".banana-kernel-gone")).to_contain_text("kernel has stopped")
        expect(panel.locator("button.banana-generate")).to_have_css("pointer-events", "none")
        images_decoded(page, ".banana-panel-record img.banana-thumb", 1)

        # saved and reopened: the record still shows the panel's last images and run id
        page.keyboard.press("ControlOrMeta+s")
        expect(page.locator(".jp-mod-dirty")).to_have_count(0)
        open_notebook(page, jupyter_server, NOTEBOOK)
        images_decoded(page, ".banana-panel-record img.banana-thumb", 1)
        expect(page.locator(".banana-panel-record")).to_contain_text(run_id)
        # ipywidgets gave up on the panel's view (its model died with the kernel); the
        # record hides that "Error displaying widget: model not found" line
        dead = code_cell(page, 5).locator(
            ".jp-OutputArea-output", has_text="Error displaying widget"
        )
        expect(dead).to_have_count(1)
        expect(dead).to_be_hidden()
