"""End-to-end through the Python API against the simulator over loopback HTTP."""

from conftest import TEST_KEY
from PIL import Image

from nanobanana_magic import generate
from nanobanana_magic._imaging import read_parameters


def test_generate_saves_images_with_parameters_and_caches(sim, out_dir):
    run = generate(
        "a red fox in snow",
        n=2,
        size="16:9",
        base_url=sim.base_url,
        api_key=TEST_KEY,
        output_dir=out_dir,
    )
    assert run.ok and len(run.images) == 2 and not run.cached
    with Image.open(run.images[0].path) as image:
        assert image.size == (run.images[0].width, run.images[0].height)
        assert image.width > image.height
    params = read_parameters(run.images[1].path)
    assert params["request"]["prompt"] == "a red fox in snow" and params["index"] == 1
    assert TEST_KEY not in run.images[0].path.read_bytes().decode("latin-1")
    again = generate(
        "a red fox in snow",
        n=2,
        size="16:9",
        base_url=sim.base_url,
        api_key=TEST_KEY,
        output_dir=out_dir,
    )
    assert again.cached and again.run_id == run.run_id
    assert sim.stats()["tasks_created"] == 1
