"""Rating from the grid itself, in a real browser (JupyterLab 4 on loopback, headless
Debian chromium): a `%%banana` cell's grid and a sweep's grid show stars and Pick under
every thumbnail; a click reaches the output folder's annotations (`%banana history
--min-rating` finds the run), `%banana rate` redraws the grid above, and the saved
notebook's static grid shows the marks as they are now. The panel's finished grid has
the same controls under each of its cards. Screenshots of both themes go to the test's
temporary folder (`rating-grid-light.png`, ...).
"""

from __future__ import annotations

import json

import nbformat
import pytest
from playwright.sync_api import expect

from nanobanana_magic._store import Store

from .pages import (
    browser_page,
    choose_theme,
    code_cell,
    generate_in_panel,
    images_decoded,
    open_notebook,
    run_all_cells,
    write_notebook,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "rating.ipynb"
CELLS = [
    "%load_ext nanobanana_magic\n%banana use sim --set duration=0.4 --set queue_delay=0.05",
    "%%banana -n 2\nA paper lantern in fog",
    "%%banana --sweep style=ink,oil\nA heron at dawn, {style}",
    "p = %banana panel\np",
]
STARS = "button.banana-rate"


def stars_of(tile) -> list[str]:
    return tile.locator(STARS).all_inner_texts()


def run_cell(page, index: int, source: str) -> None:
    """Type `source` into a new cell below cell `index` and run it."""
    code_cell(page, index).locator(".jp-InputArea-prompt").click()
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type(source)
    page.keyboard.press("Shift+Enter")


@pytest.mark.parametrize("jupyter_server", ["lab"], indirect=True)
def test_rate_and_pick_under_the_thumbnails_of_grids_and_the_panel(
    chromium_browser, jupyter_server, tmp_path
):
    root = jupyter_server["root"]
    write_notebook(root / NOTEBOOK, CELLS)
    store = Store(root / "banana_outputs")
    with browser_page(chromium_browser, 1200, 1600, tmp_path) as page:
        open_notebook(page, jupyter_server, NOTEBOOK)
        run_all_cells(page)
        run_grid = code_cell(page, 1).locator(".banana-rating-grid")
        sweep_grid = code_cell(page, 2).locator(".banana-rating-grid")
        expect(code_cell(page, 3).locator(".banana-panel")).to_be_visible(timeout=180_000)
        images_decoded(page, ".banana-rating-grid .banana-tile img.banana-thumb", 4)

        # every thumbnail has its own controls right under it, inside the grid
        run_tiles = run_grid.locator(".banana-tile")
        expect(run_tiles).to_have_count(2)
        for tile in (run_tiles.nth(0), run_tiles.nth(1)):
            expect(tile.locator("img.banana-thumb")).to_have_count(1)
            expect(tile.locator(STARS)).to_have_count(5)
            thumb = tile.locator("img.banana-thumb").bounding_box()
            stars = tile.locator(".banana-image-controls").bounding_box()
            assert thumb and stars and stars["y"] >= thumb["y"] + thumb["height"], (thumb, stars)
        shots = {"run": 1, "sweep": 2}
        for name, index in shots.items():
            code_cell(page, index).locator(".jp-Cell-outputArea").screenshot(
                path=str(tmp_path / f"rating-{name}-light.png")
            )

        # a click on the fourth star of image #1: stored in the folder, at once
        run_tiles.nth(1).locator("button.banana-rate-4").click()
        run_tiles = code_cell(page, 1).locator(".banana-rating-grid .banana-tile")
        expect(run_tiles.nth(1).locator(STARS)).to_have_text(["★", "★", "★", "★", "☆"])
        expect(run_tiles.nth(1).locator(".banana-marks")).to_contain_text("★★★★☆")
        (run,) = [r for r in store.recent_runs(5) if r.request.n == 2]
        assert [image.rating for image in run.images] == [None, 4]

        # Pick under the sweep's "oil" cell
        oil = sweep_grid.locator(".banana-tile").nth(1)
        oil.locator(".banana-pick").click()
        expect(code_cell(page, 2).locator(".banana-tile").nth(1)).to_contain_text("✓ picked")
        oil_run = next(r for r in store.recent_runs(5) if r.request.prompt.endswith("oil"))
        assert oil_run.images[0].picked

        # the command line agrees with the clicks, and a command redraws the grid above
        run_cell(page, 3, f"%banana rate {run.run_id}#0 2\n%banana history --min-rating 4")
        history = code_cell(page, 4).locator(".banana-history")
        expect(history).to_contain_text(run.run_id)
        expect(history).not_to_contain_text(oil_run.run_id)
        run_tiles = code_cell(page, 1).locator(".banana-rating-grid .banana-tile")
        expect(run_tiles.nth(0).locator(STARS)).to_have_text(["★", "★", "☆", "☆", "☆"])

        # the panel: its finished grid has the controls under each card
        panel = generate_in_panel(page, "a glass float on a pebble beach", 2)
        cards = panel.locator(".banana-results .banana-tile")
        expect(cards).to_have_count(2)
        for i in range(2):
            expect(cards.nth(i).locator("img.banana-thumb")).to_have_count(1)
            expect(cards.nth(i).locator(STARS)).to_have_count(5)
            expect(cards.nth(i).locator("button.banana-use-reference")).to_have_count(1)
        cards.nth(1).locator("button.banana-rate-3").click()
        expect(cards.nth(1).locator(STARS)).to_have_text(["★", "★", "★", "☆", "☆"])
        made = store.recent_runs(1)[0]
        assert made.request.prompt == "a glass float on a pebble beach"
        assert [image.rating for image in made.images] == [None, 3]
        record = page.locator(".banana-panel-record")
        expect(record.locator(".banana-marks")).to_contain_text("★★★☆☆")
        code_cell(page, 3).locator(".jp-Cell-outputArea").screenshot(
            path=str(tmp_path / "rating-panel-light.png")
        )

        choose_theme(page, "JupyterLab Dark")
        for name, index in {**shots, "panel": 3}.items():
            output = code_cell(page, index).locator(".jp-Cell-outputArea")
            output.scroll_into_view_if_needed()
            output.screenshot(path=str(tmp_path / f"rating-{name}-dark.png"))

        # saved: the static grid of the outputs shows the marks as they are now
        page.keyboard.press("ControlOrMeta+s")
        expect(page.locator(".jp-mod-dirty")).to_have_count(0)
        saved = nbformat.read(root / NOTEBOOK, as_version=4)
        # (in an output of its own after the widget view, kept for a reopen)
        view, grid = saved.cells[1].outputs[-2:]
        static = grid["data"]["text/html"]
        assert "application/vnd.jupyter.widget-view+json" in view["data"]
        assert "banana-rating-tail" in static and "text/html" not in view["data"]
        assert static.count("class='banana-thumb'") == 2
        assert "★★☆☆☆" in static and "★★★★☆" in static
        sweep_view, sweep_grid = saved.cells[2].outputs[-2:]
        assert "application/vnd.jupyter.widget-view+json" in sweep_view["data"]
        assert "✓ picked" in sweep_grid["data"]["text/html"]
        assert "★★★☆☆" in json.dumps(saved, ensure_ascii=False)  # the panel's record
