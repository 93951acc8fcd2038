"""The output folder: runs, thumbnails, the request-key cache and the journal.

Layout::

    banana_outputs/
      journal.jsonl            append-only; every task is recorded before polling starts
      runs/<run_id>/           manifest.json, <run_id>-<i>.png (full size, parameters inside;
                               image-<i>.png in older folders),
                               thumb-<i>.webp (for display)
      cache/<request_key>      the run id holding that request's results

The journal is shared by every kernel writing to the folder: each entry is one line,
written with a single `write` under an exclusive `flock`, so concurrent writers neither
interleave nor lose entries, and a reader skips a torn last line of a killed process.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._defaults import DEFAULT_THUMBNAIL_SIZE
from ._errors import ConfigurationError, ValidationError, redact_values
from ._imaging import THUMBNAIL_SUFFIX, make_thumbnail, save_with_parameters
from ._jsonl import GroupCommitWriter, append_json_line, read_json_lines
from ._request import ImageRequest
from ._run import Run, RunImage, image_file_name
from ._settings import resolve_output_dir
from ._wording import plural

if TYPE_CHECKING:
    from ._index import RunIndex

JOURNAL = "journal.jsonl"
#: run ids as `new_run` makes them; anything else read from the folder is refused
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
#: how many ids a new run may try before giving up
_ID_DRAWS = 100
#: request keys as the engine makes them (simulated ones carry a prefix)
REQUEST_KEY = re.compile(r"^(sim-)?[0-9a-f]{24}$")

log = logging.getLogger("nanobanana_magic")


class _RunIds:
    """Run ids as `new_run` makes them: the date and second, then 3 hex digits counting
    the ids this process made in that second (so id order is creation order within a
    kernel, even for thousands of runs a second) and 3 random ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._second = ""
        self._count = 0

    def next(self) -> str:
        with self._lock:
            second = time.strftime("%Y%m%d-%H%M%S")
            if second != self._second:
                self._second, self._count = second, 0
            count = min(self._count, 0xFFF)
            self._count += 1
        return f"{second}-{count:03x}{secrets.token_hex(2)[:3]}"


_RUN_IDS = _RunIds()


def is_run_id(value: object) -> bool:
    return isinstance(value, str) and RUN_ID.match(value) is not None


class UnreadableRunError(ValidationError):
    """A run's manifest is not valid JSON of the expected shape, or names files outside the
    run's folder (the folder may be shared, synced or edited by hand)."""


#: what reading a record of the folder (JSON we wrote, perhaps edited since) may raise
RECORD_PROBLEMS = (ValueError, TypeError, KeyError, RecursionError)


def unreadable(
    cls: type[ValidationError], what: str, problem: BaseException, fix: str
) -> ValidationError:
    """`cls`, saying that `what` (a record of the folder) is unreadable, why, and `fix`."""
    reason = "not JSON" if isinstance(problem, json.JSONDecodeError) else str(problem)
    return cls(f"{what} is unreadable ({reason[:120]}); {fix}")


class Store:
    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        thumbnail_size: int = DEFAULT_THUMBNAIL_SIZE,
        embed_parameters: bool = True,
    ):
        self.root = Path(resolve_output_dir(root)).expanduser().absolute()
        self._journal_writer: GroupCommitWriter | None = None
        self._index: RunIndex | None = None
        self.thumbnail_size = thumbnail_size
        #: write the request parameters into each PNG (the manifest keeps them regardless)
        self.embed_parameters = embed_parameters
        self._ready = False

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- the folder ---------------------------------------------------------------------------
    def ensure(self) -> Store:
        """Create the folder; refuse, in one sentence, one that cannot be written."""
        if self._ready:
            return self
        if self.root.exists() and not self.root.is_dir():
            raise ConfigurationError(
                f"The output folder {str(self.root)!r} is a file; choose "
                "another folder with --out or NANOBANANA_OUTPUT_DIR."
            )
        try:
            (self.root / "runs").mkdir(parents=True, exist_ok=True)
            (self.root / "cache").mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"The output folder {str(self.root)!r} cannot be created "
                f"({exc.strerror}); choose a writable folder with --out "
                "or NANOBANANA_OUTPUT_DIR."
            ) from None
        if not os.access(self.root, os.W_OK | os.X_OK) or not os.access(
            self.root / "runs", os.W_OK | os.X_OK
        ):
            raise ConfigurationError(
                f"The output folder {str(self.root)!r} is not writable; "
                "choose another with --out or NANOBANANA_OUTPUT_DIR."
            )
        self._ready = True
        return self

    def new_run(
        self,
        request: ImageRequest,
        request_key: str,
        *,
        base_url: str = "",
        simulated: bool = False,
    ) -> Run:
        self.ensure()
        # the folder is made exclusively, so an id made twice (several kernels in one
        # second) is never shared: the later one draws again
        for _attempt in range(_ID_DRAWS):
            run_id = _RUN_IDS.next()
            folder = self.root / "runs" / run_id
            try:
                folder.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(f"no free run id in {self.root / 'runs'}")
        return Run(
            run_id=run_id,
            request=request,
            request_key=request_key,
            created_at=time.time(),
            base_url=base_url,
            simulated=simulated,
            folder=folder,
        )

    # -- the journal ---------------------------------------------------------------------------
    @property
    def journal_path(self) -> Path:
        return self.root / JOURNAL

    def journal(self, event: str, **fields: Any) -> None:
        """Append one entry (JSON line) to the journal, safely across processes."""
        self.ensure()
        entry = {"ts": round(time.time(), 3), "event": event, "pid": os.getpid(), **fields}
        entry = redact_values(entry)  # a key echoed by the server never reaches the disk
        append_json_line(self.journal_path, entry)

    async def ajournal(self, event: str, **fields: Any) -> None:
        """`journal` for coroutines: the entry is on disk when this returns, but the event
        loop does not wait for the disk; entries of many tasks share one write and fsync."""
        self.ensure()
        if self._journal_writer is None:
            self._journal_writer = GroupCommitWriter(self.journal_path)
        entry = {"ts": round(time.time(), 3), "event": event, "pid": os.getpid(), **fields}
        entry = redact_values(entry)  # a key echoed by the server never reaches the disk
        await self._journal_writer.append(entry)

    def read_journal(self) -> list[dict[str, Any]]:
        return read_json_lines(self.journal_path)

    def pending_tasks(self) -> list[dict[str, Any]]:
        """Submitted tasks that were never collected or finally failed (for resume)."""
        return self.journal_tasks()[0]

    def journal_tasks(self) -> tuple[list[dict[str, Any]], int]:
        """(pending tasks, how many `submitted` lines were malformed and skipped).

        A pending entry has a text task id and a text run id (`load_run` then refuses ids
        of another form); any other `submitted` line is skipped.
        """
        # by task, then run: a forged line naming a real task under another run id
        # cannot hide the real entry
        pending: dict[str, dict[str, dict[str, Any]]] = {}
        malformed = 0
        for entry in self.read_journal():
            task_id, run_id = entry.get("task_id"), entry.get("run_id")
            if entry.get("event") == "submitted":
                if isinstance(task_id, str) and task_id and isinstance(run_id, str):
                    pending.setdefault(task_id, {})[run_id] = entry
                else:
                    malformed += 1
            elif entry.get("event") in ("completed", "failed") and isinstance(task_id, str):
                pending.pop(task_id, None)
        return [entry for runs in pending.values() for entry in runs.values()], malformed

    def uploaded_url(self, sha256: str, base_url: str) -> str | None:
        for entry in reversed(self.read_journal()):
            if (
                entry.get("event") == "uploaded"
                and entry.get("sha256") == sha256
                and entry.get("base_url") == base_url
                and isinstance(entry.get("url"), str)
            ):
                return str(entry["url"])
        return None

    # -- runs -----------------------------------------------------------------------------------
    def add_image(
        self, run: Run, index: int, downloaded: Path, url: str, size: tuple[int, int]
    ) -> RunImage:
        """File a downloaded image: a PNG with its parameters inside, and a thumbnail."""
        assert run.folder is not None
        path = run.folder / image_file_name(run.run_id, index)
        thumb = run.folder / f"thumb-{index}{THUMBNAIL_SUFFIX}"
        parameters = {
            "run_id": run.run_id,
            "task_id": run.task_id,
            "index": index,
            "request": run.request.to_dict(),
            "request_key": run.request_key,
            "source_url": url,
            "simulated": run.simulated,
        }
        save_with_parameters(downloaded, path, parameters if self.embed_parameters else None)
        make_thumbnail(path, thumb, self.thumbnail_size)
        downloaded.unlink(missing_ok=True)
        image = RunImage(
            path=path,
            thumbnail=thumb,
            url=url,
            task_id=run.task_id or "",
            index=index,
            request=run.request,
            width=size[0],
            height=size[1],
        )
        # a resumed run downloads again what it had: keep one entry per index
        run.images = [other for other in run.images if other.index != index]
        run.images.append(image)
        run.images.sort(key=lambda item: item.index)
        return image

    def save_run(self, run: Run) -> None:
        self._write_run(*self._run_files(run))

    async def asave_run(self, run: Run) -> None:
        """`save_run` for coroutines: the run is taken as it is now and written by a worker
        thread, so the event loop never waits on the disk."""
        import asyncio

        await asyncio.to_thread(self._write_run, *self._run_files(run))

    def _run_files(self, run: Run) -> tuple[Path, str, str | None]:
        """(manifest path, manifest text, request key to point at the run or None)."""
        assert run.folder is not None
        text = json.dumps(redact_values(run.to_manifest()), indent=2, sort_keys=True)
        return (
            run.folder / "manifest.json",
            text,
            run.request_key if run.ok and run.images else None,
        )

    def _write_run(self, manifest: Path, text: str, cache_key: str | None) -> None:
        self._write_atomic(manifest, text)
        if cache_key is not None:
            self._write_atomic(self.root / "cache" / cache_key, manifest.parent.name)

    def load_run(self, run_id: str) -> Run:
        """The run `run_id` from its manifest. Raises ValidationError for an id of another
        form or an unknown one, and UnreadableRunError for a manifest that is corrupt or
        names files outside its run's folder."""
        if not is_run_id(run_id):
            raise ValidationError(
                f"{str(run_id)[:60]!r} is not a run id of the form this folder uses "
                f"(like 20260101-120000-a1b2c3); `%banana history` lists the runs in "
                f"{str(self.root)!r}."
            )
        folder = self.root / "runs" / run_id
        manifest = folder / "manifest.json"
        try:
            text = manifest.read_text(encoding="utf-8")
        except OSError:
            raise ValidationError(
                f"Unknown run id {run_id!r}; `%banana history` lists the "
                f"runs in {str(self.root)!r}."
            ) from None
        try:
            run = Run.from_manifest(json.loads(text), folder)
            if not REQUEST_KEY.match(run.request_key):
                raise ValueError(f"its request key is {run.request_key[:40]!r}")
        except RECORD_PROBLEMS as exc:
            raise unreadable(
                UnreadableRunError,
                f"The manifest of run {run_id} ({manifest})",
                exc,
                "restore that file or delete the run's folder.",
            ) from None
        return run

    def index(self) -> RunIndex:
        """The folder's SQLite index (derived, rebuilt when deleted): fast history,
        search, cost and gallery queries on big folders. See `_index.RunIndex`."""
        if self._index is None:
            from ._index import index_of

            self._index = index_of(self)
        return self._index

    def resolve_run_id(self, text: str, *, sweeps: bool = False) -> str:
        """A run id from a full id, a unique prefix, `last` or `-N` (N-th most recent).

        With `sweeps`, a sweep id too (`sweep-...`, or a unique part of one), and `last`
        and `-N` count the entries of `%banana history`, where a sweep is one entry (so
        `show last` after a sweep is the sweep). Without, a sweep's id is refused with a
        sentence saying where its runs are."""
        text = text.strip()
        index = self.index()
        if text in ("last", "-1") or (text.startswith("-") and text[1:].isdigit()):
            n = 1 if text == "last" else int(text[1:])
            if sweeps:
                entries = index.entries(limit=1, offset=n - 1) if n >= 1 else []
                found = entries[0][1] if entries else None
            else:
                found = index.nth_latest(n) if n >= 1 else None
            if found is not None:
                return found
        runs = index.resolve(text) if text else []
        swept = [i for i in index.sweep_ids() if text and (i.startswith(text) or i.endswith(text))]
        matches = runs + swept if sweeps else runs
        if text in matches:
            return text
        if len(matches) == 1:
            return matches[0]
        if not matches and len(swept) == 1:
            raise ValidationError(
                f"{swept[0]} is a sweep, not a run; `%banana show {swept[0]}` shows its "
                "grid with the run id of every cell."
            )
        hint = " (it matches several; give more characters)" if len(matches) > 1 else ""
        raise ValidationError(
            f"Unknown run id {text!r}{hint}; `%banana history` lists the "
            f"runs in {str(self.root)!r}."
        )

    def run_ids(self) -> list[str]:
        """Every run id, oldest first (from the index)."""
        if not (self.root / "runs").is_dir():
            return []
        return self.index().run_ids()

    def recent_runs(self, limit: int | None = 20) -> list[Run]:
        """The newest runs first (all when `limit` is None); runs whose manifest is
        unreadable are skipped with a warning naming their files (`warn_unreadable`)."""
        if not (self.root / "runs").is_dir():
            return []
        runs = []
        for run_id in self.index().latest(limit or None):
            try:
                runs.append(self.load_run(run_id))
            except ValidationError:
                continue  # removed or broken meanwhile by another kernel
        self.warn_unreadable()
        return runs

    def folder_cost(self) -> tuple[float, float]:
        """(paid, simulated) cost of the completed runs in the folder (from the index),
        after warning about runs whose manifest is unreadable."""
        if not (self.root / "runs").is_dir():
            return 0.0, 0.0
        totals = self.index().totals()
        self.warn_unreadable()
        return totals

    def warn_unreadable(self) -> None:
        """Log one warning naming every run manifest of the folder that is unreadable, so
        one corrupt manifest does not silently hide a run."""
        unreadable = self.index().unreadable() if (self.root / "runs").is_dir() else []
        sweeps = self.index().unreadable_sweeps() if (self.root / "sweeps").is_dir() else []
        if sweeps:
            from ._sweep_record import record_path

            log.warning(
                "Skipped %s whose record is unreadable: %s; restore or delete them "
                "(their runs are listed on their own).",
                plural(len(sweeps), "sweep"),
                ", ".join(str(record_path(self.root, sweep_id)) for sweep_id in sweeps),
            )
        if unreadable:
            log.warning(
                "Skipped %s whose manifest is unreadable: %s; restore or delete them.",
                plural(len(unreadable), "run"),
                ", ".join(
                    str(self.root / "runs" / run_id / "manifest.json") for run_id in unreadable
                ),
            )

    def cached_run(self, request_key: str) -> Run | None:
        """The stored run for this request key, if all its files are still there."""
        try:
            with open(self.root / "cache" / request_key, encoding="utf-8") as fh:
                run_id = fh.read(64).strip()
            run = self.load_run(run_id)  # refuses anything but a run id of this folder
        except (OSError, ValueError):  # ValidationError is a ValueError
            return None
        if run.request_key != request_key:
            return None
        if (
            run.ok
            and run.images
            and all(i.path.exists() and i.thumbnail.exists() for i in run.images)
        ):
            run.cached, run.spent = True, 0.0
            return run
        return None

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        # one temporary file per process and thread: writers of one file never share it
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            tmp.write_text(text)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
            raise
