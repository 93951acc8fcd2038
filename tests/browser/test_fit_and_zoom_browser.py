"""One click on any thumbnail, a panel that fits any width, and what a reopened notebook
shows (JupyterLab 4, real browser, the built-in simulator).

One notebook holds a magic grid, a sweep grid, the panel (which makes one image) and the
gallery. The test checks, in the page as rendered:

- a click on a thumbnail in each of the four shows the whole full-size file fitted to the
  window over the page (no JupyterLab image tab, no second browser tab), and closes;
- the panel fits its output area at 600 px and at 1300 px: no horizontal overflow of the
  panel or of the output area, and nothing inside the panel clipped by its edge;
- after a kernel restart, saved and reopened, ipywidgets' "Error displaying widget" line
  does not show above the panel's static record, nor in place of the gallery or of the
  magic's and the sweep's grids, whose static pages (hidden under the live views) show
  instead, thumbnails and all;
- reopened untrusted (changed on disk: no script runs, the HTML is sanitized), a thumbnail
  click opens the full-size file in a JupyterLab image tab named after its run.

Screenshots (each zoom, the gallery, the panel at 600 px in Light and Dark, the reopened
notebook, the untrusted click) go to the test's temporary folder.
"""

from __future__ import annotations

import nbformat
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

NOTEBOOK = "fit_and_zoom.ipynb"
CELLS = [
    "%load_ext nanobanana_magic\n%banana use sim --set duration=0.4 --set queue_delay=0.05",
    "%%banana\nA lighthouse on a cliff at dusk",
    "%%banana --sweep style=ink,oil\nA red fox in snow, {style}",
    "controls = %banana panel\ncontrols",
    "%banana gallery",
]
#: the cells showing a magic's grid and a sweep's grid: how many thumbnails each
GRIDS = {1: 1, 2: 2}
WHERE = {
    "magic grid": ".jp-CodeCell:nth-child(2) .banana-run",
    "sweep grid": ".banana-sweep-grid",
    "panel": ".banana-panel .banana-results",
    "gallery": ".banana-gallery .banana-gallery-tiles",
}
# what does not fit: the panel's and its output area's horizontal overflow, and every
# element inside the panel that reaches past the panel's padding box or clips its own
# content (text cut off by overflow:hidden); form fields scroll their text by design
FIT_JS = """
(panel) => {
  const area = panel.closest('.jp-OutputArea-output');
  const box = panel.getBoundingClientRect();
  const inner = {left: box.left + panel.clientLeft, right: box.left + panel.clientLeft + panel.clientWidth};
  const name = (e) => (e.className && e.className.toString() || e.tagName).slice(0, 90);
  const outside = [], clipped = [];
  for (const e of panel.querySelectorAll('*')) {
    if (e.offsetParent === null || ['INPUT', 'TEXTAREA', 'SELECT', 'OPTION'].includes(e.tagName)) continue;
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    const right = r.right + Math.max(0, parseFloat(s.marginRight) || 0);
    if (r.width > 0 && (right > inner.right + 0.5 || r.left < inner.left - 0.5))
      outside.push([name(e), Math.round(r.left - inner.left), Math.round(right - inner.right)]);
    if (s.overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1)
      clipped.push([name(e), e.scrollWidth, e.clientWidth, e.textContent.trim().slice(0, 40)]);
  }
  // the panel's rows, by their margin boxes against its content box (what scrollWidth sees)
  const contentRight = inner.right - parseFloat(getComputedStyle(panel).paddingRight);
  for (const e of panel.children) {
    const r = e.getBoundingClientRect(), right = r.right + (parseFloat(getComputedStyle(e).marginRight) || 0);
    if (r.width > 0 && right > contentRight + 0.5) outside.push([name(e), 'row', Math.round(right - contentRight)]);
  }
  return {panel: [panel.scrollWidth, panel.clientWidth], area: [area.scrollWidth, area.clientWidth],
          width: box.width, areaWidth: area.getBoundingClientRect().width,
          outside: outside.slice(0, 12), clipped: clipped.slice(0, 12)};
}
"""


def visible_thumbnails(page, cell: int, count: int) -> None:
    """Wait until cell `cell` shows exactly `count` decoded thumbnails that are visible."""
    page.wait_for_function(
        """([index, n]) => {
             const cell = document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell')[index];
             const imgs = [...cell.querySelectorAll('img.banana-thumb')]
               .filter(i => i.checkVisibility());
             return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        arg=[cell, count],
    )


def assert_no_visible_dead_view(page, cell: int) -> None:
    outputs = code_cell(page, cell).locator(
        ".jp-OutputArea-output:visible", has_text="model not found"
    )
    expect(outputs).to_have_count(0)


def restart_kernel(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").first.click()
    page.locator(".lm-Menu .lm-Menu-itemLabel").get_by_text("Restart Kernel…", exact=True).click()
    page.locator(".jp-Dialog button.jp-mod-accept").click()


def set_output_width(page, width: int) -> None:
    """Resize the window until the panel's output area is `width` px wide."""
    area = "document.querySelector('.banana-panel').closest('.jp-OutputArea-output').clientWidth"
    for _ in range(4):
        now = page.evaluate(area)
        if now == width:
            return
        size = page.viewport_size
        page.set_viewport_size({"width": size["width"] + width - now, "height": size["height"]})
        page.wait_for_function(f"{area} !== {now}")
    assert page.evaluate(area) == width


def assert_panel_fits(page, width: int) -> None:
    set_output_width(page, width)
    fit = page.locator(".banana-panel").evaluate(FIT_JS)
    assert fit["areaWidth"] == width, fit
    assert fit["panel"][0] <= fit["panel"][1], f"the panel scrolls sideways at {width} px: {fit}"
    assert fit["area"][0] <= fit["area"][1], f"the output area scrolls at {width} px: {fit}"
    assert fit["width"] <= width, fit
    assert not fit["outside"], f"reaching past the panel's edge at {width} px: {fit}"
    assert not fit["clipped"], f"clipped at {width} px: {fit}"


@pytest.mark.parametrize("jupyter_server", ["lab"], indirect=True)
def test_one_click_zoom_everywhere_and_a_panel_that_fits(
    chromium_browser, jupyter_server, tmp_path
):
    root = jupyter_server["root"]
    write_notebook(root / NOTEBOOK, CELLS)
    with browser_page(chromium_browser, 1400, 1200, tmp_path, timeout=90_000) as page:
        open_notebook(page, jupyter_server, NOTEBOOK)
        run_all_cells(page)
        expect(page.locator(".banana-gallery")).to_be_visible(timeout=180_000)
        panel = generate_in_panel(page, "a paper boat on a pond")
        images_decoded(page, ".banana-gallery img.banana-thumb", 3)
        page.locator(".banana-gallery").screenshot(path=str(tmp_path / "gallery-light.png"))
        static_gallery = page.locator(".banana-gallery-static")
        expect(static_gallery).to_have_count(1)
        expect(static_gallery).to_be_hidden()  # its static page waits under the live view
        for cell, thumbs in GRIDS.items():  # so do the grids' (the live view is seen once)
            visible_thumbnails(page, cell, thumbs)
            expect(
                page.locator(".jp-CodeCell").nth(cell).locator(".banana-rating-tail-when-dead")
            ).to_be_hidden()

        # one click, the same everywhere: the full-size file fitted to the window
        for where, selector in WHERE.items():
            page.locator(f"{selector} a.banana-zoom").first.click()
            full_size_shown_fitted(page, where)
            page.screenshot(path=str(tmp_path / f"zoom-{where.replace(' ', '-')}.png"))
            page.keyboard.press("Escape")
            expect(page.locator(".banana-lightbox")).to_have_count(0)
        expect(page.locator(".jp-ImageViewer")).to_have_count(0)
        assert len(page.context.pages) == 1

        # the panel fits a narrow and a wide output area (sidebar closed, window resized)
        page.keyboard.press("ControlOrMeta+b")
        expect(page.locator("#jp-left-stack")).to_be_hidden()
        for width in (600, 1300):
            assert_panel_fits(page, width)
        set_output_width(page, 600)
        panel.scroll_into_view_if_needed()
        panel.screenshot(path=str(tmp_path / "panel-600-light.png"))
        choose_theme(page, "JupyterLab Dark")
        assert_panel_fits(page, 600)
        panel.screenshot(path=str(tmp_path / "panel-600-dark.png"))
        choose_theme(page, "JupyterLab Light")
        run_id = panel.locator(".banana-results .banana-run-header").inner_text().split("run ")[1]
        run_id = run_id.split(" ")[0]

        # kernel restarted, notebook saved and reopened: the panel's view has no model any
        # more; ipywidgets' error line for it is not shown, the static record is
        restart_kernel(page)
        expect(panel.locator(".banana-kernel-gone")).to_be_visible()
        page.keyboard.press("ControlOrMeta+s")
        expect(page.locator(".jp-mod-dirty")).to_have_count(0)
        open_notebook(page, jupyter_server, NOTEBOOK)
        images_decoded(page, ".banana-panel-record img.banana-thumb", 1)
        expect(page.locator(".banana-panel-record")).to_contain_text(run_id)
        panel_cell = code_cell(page, 3)
        dead = panel_cell.locator(".jp-OutputArea-output", has_text="Error displaying widget")
        expect(dead).to_have_count(1)  # ipywidgets did give up on the panel's view...
        expect(dead).to_be_hidden()  # ...and that line is not shown
        expect(panel_cell.locator(".banana-panel-record")).to_be_visible()
        gallery_cell = code_cell(page, 4)
        dead = gallery_cell.locator(".jp-OutputArea-output", has_text="Error displaying widget")
        expect(dead).to_have_count(1)
        expect(dead).to_be_hidden()  # the gallery's view is gone too: its static page shows
        images_decoded(page, ".banana-gallery-static img.banana-thumb", 3)
        expect(static_gallery).to_be_visible()
        for cell, thumbs in GRIDS.items():  # the magic's and the sweep's grids: their images
            visible_thumbnails(page, cell, thumbs)
            assert_no_visible_dead_view(page, cell)
        page.screenshot(path=str(tmp_path / "reopened.png"))
        expect(page.locator(".banana-panel")).to_have_count(0)

        # changed on disk, so no longer trusted: no script runs and the HTML is sanitized;
        # the thumbnail opens its full-size file in an image tab named after its run
        page.goto("about:blank")
        saved = nbformat.read(root / NOTEBOOK, as_version=4)
        saved.metadata["shared_by"] = "someone else"
        nbformat.write(saved, root / NOTEBOOK)
        open_notebook(page, jupyter_server, NOTEBOOK)
        record = page.locator(".banana-panel-record")
        images_decoded(page, ".banana-panel-record img.banana-thumb", 1)
        expect(
            page.locator(".jp-OutputArea-output", has_text="Error displaying widget")
        ).to_have_count(0)
        expect(
            page.locator(".jp-OutputArea-output", has_text="Nano Banana control panel")
        ).to_be_visible()
        images_decoded(page, ".banana-gallery-static img.banana-thumb", 3)
        record.locator("a.banana-zoom").first.click()
        expect(page.locator(".banana-lightbox")).to_have_count(0)
        tab = page.locator(".lm-TabBar-tab.jp-mod-current .lm-TabBar-tabLabel")
        expect(tab).to_have_text(f"{run_id}-0.png")
        images_decoded(page, ".jp-ImageViewer img", 1)
        assert len(page.context.pages) == 1
        page.screenshot(path=str(tmp_path / "untrusted-click.png"))
