"""Rating from the grid itself, in process: a real IPython shell, the simulator over
loopback, real widgets without a front end (their Python side: clicks are `.click()`).

Where widgets render (the shell has a kernel), a `%%banana` cell's grid and a sweep's
grid are two outputs: the widget view, then the static grid in an output of its own
(shown only where the view is not: after a restart and reopen, untrusted, on an HTML
page); clicks and `%banana rate` write the annotations and re-send that static output
with the marks as they are now.
Without a kernel (terminal IPython) the cell's value is the static grid, as before. The
same clicks in a real browser: tests/browser/test_rating_grid_browser.py.
"""

from __future__ import annotations

import os

import pytest
from IPython.utils.capture import capture_output

from nanobanana_magic import _rating_grid
from nanobanana_magic._display import PROVENANCE_MIME
from nanobanana_magic._store import Store

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def kernel_shell(shell, monkeypatch):
    """The shell as inside a Jupyter kernel, where widgets render."""
    monkeypatch.setattr(shell.ip, "kernel", object(), raising=False)
    return shell


def grid_outputs(captured) -> list:
    """The captured outputs that carry a widget view (the grid)."""
    return [output for output in captured.outputs if WIDGET in output.data]


def static_outputs(captured) -> list:
    """The captured outputs that carry a grid's static HTML after its view (and updates)."""
    return [
        output
        for output in captured.outputs
        if _rating_grid.TAIL in output.data.get("text/html", "")
    ]


def assert_view_then_static(captured):
    """The grid's view, and right after it the static grid, in an output of its own."""
    shown = captured.outputs  # new objects at every reading
    (at,) = [i for i, output in enumerate(shown) if WIDGET in output.data]
    view, static = shown[at : at + 2]
    assert static_outputs(captured) and _rating_grid.TAIL in static.data["text/html"]
    assert view.data["text/plain"] == "" and "text/html" not in view.data
    assert WIDGET not in static.data and not static.update
    assert view.transient["display_id"] != static.transient["display_id"]
    return view, static


def grid_of(output) -> _rating_grid.RatingGrid:
    model_id = output.data[WIDGET]["model_id"]
    (grid,) = [g for g in list(_rating_grid._ON_SCREEN) if g.model_id == model_id]
    return grid


def stars(tile) -> str:
    return "".join(button.description for button in tile.controls.stars)


def test_a_cell_grid_has_controls_under_each_thumbnail_and_keeps_its_static_grid_current(
    kernel_shell, sim_env, out_dir
):
    with capture_output() as shown:
        run = kernel_shell.run("%%banana -n 2\na paper lantern in fog")
    output, static_output = assert_view_then_static(shown)
    assert not output.update and output.transient["display_id"]
    static = static_output.data["text/html"]  # the static grid, where widgets do not render
    assert static.count("class='banana-thumb'") == 2 and "banana-marks" not in static
    assert "banana-rating-tail-when-dead" in static  # hidden while the view is alive
    assert static_output.data["text/plain"].startswith(f"run {run.run_id}")
    assert output.metadata[PROVENANCE_MIME]["run_id"] == run.run_id
    assert static_output.metadata[PROVENANCE_MIME]["run_id"] == run.run_id

    grid = grid_of(output)
    assert [tile.image.address for tile in grid.tiles] == [i.address for i in run.images]
    for tile in grid.tiles:  # a card, its controls right under it
        card, controls = tile.children[:2]
        card_html = card.outputs[0]["data"]["text/html"]
        assert "class='banana-thumb'" in card_html
        assert controls is tile.controls and len(controls.stars) == 5
        # the widget's card links the thumbnail file (its saved state holds no image
        # bytes); the static grid inlines it
        assert f"src='{os.path.relpath(tile.image.thumbnail)}'" in card_html
        assert "base64," not in card_html
    assert static.count("src='data:image/webp;base64,") == 2
    # every star of every card shares one layout and one style model, so a notebook saved
    # with its widget state keeps them once, not once per button
    stars_of_all = [button for tile in grid.tiles for button in tile.controls.stars]
    assert len({b.layout.model_id for b in stars_of_all}) == 1
    assert len({b.style.model_id for b in stars_of_all}) == 1

    with capture_output() as clicked:
        grid.tiles[1].controls.stars[2].click()  # three stars for image #1
    assert Store(out_dir).load_run(run.run_id).images[1].rating == 3
    assert stars(grid.tiles[1]) == "★★★☆☆" and "★★★☆☆" in grid.tiles[1].card.value
    assert not grid_outputs(clicked)  # the view redraws itself; the static grid is re-sent
    (update,) = static_outputs(clicked)
    assert update.update and update.transient == static_output.transient
    assert "★★★☆☆" in update.data["text/html"]

    # a command and a click agree: the grid above shows what `%banana rate` wrote
    with capture_output() as commanded:
        kernel_shell.run(f"%banana rate {run.run_id}#0 5")
        kernel_shell.run(f"%banana pick {run.run_id}#0")
    assert stars(grid.tiles[0]) == "★★★★★" and grid.tiles[0].controls.pick_button.value
    last = static_outputs(commanded)[-1]
    assert "★★★★★" in last.data["text/html"] and "✓ picked" in last.data["text/html"]
    assert len(static_outputs(commanded)) == 2  # one refresh per change
    history = kernel_shell.run("%banana history --min-rating 3 --picked")
    assert [r.run_id for r in history] == [run.run_id]

    grid.tiles[1].controls.stars[2].click()  # the current rating again clears it
    assert Store(out_dir).load_run(run.run_id).images[1].rating is None


def test_a_sweep_grid_rates_under_each_cell_and_shows_its_summary(kernel_shell, sim_env):
    with capture_output() as shown:
        result = kernel_shell.run("%%banana --sweep style=ink,oil\na heron at dawn, {style}")
    output, static = assert_view_then_static(shown)
    assert static.data["text/html"].count("class='banana-sweep-cell'") == 2
    grid = grid_of(output)
    (page,) = [child for child in grid.children if "banana-sweep-grid" in child._dom_classes]
    axis = next(box for box in page.children if "banana-sweep-axis" in getattr(box, "value", ""))
    assert axis.layout.grid_area == "auto / span 2"  # the axis name spans both columns
    assert grid.stats is not None and "banana-summary" not in grid.stats.value  # no rating yet

    ink, oil = grid.tiles
    assert oil.image.address == result["oil",].images[0].address
    with capture_output() as clicked:
        oil.controls.pick_button.value = True
        ink.controls.stars[1].click()
    assert result["oil",].images[0].picked and result["ink",].images[0].rating == 2
    assert "class='banana-summary'" in grid.stats.value  # which value wins, redrawn
    last = static_outputs(clicked)[-1]
    assert "✓ picked" in last.data["text/html"] and "★★☆☆☆" in last.data["text/html"]


def test_without_a_kernel_the_cell_value_is_the_static_grid(shell, sim_env):
    with capture_output() as shown:
        run = shell.run("%%banana\na paper lantern in fog")
    assert not grid_outputs(shown) and not static_outputs(shown)
    data, _ = shell.ip.display_formatter.format(run)
    assert WIDGET not in data and data["text/html"].count("class='banana-thumb'") == 1


def test_grids_too_big_for_widgets_or_with_nothing_to_rate_stay_static(
    kernel_shell, sim_env, monkeypatch
):
    def static(result) -> str:  # what IPython shows instead: the static bundle
        data, _ = kernel_shell.ip.display_formatter.format(result)
        assert WIDGET not in data
        return data["text/html"]

    monkeypatch.setattr(_rating_grid, "LIVE_GRID_CELLS", 1)
    with capture_output() as shown:
        big = kernel_shell.run("%%banana --sweep style=ink,oil\na heron at dawn, {style}")
    assert not grid_outputs(shown) and static(big).count("class='banana-thumb'") == 2
    monkeypatch.setattr(_rating_grid, "LIVE_GRID_CELLS", 64)
    with capture_output() as shown:  # every cell failed: nothing to rate
        failed = kernel_shell.run("%%banana --sweep mood=[fail]\na harbour at night, {mood}")
    assert failed.failed and not grid_outputs(shown) and "banana-error" in static(failed)


def test_a_background_cell_ends_as_the_grid_with_controls(kernel_shell, sim_env, out_dir):
    import asyncio

    magic = kernel_shell.ip.magics_manager.registry["Banana"]

    async def scenario():
        kernel_shell.run("%%banana --background --name bg\na kite over dunes")
        await asyncio.gather(*magic._background)

    with capture_output() as shown:
        asyncio.run(scenario())
    # the live display, an empty output kept after it, both replaced by the grid's halves
    live, slot = (output.transient["display_id"] for output in shown.outputs[:2])
    assert shown.outputs[1].data == {"text/plain": ""} and not shown.outputs[1].update
    (grid_output,) = grid_outputs(shown)
    assert grid_output.update and grid_output.transient["display_id"] == live
    (static,) = static_outputs(shown)
    assert static.update and static.transient["display_id"] == slot
    assert static.data["text/html"].count("class='banana-thumb'") == 1
    run = kernel_shell.ip.user_ns["bg"]
    grid_of(grid_output).tiles[0].controls.stars[4].click()
    assert Store(out_dir).load_run(run.run_id).images[0].rating == 5


def test_a_widget_card_links_its_thumbnail_only_below_the_notebook_folder(tmp_path, monkeypatch):
    from nanobanana_magic._display import thumbnail_src

    thumb = tmp_path / "out" / "thumb.webp"
    thumb.parent.mkdir()
    thumb.write_bytes(b"RIFF....WEBP")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path)
    assert thumbnail_src(thumb, linked=True) == os.path.join("out", "thumb.webp")
    assert thumbnail_src(thumb).startswith("data:image/webp;base64,")
    monkeypatch.chdir(tmp_path / "notebooks")  # the front end could not reach ../out
    assert thumbnail_src(thumb, linked=True).startswith("data:image/webp;base64,")
