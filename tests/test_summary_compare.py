"""Which value wins (SweepRun.summary, %banana summary) and compare, through a real shell
and the simulator over loopback; compare reads from disk and sends nothing."""

from __future__ import annotations

import pytest
from conftest import copy_folder

from nanobanana_magic import compare, generate, sweep
from nanobanana_magic._compare import word_diff
from nanobanana_magic._errors import ValidationError


@pytest.fixture
def rated_sweep(sim_env):
    result = sweep(
        "A fox in snow, {style}",
        {"size": ["1:1", "16:9"], "style": ["ink", "oil", "clay"]},
    )
    ratings = {
        ("1:1", "ink"): 2,
        ("1:1", "oil"): 5,
        ("16:9", "ink"): 3,
        ("16:9", "oil"): 4,
        ("16:9", "clay"): 1,
    }
    for key, rating in ratings.items():
        result[key].images[0].rate(rating)
    result["16:9", "oil"].images[0].pick()
    return result


def test_sweep_summary_per_axis_value_with_the_winner_and_interaction(rated_sweep):
    summary = rated_sweep.summary()
    rows = {(r["axis"], r["value"]): r for r in summary.rows()}
    assert rows["style", "oil"]["mean_rating"] == 4.5 and rows["style", "oil"]["picks"] == 1
    assert rows["style", "clay"]["rated"] == 1 and rows["style", "clay"]["images"] == 2
    assert rows["size", "1:1"]["mean_rating"] == 3.5 and rows["size", "16:9"]["rated"] == 3
    assert rows["size", "1:1"]["cost"] == pytest.approx(0.075)
    assert rows["style", "ink"]["mean_seconds"] is not None
    assert summary.best == {"size": "1:1", "style": "oil"}
    assert [r["best"] for r in summary.rows() if r["axis"] == "style"] == [False, True, False]
    row_axis, col_axis, rows_, col_labels, means = summary.interaction
    assert rows_ == ["1:1", "16:9"]
    assert (row_axis, col_axis, col_labels) == ("size", "style", ["ink", "oil", "clay"])
    assert means == [[2, 5, None], [3, 4, 1]]
    assert "Best value per axis" in repr(summary) and "style: oil" in repr(summary)
    frame = summary.to_dataframe()
    assert list(frame.columns)[:3] == ["axis", "value", "images"]


def test_the_summary_appears_under_the_grid_once_rated(sim_env):
    result = sweep("A kite, {colour}", {"colour": ["red", "blue"]})
    assert "banana-sweep-stats" not in result.html()
    result["blue",].images[0].rate(4)
    html = result.html()
    assert "banana-sweep-stats" in html and "★ blue" in html


def test_summary_command_from_disk_infers_the_axes(shell, sim_env):
    a = generate("a tin robot", size="1:1")
    b = generate("a tin robot", size="16:9")
    c = generate("a tin robot, rusty", size="16:9")
    shell.run(f"%banana rate {a.run_id}#0 2")
    shell.run(f"%banana rate {b.run_id}#0 5")
    shell.run(f"%banana rate {c.run_id}#0 4")
    summary = shell.run(f"%banana summary {a.run_id} {b.run_id} {c.run_id}")
    assert summary.axes == ["size", "prompt"]
    assert summary.best["size"] == "16:9"
    error = shell.run_failing(f"%banana summary {a.run_id}")
    assert "two or more" in str(error)


def test_compare_highlights_what_differs_and_diffs_prompts(shell, sim_env):
    a = generate("a red lighthouse on a cliff at dusk", size="16:9")
    b = generate("a white lighthouse on a cliff at night", size="16:9", resolution="2K")
    before = sim_env.stats()["submit_requests"]
    result = shell.run(f"%banana compare {a.run_id} {b.run_id}#0")
    assert sim_env.stats()["submit_requests"] == before  # from disk, nothing sent
    assert result.differing == ["prompt", "resolution", "pixels"]
    html = result._repr_html_()
    assert html.count("class='banana-differs'") == 3
    assert "<del class='banana-diff-del'" in html and ">red</del>" in html
    assert ">white</ins>" in html and ">night</ins>" in html
    # the same scale: the 2K image is drawn twice as wide as the 1K one
    assert f"width:{round(a.images[0].width * 360 / b.images[0].width)}px" in html
    assert "width:360px" in html
    assert "[-red]" in repr(result) and "[+white]" in repr(result)


def test_word_diff():
    assert word_diff("a red fox", "a grey fox runs") == [
        ("same", "a"),
        ("delete", "red"),
        ("insert", "grey"),
        ("same", "fox"),
        ("insert", "runs"),
    ]


def test_overlay_toggles_two_same_size_images_in_place(shell, sim_env):
    run = generate("two moons", n=2)
    view = compare(run.images[0], run.images[1]).overlay()
    toggle, image = view.children
    assert image.value == run.images[0].thumbnail.read_bytes()
    toggle.value = 1
    assert image.value == run.images[1].thumbnail.read_bytes()
    via_magic = shell.run(f"%banana compare {run.run_id} --overlay")
    assert via_magic.children[1].value == run.images[0].thumbnail.read_bytes()
    other = generate("two moons", size="16:9")
    with pytest.raises(ValidationError, match="same size"):
        compare(run, other).overlay(0, 2)


@pytest.mark.parametrize(
    "line, fix",
    [
        ("%banana compare last", "at least two images"),
        ("%banana compare last#0 nosuch#0", "history"),
        ("%banana compare last#5 last#0", "no image #5"),
    ],
)
def test_bad_compare_input_is_one_sentence(shell, one_image_folder, sim_env, out_dir, line, fix):
    copy_folder(one_image_folder, out_dir)  # "last" is a run of one image
    error = shell.run_failing(line)
    assert fix in str(error) and "\n" not in str(error)


def test_summary_of_a_sweeps_runs_from_disk_reads_like_the_sweeps_own(shell, sim_env):
    result = shell.run(
        "%%banana --sweep size=1:1,16:9 --sweep style=ink,oil\nA harbour at dusk, {style} style"
    )
    result["16:9", "oil"].images[0].rate(5)
    result["1:1", "ink"].images[0].rate(2)
    from_disk = shell.run("%banana summary --last 4")
    assert from_disk.axes == ["size", "prompt"]
    assert sorted(r["value"] for r in from_disk.rows() if r["axis"] == "prompt") == ["ink", "oil"]
    assert from_disk.best == {"size": "16:9", "prompt": "oil"}

    def means(summary):
        _, _, rows, cols, table = summary.interaction
        return {(r, c): v for r, values in zip(rows, table) for c, v in zip(cols, values)}

    assert means(from_disk) == {
        ("1:1", "ink"): 2,
        ("1:1", "oil"): None,
        ("16:9", "ink"): None,
        ("16:9", "oil"): 5,
    }
    assert set(means(result.summary()).items()) == set(means(from_disk).items())
    error = shell.run_failing("%banana summary --last 1")
    assert "--last N" in str(error)
