"""Ratings, picks, tags, notes and history filters, through a real IPython shell and the
simulator over loopback; the annotations file shared by several processes at once."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest
from conftest import TEST_KEY, copy_folder, one_sentence
from IPython.core.error import UsageError

from nanobanana_magic import _annotations as annotations
from nanobanana_magic import generate
from nanobanana_magic._displayables import History
from nanobanana_magic._errors import ValidationError
from nanobanana_magic._size_check import size_problem
from nanobanana_magic._store import Store


@pytest.fixture(scope="module")
def two_runs_folder(module_sim, tmp_path_factory):
    """An output folder with two real runs, made once for the module."""
    folder = tmp_path_factory.mktemp("two_runs") / "banana_outputs"
    where = {"base_url": module_sim.base_url, "api_key": TEST_KEY, "output_dir": folder}
    first = generate("a red fox in snow", n=2, **where)
    second = generate("a blue heron at dawn", size="16:9", resolution="0.5K", **where)
    return folder, (first.run_id, second.run_id)


@pytest.fixture
def two_runs(two_runs_folder, sim_env, out_dir):
    """This test's copy of the two runs, as a later kernel reads them from its folder."""
    template, run_ids = two_runs_folder
    store = Store(copy_folder(template, out_dir))
    return tuple(store.load_run(run_id) for run_id in run_ids)


def test_python_rate_and_pick_survive_a_reload_and_last_word_wins(two_runs, out_dir):
    first, _ = two_runs
    first.images[1].rate(2)
    first.images[1].rate(4)  # last word wins
    first.images[0].pick()
    reloaded = Store(out_dir).load_run(first.run_id)  # as after a kernel restart
    assert [i.rating for i in reloaded.images] == [None, 4]
    assert [i.picked for i in reloaded.images] == [True, False]
    reloaded.images[0].pick(False)
    reloaded.images[1].rate(0)  # 0 clears
    again = Store(out_dir).load_run(first.run_id)
    assert [i.picked for i in again.images] == [False, False]
    assert [i.rating for i in again.images] == [None, None]
    lines = (out_dir / annotations.ANNOTATIONS).read_text().splitlines()
    assert len(lines) == 5  # append-only: every change is a line


def test_records_and_dataframe_carry_rating_pick_and_size_check(two_runs):
    first, _ = two_runs
    first.images[1].rate(5)
    first.images[1].pick()
    rows = first.records()
    assert [(r["index"], r["rating"], r["picked"], r["size_ok"]) for r in rows] == [
        (0, None, False, True),
        (1, 5, True, True),
    ]
    frame = first.to_dataframe()
    assert list(frame["rating"].fillna(0)) == [0, 5] and list(frame["picked"]) == [False, True]


def test_magic_commands_rate_pick_tag_note_and_show_them(shell, two_runs, out_dir):
    first, second = two_runs
    shell.run(f"%banana rate {first.run_id[:-2]}#1 4")  # a unique prefix
    shell.run("%banana pick -2")  # the run before last, image 0
    shell.run("%banana tag last heron draft")
    shell.run("%banana tag last draft --remove")
    shell.run('%banana note last "keep the dawn light"')
    shown = shell.run(f"%banana show {first.run_id}")
    html = shown._repr_html_()
    assert "★★★★☆" in html and "✓ picked" in html
    assert [i.rating for i in shown.images] == [None, 4]
    heron = Store(out_dir).load_run(second.run_id)
    assert heron.tags == ("heron",) and heron.note == "keep the dawn light"


@pytest.mark.parametrize(
    "line, fix",
    [
        ("%banana rate last#0 9", "1 to 5"),
        ("%banana rate last#0 four", "whole number"),
        ("%banana rate last#7 3", "no image #7"),
        ("%banana rate nosuchrun#0 3", "history"),
        ("%banana rate last#x 3", "RUN#i"),
        ("%banana tag last 'two words'", "one short word"),
        ("%banana history --min-rating 7", "1 to 5"),
        ("%banana history --since yesterday", "2025-01-31"),
        ("%banana pick", "write %banana pick"),
    ],
)
def test_bad_exploring_input_is_one_sentence(shell, two_runs, out_dir, line, fix):
    error = shell.run_failing(line)
    assert isinstance(error, (UsageError, ValidationError))
    one_sentence(str(error))
    assert fix in str(error)
    assert not (out_dir / annotations.ANNOTATIONS).exists()


def test_history_filters(shell, two_runs):
    first, second = two_runs
    first.images[0].rate(5)
    second.images[0].rate(2)
    second.images[0].pick()
    second.tag("bird")
    second.set_note("try a wider crop")

    def ids(line):
        history = shell.run(line)
        assert isinstance(history, History)
        return [run.run_id for run in history]

    assert ids("%banana history") == [second.run_id, first.run_id]
    assert ids("%banana history --min-rating 3") == [first.run_id]
    assert ids("%banana history --picked") == [second.run_id]
    assert ids("%banana history --tag bird") == [second.run_id]
    assert ids("%banana history --search 'WIDER crop'") == [second.run_id]  # notes
    assert ids("%banana history --search fox") == [first.run_id]  # prompt
    assert ids("%banana history --size 16:9") == [second.run_id]
    assert ids("%banana history --model nano-banana-2 1") == [second.run_id]
    assert ids("%banana history --since 2d") == [second.run_id, first.run_id]
    assert ids(f"%banana history --since {time.strftime('%Y')}-12-31T23:59") == []
    listing = repr(shell.run("%banana history --picked"))
    assert "★2" in listing and "1 picked" in listing and "#bird" in listing


def test_a_tampered_annotations_file_is_read_safely(two_runs, out_dir):
    first, _ = two_runs
    first.images[0].rate(3)
    with open(out_dir / annotations.ANNOTATIONS, "a") as fh:
        for entry in (
            {"kind": "rating", "run_id": "../../etc", "index": 0, "value": 5},
            {"kind": "rating", "run_id": first.run_id, "index": 0, "value": 99},
            {"kind": "rating", "run_id": first.run_id, "index": "0", "value": 1},
            {"kind": "pick", "run_id": first.run_id, "index": 0, "value": "yes"},
            {"kind": "tag", "run_id": first.run_id, "value": "<script>"},
            ["not", "an", "object"],
        ):
            fh.write(json.dumps(entry) + "\n")
        fh.write('{"kind": "rating", "run_id": "torn')  # a killed writer's last line
    image = Store(out_dir).load_run(first.run_id).images[0]
    assert image.rating == 3 and not image.picked
    assert Store(out_dir).load_run(first.run_id).tags == ()


def _rate_many(root: str, run_id: str, worker: int) -> None:
    for i in range(40):
        annotations.tag(root, run_id, [f"w{worker}-{i}"])


def test_several_processes_annotating_at_once_lose_nothing(two_runs, out_dir):
    first, _ = two_runs
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_rate_many, args=(str(out_dir), first.run_id, w)) for w in range(4)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    tags = Store(out_dir).load_run(first.run_id).tags
    assert len(tags) == 160 and len(set(tags)) == 160
    lines = (out_dir / annotations.ANNOTATIONS).read_bytes().splitlines()
    assert all(json.loads(line)["kind"] == "tag" for line in lines)


@pytest.mark.parametrize(
    "size, resolution, width, height, problem",
    [
        ("1:1", "1K", 1024, 1024, None),
        ("16:9", "1K", 1360, 768, None),
        ("8:1", "0.5K", 1456, 176, None),  # sides rounded to multiples of 16
        ("16:9", "1K", 1024, 1024, "asked 16:9, got 1:1 (1024×1024)"),
        ("1:1", "4K", 1024, 1024, "asked 4K, got 1K (1024×1024)"),
        ("3:2", "2K", 2048, 1365, None),
        ("3:2", "2K", 2048, 1400, "asked 3:2, got 1.46:1 (2048×1400)"),
        ("1:1", "1K", 0, 0, None),  # size unknown: nothing to say
    ],
)
def test_size_check(size, resolution, width, height, problem):
    assert size_problem(size, resolution, width, height) == problem


def test_a_wrong_size_delivery_is_shown_in_caption_header_and_records(sim_env, out_dir):
    sim_env.configure(deliver_size="1:1", deliver_resolution="0.5K")
    run = generate("a wide harbour panorama", size="16:9", n=2)
    assert [r["size_ok"] for r in run.records()] == [False, False]
    html = run._repr_html_()
    assert "asked 16:9, got 1:1" in html and "asked 1K, got 0.5K" in html
    assert "2 of 2 images not the requested size" in html
    assert "[size: asked 16:9, got 1:1" in run._repr_mimebundle_()[0]["text/plain"]
