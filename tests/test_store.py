"""The output folder through real generations: runs, manifests, thumbnails, journal, cache."""

import json
import os

import pytest
from conftest import TEST_KEY
from PIL import Image

from nanobanana_magic import ConfigurationError, generate
from nanobanana_magic._imaging import THUMBNAIL_BYTES, make_thumbnail, read_parameters
from nanobanana_magic._run import stored_image_address
from nanobanana_magic._store import Store


def make(sim, out_dir, prompt="a paper boat", **options):
    options.setdefault("resolution", "0.5K")
    return generate(prompt, base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir, **options)


def api_requests(sim):
    return len(sim.stats()["headers"]["api"])


def test_each_run_has_its_folder_manifest_images_and_thumbnails(sim, out_dir):
    run = make(sim, out_dir, n=2, size="16:9", resolution="2K")
    assert run.folder == out_dir / "runs" / run.run_id
    # full-size files carry their run, so several open image tabs are told apart
    assert sorted(p.name for p in run.folder.iterdir()) == [
        f"{run.run_id}-0.png",
        f"{run.run_id}-1.png",
        "manifest.json",
        "thumb-0.webp",
        "thumb-1.webp",
    ]
    manifest = json.loads((run.folder / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["task_id"] == run.task_id
    assert manifest["request"]["prompt"] == "a paper boat"
    assert [image["path"] for image in manifest["images"]] == [
        f"{run.run_id}-0.png",
        f"{run.run_id}-1.png",
    ]
    for image in run.images:
        with Image.open(image.path) as full, Image.open(image.thumbnail) as thumb:
            assert full.size == (image.width, image.height) and full.width > 2600
            assert max(thumb.size) <= 512 and thumb.format == "WEBP"
            assert thumb.width > thumb.height  # the aspect ratio is kept
    again = make(sim, out_dir, prompt="another")
    assert again.folder != run.folder and again.folder.parent == run.folder.parent


def test_folders_of_before_with_image_i_names_still_load_and_count_as_stored(sim, out_dir):
    run = make(sim, out_dir)
    old = run.folder / "image-0.png"
    run.images[0].path.rename(old)
    manifest_path = run.folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["images"][0]["path"] = "image-0.png"
    manifest_path.write_text(json.dumps(manifest))
    loaded = Store(out_dir).load_run(run.run_id)
    assert loaded.images[0].path == old
    assert stored_image_address(str(old)) == (run.run_id, 0)
    assert stored_image_address(str(run.folder / f"{run.run_id}-3.png")) == (run.run_id, 3)
    # a file named after another run is not this run's image
    other = run.run_id[:-1] + ("0" if run.run_id[-1] != "0" else "1")
    assert stored_image_address(str(run.folder / f"{other}-0.png")) is None


@pytest.mark.parametrize(("width", "height"), [(2048, 2048), (2752, 1536), (768, 1360)])
def test_thumbnails_of_busy_pictures_decode_and_fit_the_size_bound(tmp_path, width, height):
    # noise is the hardest picture to compress: if it fits, a photograph fits
    source = tmp_path / "busy.png"
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(source)
    before = source.read_bytes()
    size = make_thumbnail(source, tmp_path / "thumb.webp", 512)
    data = (tmp_path / "thumb.webp").read_bytes()
    assert len(data) <= THUMBNAIL_BYTES
    with Image.open(tmp_path / "thumb.webp") as thumb:
        thumb.load()
        assert thumb.format == "WEBP" and thumb.size == size and max(size) <= 512
        assert abs(thumb.width / thumb.height - width / height) < 0.02
    assert source.read_bytes() == before  # the full-size file is untouched


def test_images_carry_their_parameters_and_never_the_key(sim, out_dir):
    run = make(sim, out_dir, size="4:5", variant="b")
    params = read_parameters(run.images[0].path)
    assert params["run_id"] == run.run_id and params["task_id"] == run.task_id
    assert params["request"]["size"] == "4:5" and params["request"]["variant"] == "b"
    assert params["simulated"] is True and params["source_url"] == run.images[0].url
    for path in out_dir.rglob("*"):
        if path.is_file():
            assert TEST_KEY.encode() not in path.read_bytes(), path


def test_the_task_is_journaled_before_polling_begins(sim, out_dir):
    seen = {}

    def listener(event):
        if event.kind == "submitted":
            journal = Store(out_dir).read_journal()
            seen["entry"] = [e for e in journal if e["event"] == "submitted"]
            seen["polls"] = sim.stats()["status_requests"]

    run = make(sim, out_dir, listener=listener)
    assert seen["polls"] == 0
    assert [e["task_id"] for e in seen["entry"]] == [run.task_id]
    assert seen["entry"][0]["run_id"] == run.run_id
    events = [e["event"] for e in Store(out_dir).read_journal()]
    assert events == ["submit_attempt", "submitted", "completed"]


def test_a_cache_hit_returns_stored_results_without_any_request(sim, out_dir):
    first = make(sim, out_dir, n=2)
    before = api_requests(sim), sim.stats()["downloads"]
    hit = make(sim, out_dir, n=2)
    assert (api_requests(sim), sim.stats()["downloads"]) == before
    assert hit.cached and hit.run_id == first.run_id and hit.spent == 0
    assert hit.paths == first.paths
    assert "cache_hit" in [e["event"] for e in Store(out_dir).read_journal()]


def test_cache_false_bypasses_the_cache(sim, out_dir):
    first = make(sim, out_dir)
    fresh = make(sim, out_dir, cache=False)
    assert not fresh.cached and fresh.run_id != first.run_id
    assert sim.stats()["tasks_created"] == 2


def test_a_missing_image_file_is_not_served_from_the_cache(sim, out_dir):
    first = make(sim, out_dir)
    first.images[0].path.unlink()
    again = make(sim, out_dir)
    assert not again.cached and sim.stats()["tasks_created"] == 2


def test_output_dir_from_the_environment(sim, out_dir, monkeypatch):
    monkeypatch.setenv("NANOBANANA_OUTPUT_DIR", str(out_dir / "from-env"))
    run = generate("x", base_url=sim.base_url, api_key=TEST_KEY, resolution="0.5K")
    assert run.folder.parent.parent == out_dir / "from-env"


def test_default_output_dir_is_banana_outputs_in_the_working_folder(tmp_path):
    assert Store().root == tmp_path / "banana_outputs"  # conftest chdirs into tmp_path


@pytest.mark.parametrize("inside", [False, True], ids=["the-file", "below-it"])
def test_an_output_folder_that_is_a_file_is_refused_before_sending(sim, tmp_path, inside):
    blocker = tmp_path / "outputs"
    blocker.write_text("a file")
    with pytest.raises(ConfigurationError) as caught:
        make(sim, blocker / "inside" if inside else blocker)
    message = str(caught.value)
    assert "\n" not in message and ("is a file" in message or "cannot be created" in message)
    assert "NANOBANANA_OUTPUT_DIR" in message
    assert api_requests(sim) == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_output_folder_is_refused(sim, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(ConfigurationError, match="writable"):
        make(sim, folder / "out")
    assert api_requests(sim) == 0


def test_the_journal_survives_a_torn_line(sim, out_dir):
    make(sim, out_dir)
    with open(out_dir / "journal.jsonl", "ab") as fh:
        fh.write(b'{"event": "submitted", "task_id": "tas')  # a writer killed mid-line
    store = Store(out_dir)
    assert [e["event"] for e in store.read_journal()][-1] == "completed"
    assert store.pending_tasks() == []


def test_runs_can_be_found_again_by_id(sim, out_dir):
    run = make(sim, out_dir)
    store = Store(out_dir)
    assert store.resolve_run_id("last") == run.run_id
    assert store.resolve_run_id(run.run_id[-6:]) == run.run_id
    loaded = store.load_run(run.run_id)
    assert loaded.paths == run.paths and loaded.request == run.request


def test_run_ids_are_unique_and_in_creation_order_under_a_burst(tmp_path, monkeypatch):
    """Many runs in one second get ids in the order they were made (so `last` is
    the newest), of the form the folder's checks accept; a second kernel drawing the same
    ids that second (its own count, the same random digits here) draws again."""
    import types

    from nanobanana_magic import _store
    from nanobanana_magic._request import ImageRequest

    monkeypatch.setattr(_store, "secrets", types.SimpleNamespace(token_hex=lambda n: "abcd"))
    store = Store(tmp_path)
    request = ImageRequest.create("a burst")
    runs = [store.new_run(request, "0" * 24) for _ in range(60)]
    monkeypatch.setattr(_store, "_RUN_IDS", _store._RunIds())  # another kernel
    runs += [store.new_run(request, "0" * 24) for _ in range(3)]
    ids = [run.run_id for run in runs]
    assert len(set(ids)) == 63 and all(_store.is_run_id(run_id) for run_id in ids)
    assert ids[:60] == sorted(ids[:60])
    assert len({run.folder for run in runs}) == 63 and all(run.folder.is_dir() for run in runs)
