"""Driving a notebook page in JupyterLab 4 or Notebook 7: write the notebook, open a page
and close it after, open the notebook once its kernel is ready, run cells, wait for
images, report a failure. Shared by the browser tests."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import nbformat
from playwright.sync_api import expect

KERNEL_IDLE = re.compile(r"^(?!No Kernel).+ \| Idle$")  # status bar: "Python 3 (ipykernel) | Idle"
NOTEBOOK_IDLE = '.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]'


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of these code cells, for the python3 kernel."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(notebook, path)


@contextlib.contextmanager
def closed_after(ctx, page, folder: Path):
    """Close the browser context at the end; on a failure first leave `failure.png` in
    `folder` and print what the cells printed (pytest shows it with the failure)."""
    try:
        yield
    except Exception:
        page.screenshot(path=str(folder / "failure.png"))
        print("cell outputs:", page.locator(".jp-OutputArea-output").all_inner_texts())
        raise
    finally:
        ctx.close()


@contextlib.contextmanager
def browser_page(browser, width: int, height: int, folder: Path, timeout: float = 60_000):
    """A page of a new browser context `width` × `height` px whose actions and `expect`
    checks wait up to `timeout` ms (`expect` ignores the page's own default); closed
    after, with `closed_after`'s report of a failure in `folder`."""
    expect.set_options(timeout=timeout)
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(timeout)
    with closed_after(ctx, page, folder):
        yield page


def open_notebook(page, server, name: str) -> None:
    """Navigate and return once the kernel is connected and idle (Run All is then safe).

    The kernel websocket comes first: until it exists, Run All may silently run nothing.
    JupyterLab then shows "<kernel> | Idle" in its status bar; Notebook 7 has no status bar,
    so there the notebook toolbar's execution indicator must read idle. Each front end's own
    page shell is checked too, so a run never passes against the wrong one."""
    with page.expect_websocket(lambda ws: "/api/kernels/" in ws.url, timeout=60_000):
        page.goto(server["url"](name))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
    if server["app"] == "lab":
        expect(page.locator(".jp-LabShell")).to_have_count(1)
        expect(page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE)).to_have_count(1)
    else:
        expect(page.locator('body[data-notebook="notebooks"]')).to_have_count(1)
        expect(page.locator(".jp-LabShell")).to_have_count(0)
        expect(page.locator(NOTEBOOK_IDLE)).to_have_count(1)


def code_cell(page, index: int):
    """The notebook's code cell `index` (0 is the first)."""
    return page.locator(".jp-NotebookPanel .jp-CodeCell").nth(index)


def run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def images_decoded(page, selector: str, count: int, timeout: float = 60_000) -> None:
    """Wait until exactly `count` shown images match `selector`, all decoded."""
    page.wait_for_function(
        """([sel, n]) => { const imgs = [...document.querySelectorAll(sel)]
                 .filter(i => i.getClientRects().length > 0);  // shown, not a hidden copy
             return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        arg=[selector, count],
        timeout=timeout,
    )


def generate_in_panel(page, prompt: str, count: int = 1):
    """In the notebook's control panel: type `prompt`, choose `count` images, click
    Generate and wait until that many result thumbnails are decoded; returns the panel."""
    panel = page.locator(".jp-OutputArea-output .banana-panel")
    panel.locator(".banana-prompt textarea").fill(prompt)
    if count != 1:
        panel.locator(".banana-count select").select_option(label=str(count))
    panel.locator("button.banana-generate").click()
    images_decoded(page, ".banana-panel .banana-results .banana-tile img.banana-thumb", count)
    return panel


def run_cell_containing(page, text: str) -> None:
    cell = page.locator(".jp-CodeCell", has_text=text)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def choose_theme(page, name: str) -> None:
    """Settings > Theme > name (same menus in JupyterLab and Notebook 7)."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    labels = page.locator(".lm-Menu .lm-Menu-itemLabel")
    labels.get_by_text("Theme", exact=True).click()
    labels.get_by_text(name, exact=True).click()
    expect(page.locator(f'body[data-jp-theme-name="{name}"]')).to_have_count(1)
    page.wait_for_timeout(300)  # the theme's stylesheet applies after the attribute changes


def full_size_shown_fitted(page, where: str = "") -> None:
    """A thumbnail was clicked: the lightbox shows the full-size file (not the thumbnail),
    whole (not cropped) and inside the window."""
    images_decoded(page, ".banana-lightbox img", 1)
    fit = page.locator(".banana-lightbox img").evaluate(
        """(img) => { const r = img.getBoundingClientRect();
            return {natural: [img.naturalWidth, img.naturalHeight], shown: [r.width, r.height],
                    view: [innerWidth, innerHeight], top: r.top, left: r.left}; }"""
    )
    fit["where"] = where
    assert fit["natural"][0] > 1000, fit  # the full-size file, not the thumbnail
    assert fit["shown"][0] <= fit["view"][0] and fit["shown"][1] <= fit["view"][1], fit
    assert fit["top"] >= 0 and fit["left"] >= 0, fit
    ratio = fit["natural"][0] / fit["natural"][1]
    assert abs(fit["shown"][0] / fit["shown"][1] - ratio) < 0.02, fit  # not cropped
