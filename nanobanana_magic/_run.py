"""What a generation produced: a `Run` of one request, with its images on disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ._request import ImageRequest


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

    def to_dict(self, root: Path) -> dict:
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
        return self.path.read_bytes()


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

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def paths(self) -> list[Path]:
        return [image.path for image in self.images]

    def provenance(self) -> dict:
        """What every displayed output carries in its metadata (never the key)."""
        return {
            "run_id": self.run_id,
            "task_ids": [self.task_id] if self.task_id else [],
            "request": self.request.to_dict(),
            "request_key": self.request_key,
            "simulated": self.simulated,
            "cached": self.cached,
        }

    def to_manifest(self) -> dict:
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
    def from_manifest(cls, data: dict, folder: Path) -> Run:
        request = ImageRequest.from_dict(data["request"])
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
        run.images = [
            RunImage(
                path=folder / item["path"],
                thumbnail=folder / item["thumbnail"],
                url=item.get("url", ""),
                task_id=item.get("task_id", ""),
                index=item["index"],
                request=request,
                width=item.get("width", 0),
                height=item.get("height", 0),
            )
            for item in data.get("images", [])
        ]
        return run

    def __repr__(self) -> str:
        cached = ", cached" if self.cached else ""
        return (
            f"<Run {self.run_id} {self.status}{cached}: {len(self.images)} image(s), "
            f"{self.request.summary()}, prompt {self.request.prompt[:40]!r}>"
        )

    def _repr_html_(self) -> str:
        from ._display import run_html

        return run_html(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        """HTML grid (text listing in a terminal) with provenance in the metadata."""
        from ._display import PROVENANCE_MIME, run_html, run_text

        return (
            {"text/html": run_html(self), "text/plain": run_text(self)},
            {PROVENANCE_MIME: self.provenance()},
        )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
