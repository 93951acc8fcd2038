"""Rating, pick and "Use as reference" controls in the panel, in process: real widgets
(no front end), the real engine on a running loop and the simulator over loopback.
(The same clicks in a real browser: tests/browser/test_explore_browser.py.)"""

from __future__ import annotations

import asyncio

from nanobanana_magic._display import data_uri
from nanobanana_magic._image_controls import ImageControls
from nanobanana_magic._panel import panel
from nanobanana_magic._store import Store


def run_generate(p):
    async def scenario():
        return await p.generate()

    return asyncio.run(scenario())


def controls_of(p) -> list[ImageControls]:
    (grid,) = p.tiles.children  # the finished grid: controls under each card
    return [tile.controls for tile in grid.tiles]


def test_panel_rates_picks_and_uses_a_result_as_reference(sim_env, out_dir):
    p = panel(prompt="a fox in the snow", n=2)
    (run,) = run_generate(p)
    first, second = controls_of(p)
    second.stars[3].click()  # four stars
    second.pick_button.value = True
    stored = Store(out_dir).load_run(run.run_id).images
    assert [i.rating for i in stored] == [None, 4] and [i.picked for i in stored] == [False, True]
    assert [b.description for b in second.stars] == ["★", "★", "★", "★", "☆"]
    second.stars[3].click()  # the same rating again clears it
    assert Store(out_dir).load_run(run.run_id).images[1].rating is None

    first.reference_button.click()
    assert p.form().references == (str(run.images[0].path),)  # full size, not thumbnail
    assert p.thumbs.children  # shown among the form's references
    p.prompt.value = "the same fox, at night"
    (child,) = run_generate(p)
    assert child.parents == [run.images[0].address]
    assert sim_env.stats()["uploads"] == 1


def test_restored_runs_show_their_marks(sim_env, out_dir):
    p = panel(prompt="a heron", n=1)
    (run,) = run_generate(p)
    run.images[0].rate(5)
    run.images[0].pick()
    p.restore(run.run_id)
    (controls,) = controls_of(p)
    assert controls.pick_button.value is True
    assert [b.description for b in controls.stars] == ["★"] * 5
    assert "★★★★★" in p.results_html and "✓ picked" in p.results_html


def test_gallery_filters_pages_and_acts_on_a_selection(shell, sim_env, out_dir):
    from nanobanana_magic import generate

    fox = generate("a red fox", n=2)
    heron = generate("a grey heron", size="16:9")
    owl = generate("a snowy owl", n=3)
    heron.tag("bird")
    owl.tag("bird")
    owl.images[2].rate(5)
    g = shell.run("%banana gallery")
    g.page_size = 4
    g.go(0)
    assert g.page_label.value == "page 1 of 2 · 6 images"
    g.next.click()
    assert g.page == 1 and len(g.tiles.children) == 2 and g.next.disabled
    g.tag.value = "bird"
    assert [str(image.address) for _, image in g.items] == [
        f"{owl.run_id}#0",
        f"{owl.run_id}#1",
        f"{owl.run_id}#2",
        f"{heron.run_id}#0",
    ]
    g.min_rating.value = 5
    assert [image.address for _, image in g.items] == [owl.images[2].address]
    g.min_rating.value = 0
    g.tag.value = ""
    g.search.value = "fox"
    assert len(g.items) == 2
    # rate from the gallery, then act on a selection
    g.tiles.children[1].controls.stars[2].click()
    assert fox.images[1].rating == 3
    before = sim_env.stats()["submit_requests"]
    g.select(0, 1)
    g.buttons["compare"].click()
    assert "banana-compare" in g.output.value
    g.buttons["export"].click()
    assert "TOAPIS_API_KEY" in g.output.value and fox.run_id in g.output.value
    g.buttons["show"].click()
    assert g.output.value.count("class='banana-thumb'") == 2
    g.buttons["reference"].click()
    assert g.cell.value == f"%%banana --ref {fox.run_id}#0 --ref {fox.run_id}#1\n"
    assert sim_env.stats()["submit_requests"] == before  # nothing sent
    g.search.value = "nothing like this"
    assert g.items == [] and g.page_label.value == "page 1 of 1 · 0 images"
    g.buttons["show"].click()
    assert "Select one or more images" in g.message.value


def test_gallery_rerun_goes_through_the_engine_cache_first(sim_env, out_dir):
    from nanobanana_magic import gallery, generate

    run = generate("a paper crane")
    g = gallery(str(out_dir))
    g.select(0)

    async def scenario():
        task = g.act("rerun") or g.task
        return await task

    (again,) = asyncio.run(scenario())
    assert again.cached and again.run_id == run.run_id
    assert sim_env.stats()["tasks_created"] == 1


def test_gallery_static_fallback(sim_env, out_dir):
    from nanobanana_magic import gallery, generate

    generate("a glass lantern", n=2)
    data = gallery(str(out_dir))._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/html"].count("class='banana-thumb'") == 2


def test_three_axis_sweep_view_chooses_rows_columns_and_a_grid_at_a_time(sim_env):
    from nanobanana_magic import sweep

    result = sweep(
        "A cat, {style}, {light}",
        {"size": ["1:1", "16:9"], "style": ["ink", "oil"], "light": ["dawn", "noon", "dusk"]},
        n=2,
        resolution="0.5K",  # 24 images: the view is the subject, not their pixels
    )
    view = result.view()
    assert view.rows.value == "size" and view.cols.value == "style"
    assert [label for label, _ in view.selector.options] == [
        "light = dawn",
        "light = noon",
        "light = dusk",
    ]
    # one grid at a time: 2 × 2 cells, each with both of its images (n = 2)
    assert view.grid.value.count("class='banana-thumb'") == 8
    assert "position:sticky" in view.grid.value  # labels stay visible while scrolling
    view.selector.value = 2
    dusk = result["16:9", "oil", "dusk"].images[1]
    assert data_uri(dusk.thumbnail) in view.grid.value
    view.rows.value = "light"  # rows: light; columns stay style; size becomes the selector
    assert [label for label, _ in view.selector.options] == ["size = 1:1", "size = 16:9"]
    assert view.grid.value.count("class='banana-sweep-row'") == 3
    view.cols.value = "light"  # the same axis twice: rows move out of the way
    assert view.rows.value != view.cols.value
    pages = result.pages(rows="light", cols="size")
    assert [p.title for p in pages] == ["style = ink", "style = oil"]
    assert pages[1].keys[2][1] == ("16:9", "oil", "dusk")


def test_runs_and_sweeps_offer_rating_controls_as_widgets(sim_env):
    from nanobanana_magic import generate, sweep

    run = generate("a teapot", n=2)
    box = run.controls()
    box.children[1].controls.stars[4].click()
    assert run.images[1].rating == 5 and "★★★★★" in box.children[1].card.value
    result = sweep("a teapot, {glaze}", {"glaze": ["celadon", "tenmoku"]})
    tiles = result.controls().children
    assert [tile.label for tile in tiles] == ["glaze = celadon", "glaze = tenmoku"]
    tiles[1].controls.pick_button.value = True
    assert result["tenmoku",].images[0].picked
