"""Carrying a result forward (`--ref RUN#i`, `--refine`, `reference_images=[image]`) and
reproducing from a PNG (`%banana from`), through a real IPython shell and the simulator."""

from __future__ import annotations

import shutil
import struct

import pytest
from conftest import copy_folder, one_sentence
from IPython.core.error import UsageError
from PIL import Image

from nanobanana_magic import generate, request_from_image, sweep
from nanobanana_magic._errors import ValidationError
from nanobanana_magic._imaging import PNG_SIGNATURE, _png_chunk, read_parameters
from nanobanana_magic._request import file_sha256
from nanobanana_magic._run import ImageAddress
from nanobanana_magic._store import Store


def uploads(out_dir):
    return [e for e in Store(out_dir).read_journal() if e["event"] == "uploaded"]


def test_refine_uploads_the_full_size_file_once_and_records_the_parent(shell, sim_env, out_dir):
    base = shell.run("%%banana --size 16:9 --resolution 2K -n 2\nA harbour at dusk")
    child = shell.run("%%banana --refine last#1 --tag step2\nThe same harbour, with a red boat")
    # the refined image's model, size and resolution carry over; it is the reference
    assert (child.request.size, child.request.resolution) == ("16:9", "2K")
    assert child.request.reference_images == (str(base.images[1].path),)
    (upload,) = uploads(out_dir)
    assert upload["sha256"] == file_sha256(base.images[1].path)  # full size, not thumbnail
    assert upload["sha256"] != file_sha256(base.images[1].thumbnail)
    assert sim_env.stats()["uploads"] == 1
    assert child.parents == [ImageAddress(base.run_id, 1)] and child.tags == ("step2",)
    # the same image again (by another address) is not uploaded again; a line option wins
    third = shell.run(f"%%banana --ref {base.run_id}#1 --size 1:1\nA harbour, square crop")
    assert third.request.size == "1:1" and sim_env.stats()["uploads"] == 1
    assert [r.run_id for r in base.children()] == [child.run_id, third.run_id]
    assert child.children() == []


def test_lineage_shows_the_chain_and_descendants(shell, sim_env, out_dir):
    root = generate("a paper boat")
    middle = generate("a paper boat on a pond", reference_images=[root.images[0]])
    leaf = generate("a paper boat on a pond at night", reference_images=["last#0"])
    side = generate("a paper boat, watercolour", reference_images=[f"{root.run_id}#0"])
    assert leaf.parents == [ImageAddress(middle.run_id, 0)]
    lineage = shell.run(f"%banana lineage {middle.run_id}")
    # up to the root, then the descendants of this run (its sibling `side` is not one)
    assert lineage.run_ids == [root.run_id, middle.run_id, leaf.run_id]
    assert shell.run(f"%banana lineage {root.run_id}").run_ids == [
        root.run_id,
        middle.run_id,
        leaf.run_id,
        side.run_id,
    ]
    text = repr(lineage)
    assert f"{middle.run_id} from {root.run_id}#0" in text and "◀" in text
    assert "  " + leaf.run_id in text  # indented below its parent
    html = lineage._repr_html_()
    assert html.count("data:image/webp;base64,") >= 3 and "a paper boat on a pond" in html


def test_children_come_from_the_index_reading_only_their_manifests(sim_env, out_dir, monkeypatch):
    """A folder's other runs are not read to find a run's children (the index knows
    them), and the index, deleted, is rebuilt with them."""
    from nanobanana_magic._index import INDEX_FILE, index_of
    from nanobanana_magic._lineage import children_of, lineage

    root = generate("a glass float")
    unrelated = [generate(f"a driftwood log {i}") for i in range(3)]
    child = generate("a glass float in a net", reference_images=[f"{root.run_id}#0"])
    grandchild = generate("a glass float in a net, at dawn", reference_images=["last#0"])
    store = Store(out_dir)
    store.index().refresh()  # caught up: what follows reads only what it needs
    loaded = []
    real_load = Store.load_run
    monkeypatch.setattr(
        Store, "load_run", lambda self, run_id: loaded.append(run_id) or real_load(self, run_id)
    )
    assert [run.run_id for run in children_of(store, root.run_id)] == [child.run_id]
    assert loaded == [child.run_id]
    loaded.clear()
    assert lineage(store, root).run_ids == [root.run_id, child.run_id, grandchild.run_id]
    assert not {run.run_id for run in unrelated} & set(loaded)
    monkeypatch.setattr(Store, "load_run", real_load)

    index_of(store).close()
    (out_dir / INDEX_FILE).unlink()
    assert [run.run_id for run in children_of(Store(out_dir), root.run_id)] == [child.run_id]
    assert [run.run_id for run in root.children()] == [child.run_id]
    assert children_of(Store(out_dir), grandchild.run_id) == []


def test_export_names_the_reference_files_the_production_call_needs(shell, sim_env):
    base = generate("a copper kettle")
    shell.run("%%banana --refine last\nThe kettle, polished")
    exported = shell.run("%banana export last")
    assert f"(image #0 of run {base.run_id})" in exported
    assert str(base.images[0].path) in exported
    curl = shell.run("%banana export last --as curl")
    assert curl.startswith("# Reference files this request needs")


def test_sweep_over_stored_references(shell, sim_env, out_dir):
    a = generate("a lantern")
    b = generate("a candle")
    result = shell.run(
        f"%%banana --sweep ref={a.run_id}#0,{b.run_id[:-2]}#0+{a.run_id}#0,none\nA still life"
    )
    labels = [row["ref"] for row in result.records()]
    assert labels == [f"{a.run_id[-6:]}#0", f"{b.run_id[-6:]}#0 + {a.run_id[-6:]}#0", "no refs"]
    assert sim_env.stats()["uploads"] == 2  # each image once
    py = sweep("A still life, {style}", {"style": ["ink"], "ref": [[a.images[0]]]})
    assert py.records()[0]["ref"] == f"{a.run_id[-6:]}#0" and sim_env.stats()["uploads"] == 2


@pytest.mark.parametrize(
    "cell, fix",
    [
        ("%%banana --refine nosuch#0\nx", "history"),
        ("%%banana --refine last#9\nx", "no image #9"),
        ("%%banana --ref last#9\nx", "no image #9"),
        ("%%banana --refine last --sweep ref=last,none\nx", "cannot be combined"),
    ],
)
def test_bad_lineage_input_is_one_sentence_and_sends_nothing(
    shell, one_image_folder, sim_env, out_dir, cell, fix
):
    copy_folder(one_image_folder, out_dir)  # "last" is a run of one image
    before = sim_env.stats()["submit_requests"]
    error = shell.run_failing(cell)
    assert isinstance(error, (UsageError, ValidationError))
    one_sentence(str(error))
    assert fix in str(error)
    assert sim_env.stats()["submit_requests"] == before


def test_from_a_copied_png_shows_the_request_and_reruns_from_the_cache(
    shell, sim_env, out_dir, tmp_path
):
    run = generate("a {literal} brace and a fox", size="4:3", n=2, metadata={"seed": 7})
    copy = tmp_path / "shared" / "renamed.png"
    copy.parent.mkdir()
    shutil.copy(run.images[1].path, copy)
    assert request_from_image(copy) == run.request
    shown = shell.run(f"%banana from {copy}")
    assert f"image #1 of run {run.run_id}" in shown.describe()
    assert shown.cell.startswith("%%banana --size 4:3 -n 2 --meta seed=7\n")
    assert shown.cell.endswith("a {{literal}} brace and a fox")
    before = sim_env.stats()["submit_requests"]
    again = shell.run(f"%banana from {copy} --run")
    assert again.cached and again.run_id == run.run_id
    assert shell.run(shown.cell).run_id == run.run_id  # the cell is a cache hit too
    assert sim_env.stats()["submit_requests"] == before


def _png_with_text(path, payload: bytes):
    data = (Image.new("RGB", (8, 8)).save(path, "PNG"), path.read_bytes())[1]
    ihdr_end = len(PNG_SIGNATURE) + 8 + struct.unpack(">I", data[8:12])[0] + 4
    chunk = _png_chunk(b"iTXt", b"nanobanana\x00\x00\x00\x00\x00" + payload)
    path.write_bytes(data[:ihdr_end] + chunk + data[ihdr_end:])


@pytest.mark.parametrize(
    "make, fix",
    [
        (lambda p: Image.new("RGB", (8, 8)).save(p, "PNG"), "carries no nanobanana parameters"),
        (lambda p: _png_with_text(p, b"{not json"), "malformed"),
        (lambda p: _png_with_text(p, b'{"request": ["x"]}'), "malformed"),
        (lambda p: _png_with_text(p, b'{"request": {"prompt": "x", "n": "two"}}'), "valid"),
        (lambda p: _png_with_text(p, b'{"request": {"prompt": 5}}'), "valid request"),
        (lambda p: p.write_text("just text"), "not an image"),
        (lambda p: None, "no file"),
    ],
)
def test_from_refuses_files_without_our_parameters_in_one_sentence(shell, tmp_path, make, fix):
    path = tmp_path / "odd.png"
    make(path)
    error = shell.run_failing(f"%banana from {path}")
    assert isinstance(error, ValidationError)
    one_sentence(str(error))
    assert fix in str(error)


def test_embedding_parameters_can_be_switched_off(shell, sim_env, out_dir):
    shell.run("%config Banana.embed_parameters = False")
    run = shell.run("%%banana\nA private sketch")
    assert read_parameters(run.images[0].path) is None
    assert Store(out_dir).load_run(run.run_id).request == run.request  # manifest keeps them
    error = shell.run_failing(f"%banana from {run.images[0].path}")
    assert "embed_parameters off" in str(error)


def test_a_copied_image_used_as_reference_still_names_its_parent(shell, sim_env, tmp_path):
    base = generate("a brass compass", n=2)
    copy = tmp_path / "elsewhere" / "compass-for-client.png"
    copy.parent.mkdir()
    shutil.copy(base.images[1].path, copy)
    plain = tmp_path / "plain.png"
    Image.new("RGB", (16, 16), "navy").save(plain)
    child = generate("the compass, engraved", reference_images=[copy, plain])
    assert child.parents == [ImageAddress(base.run_id, 1)]  # the plain PNG has no origin
    assert [run.run_id for run in base.children()] == [child.run_id]
    exported = shell.run(f"%banana export {child.run_id}")
    needed = [text for text in exported.splitlines() if text.startswith("#   ")]
    (line,) = [text for text in needed if copy.name in text]
    assert line.endswith(f"(image #1 of run {base.run_id})")
    (line,) = [text for text in needed if plain.name in text]
    assert "(image #" not in line
