"""What a generation produced: a `Run` of one request, with its images on disk."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from . import _annotations
from ._request import ImageRequest, is_url
from ._size_check import size_problem
from ._wording import plural

#: a stored full-size image: <root>/runs/<run id>/<run id>-<i>.png (folders written before
#: the file name carried the run: <root>/runs/<run id>/image-<i>.png)
_STORED_IMAGE = re.compile(
    r"[/\\]runs[/\\](\d{8}-\d{6}-[0-9a-f]{6})[/\\](?:image|\1)-(\d{1,2})\.png$"
)


def image_file_name(run_id: str, index: int) -> str:
    """The full-size file of image `index` of a run: named after the run, so that several
    of them open side by side (image tabs, a file browser, downloads) are told apart."""
    return f"{run_id}-{index}.png"


class ImageAddress(NamedTuple):
    """One stored image, as `RUN#i`."""

    run_id: str
    index: int  # type: ignore[assignment]  # (shadows tuple.index; the name reads best)

    def __str__(self) -> str:
        return f"{self.run_id}#{self.index}"


def stored_image_address(reference: str) -> ImageAddress | None:
    """The run and index of a reference that is a full-size image of some output folder."""
    if is_url(reference):
        return None
    match = _STORED_IMAGE.search(reference)
    return ImageAddress(match.group(1), int(match.group(2))) if match else None


def image_origin(reference: str) -> ImageAddress | None:
    """Where a reference came from: a stored image by its path, or a copy of one (renamed
    or moved) by the run and index written inside the PNG; None for anything else."""
    address = stored_image_address(reference)
    if address is not None or is_url(reference):
        return address
    try:
        stat = os.stat(reference)
    except OSError:
        return None
    return _origin_in_file(reference, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _origin_in_file(path: str, mtime_ns: int, size: int) -> ImageAddress | None:
    from ._imaging import read_parameters

    try:
        parameters = read_parameters(path)
    except (OSError, ValueError, SyntaxError):  # not an image or PNG, a malformed chunk
        return None
    if not isinstance(parameters, dict):
        return None
    run_id, index = parameters.get("run_id"), parameters.get("index")
    if not isinstance(run_id, str) or not _annotations.RUN_ID.match(run_id):
        return None
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 100:
        return None
    return ImageAddress(run_id, index)


@dataclasses.dataclass
class RunImage:
    """One image of a run: the full-size file, its thumbnail and where it came from."""

    path: Path
    thumbnail: Path
    url: str
    task_id: str
    index: int
    request: ImageRequest
    width: int = 0
    height: int = 0

    def to_dict(self, root: Path) -> dict[str, Any]:
        return {
            "path": _relative(self.path, root),
            "thumbnail": _relative(self.thumbnail, root),
            "url": self.url,
            "task_id": self.task_id,
            "index": self.index,
            "width": self.width,
            "height": self.height,
        }

    def _repr_png_(self) -> bytes:
        return self.path.read_bytes()  # checked to lie inside its run when it was loaded

    def __fspath__(self) -> str:
        """The full-size file, so an image can be a reference: `reference_images=[img]`."""
        return str(self.path)

    # -- where it lives --------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.path.parent.name

    @property
    def root(self) -> Path:
        """The output folder holding this image's run."""
        return self.path.parent.parent.parent

    @property
    def address(self) -> ImageAddress:
        return ImageAddress(self.run_id, self.index)

    # -- what the user said about it -----------------------------------------------------------
    @property
    def rating(self) -> int | None:
        return _annotations.load(self.root).rating(self.run_id, self.index)

    @property
    def picked(self) -> bool:
        return _annotations.load(self.root).picked(self.run_id, self.index)

    def rate(self, rating: int | None) -> RunImage:
        """Rate this image 1-5 (0 or None clears it); kept in the output folder."""
        _annotations.rate(self.root, self.run_id, self.index, rating)
        return self

    def pick(self, picked: bool = True) -> RunImage:
        """Mark this image as a pick (`pick(False)` takes the mark away)."""
        _annotations.pick(self.root, self.run_id, self.index, picked)
        return self

    # -- what came back --------------------------------------------------------------------------
    @property
    def size_problem(self) -> str | None:
        """None, or how the pixel size differs from the requested ratio and tier."""
        return size_problem(self.request.size, self.request.resolution, self.width, self.height)

    @property
    def size_ok(self) -> bool:
        return self.size_problem is None


@dataclasses.dataclass
class Run:
    """One request's outcome. `status` is completed, failed, cancelled or pending.

    `cost` is what its images cost when they were made; `spent` is what this call paid
    (0 when the images came from the cache). `_repr_html_` shows the image grid.
    """

    run_id: str
    request: ImageRequest
    request_key: str
    status: str = "pending"
    task_id: str | None = None
    images: list[RunImage] = dataclasses.field(default_factory=list)
    cost: float = 0.0
    spent: float = 0.0
    elapsed: float | None = None
    created_at: float = 0.0
    cached: bool = False
    error: str | None = None
    error_type: str | None = None
    base_url: str = ""
    simulated: bool = False
    folder: Path | None = None
    #: the error of a failed run, when it failed in this process
    exception: BaseException | None = dataclasses.field(default=None, repr=False, compare=False)
    #: True when this call collected a task an earlier, interrupted call had submitted
    #: for the same request (nothing was sent again)
    adopted: bool = dataclasses.field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def paths(self) -> list[Path]:
        return [image.path for image in self.images]

    # -- annotations and lineage ---------------------------------------------------------------
    @property
    def root(self) -> Path | None:
        """The output folder holding this run."""
        return self.folder.parent.parent if self.folder is not None else None

    @property
    def tags(self) -> tuple[str, ...]:
        return _annotations.load(self.root).tags.get(self.run_id, ()) if self.root else ()

    @property
    def note(self) -> str | None:
        return _annotations.load(self.root).notes.get(self.run_id) if self.root else None

    def tag(self, *words: str) -> Run:
        _annotations.tag(self._root(), self.run_id, words)
        return self

    def untag(self, *words: str) -> Run:
        _annotations.tag(self._root(), self.run_id, words, remove=True)
        return self

    def set_note(self, text: str) -> Run:
        _annotations.note(self._root(), self.run_id, text)
        return self

    def _root(self) -> Path:
        if self.root is None:
            raise ValueError("This run has no folder; only stored runs take tags and notes.")
        return self.root

    @property
    def parents(self) -> list[ImageAddress]:
        """The stored images (run id, index) this run used as references, directly or
        as a copy of the file (found by the parameters inside the PNG)."""
        found = (image_origin(ref) for ref in self.request.reference_images)
        return [address for address in found if address is not None]

    def children(self) -> list[Run]:
        """Stored runs of the same folder that used one of this run's images as a reference."""
        from ._lineage import children_of
        from ._store import Store

        return children_of(Store(self._root()), self.run_id)

    @property
    def size_mismatches(self) -> int:
        return sum(1 for image in self.images if not image.size_ok)

    def records(self) -> list[dict[str, Any]]:
        """One dict per image: parameters, file, rating, pick, size check, cost."""
        share = 1 / max(1, len(self.images))
        return [
            {
                "run_id": self.run_id,
                "index": image.index,
                "prompt": self.request.prompt,
                "model": self.request.model,
                "size": self.request.size,
                "resolution": self.request.resolution,
                "n": self.request.n,
                "path": str(image.path),
                "width": image.width,
                "height": image.height,
                "size_ok": image.size_ok,
                "rating": image.rating,
                "picked": image.picked,
                "tags": ",".join(self.tags),
                "cost": round(self.cost * share, 6),
                "elapsed": self.elapsed,
            }
            for image in self.images
        ]

    def controls(self) -> Any:
        """The images as a widget, each with rating stars and Pick underneath (for rating
        from the grid where widgets render)."""
        from ._image_controls import tiles

        return tiles([self])

    def to_dataframe(self) -> Any:
        """`records()` as a pandas DataFrame (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from None
        return pandas.DataFrame.from_records(self.records())

    def provenance(self) -> dict[str, Any]:
        """What every displayed output carries in its metadata (never the key)."""
        return {
            "run_id": self.run_id,
            "task_ids": [self.task_id] if self.task_id else [],
            "request": self.request.to_dict(),
            "request_key": self.request_key,
            "simulated": self.simulated,
            "cached": self.cached,
        }

    def to_manifest(self) -> dict[str, Any]:
        root = self.folder or Path(".")
        return {
            "run_id": self.run_id,
            "request": self.request.to_dict(),
            "request_key": self.request_key,
            "status": self.status,
            "task_id": self.task_id,
            "cost": self.cost,
            "elapsed": self.elapsed,
            "created_at": self.created_at,
            "error": self.error,
            "error_type": self.error_type,
            "base_url": self.base_url,
            "simulated": self.simulated,
            "images": [image.to_dict(root) for image in self.images],
        }

    @classmethod
    def from_manifest(cls, data: object, folder: Path) -> Run:
        """A Run from a manifest read from disk: untrusted, so its shape is checked and no
        file it names may lie outside `folder`. Raises ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        if data.get("run_id") != folder.name:
            raise ValueError(f"it names run {data.get('run_id')!r}, not {folder.name!r}")
        request = _request_from(data.get("request"))
        for name, kinds in _MANIFEST_FIELDS.items():
            if name in data and not isinstance(data[name], kinds):
                raise ValueError(f"its {name!r} is {data[name]!r}")
        run = cls(
            run_id=data["run_id"],
            request=request,
            request_key=data["request_key"],
            status=data.get("status", "completed"),
            task_id=data.get("task_id"),
            cost=data.get("cost", 0.0),
            elapsed=data.get("elapsed"),
            created_at=data.get("created_at", 0.0),
            error=data.get("error"),
            error_type=data.get("error_type"),
            base_url=data.get("base_url", ""),
            simulated=data.get("simulated", False),
            folder=folder,
        )
        images = data.get("images", [])
        if not isinstance(images, list):
            raise ValueError("its 'images' is not a list")
        run.images = [_image_from(item, folder, request) for item in images]
        return run

    def __repr__(self) -> str:
        cached = ", cached" if self.cached else ""
        return (
            f"<Run {self.run_id} {self.status}{cached}: {plural(len(self.images), 'image')}, "
            f"{self.request.summary()}, prompt {self.request.prompt[:40]!r}>"
        )

    def _repr_html_(self) -> str:
        from ._display import output, run_html

        return output(run_html(self))

    def _ipython_display_(self) -> None:
        """In a Jupyter kernel: the grid as a widget with rating stars and Pick under every
        thumbnail, the static grid its fallback (`_rating_grid`); elsewhere IPython falls
        back to `_repr_mimebundle_`."""
        from ._rating_grid import display_grid

        display_grid(self)

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> Any:
        """HTML grid (text listing in a terminal) with provenance in the metadata."""
        from ._display import PROVENANCE_MIME, output, run_html, run_text

        return (
            {"text/html": output(run_html(self)), "text/plain": run_text(self)},
            {PROVENANCE_MIME: self.provenance()},
        )


_NUMBER = (int, float)
#: the type of each manifest field besides request and images
_MANIFEST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "request_key": str,
    "status": str,
    "task_id": (str, type(None)),
    "cost": _NUMBER,
    "elapsed": (*_NUMBER, type(None)),
    "created_at": _NUMBER,
    "error": (str, type(None)),
    "error_type": (str, type(None)),
    "base_url": str,
    "simulated": bool,
}
_REQUEST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "prompt": str,
    "model": str,
    "size": str,
    "n": int,
    "resolution": str,
    "reference_images": list,
    "extra_metadata": dict,
    "variant": (str, type(None)),
}


def _request_from(data: object) -> ImageRequest:
    if not isinstance(data, dict):
        raise ValueError("its 'request' is not a JSON object")
    for name, kind in _REQUEST_FIELDS.items():
        if name in data and not isinstance(data[name], kind):
            raise ValueError(f"its request {name!r} is {data[name]!r}")
    if not isinstance(data.get("prompt"), str):
        raise ValueError("its request has no prompt")
    if not all(isinstance(ref, str) for ref in data.get("reference_images") or []):
        raise ValueError("its reference images are not all text")
    return ImageRequest.from_dict(data)


def _image_from(item: object, folder: Path, request: ImageRequest) -> RunImage:
    if not isinstance(item, dict):
        raise ValueError("an image entry is not a JSON object")
    for name in ("path", "thumbnail"):
        if not isinstance(item.get(name), str) or not item[name]:
            raise ValueError(f"an image entry has no {name!r}")
    if isinstance(item.get("index"), bool) or not isinstance(item.get("index"), int):
        raise ValueError(f"an image entry has the index {item.get('index')!r}")
    for name in ("width", "height"):
        if isinstance(item.get(name), bool) or not isinstance(item.get(name, 0), int):
            raise ValueError(f"an image entry has the {name} {item.get(name)!r}")
    if not isinstance(item.get("url", ""), str) or not isinstance(item.get("task_id", ""), str):
        raise ValueError("an image entry's url or task id is not text")
    return RunImage(
        path=inside(folder, item["path"]),
        thumbnail=inside(folder, item["thumbnail"]),
        url=item.get("url", ""),
        task_id=item.get("task_id", ""),
        index=item["index"],
        request=request,
        width=item.get("width", 0),
        height=item.get("height", 0),
    )


def inside(folder: Path, relative: str) -> Path:
    """`folder / relative`, refused (ValueError) unless it stays inside `folder` once every
    `..` and symbolic link is followed."""
    path = folder / relative
    resolved_folder = folder.resolve()
    if not path.resolve().is_relative_to(resolved_folder):
        raise ValueError(f"it names {relative[:80]!r}, outside the run's folder")
    return path


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
