"""The simulator's shared state and business rules, independent of HTTP.

One :class:`SimulatorState` is shared by the API server and the files server. Every public
method takes its lock, reads the clock once and brings the task scheduler up to that moment,
so task states are always computed from the clock at the time of a request (no ticker thread).
The HTTP layer (``server.py``) only maps requests to these methods and results to answers.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import images, responses
from .config import FAULT_KNOBS, SimulatorConfig
from .images import Reference
from .ratelimit import SlidingWindowLimiter, Verdict
from .tasks import DONE, Task, TaskError, TaskScheduler, progress_of, status_of
from .uploads import Upload, UploadStore
from .validation import SubmitRequest

URL_LIFETIME = 86_400  # seconds a result URL stays valid unless ``url_ttl`` is set
HEADER_LOG_SIZE = 500
CREDITS_PER_USD = 200
SERVER_NAMES = ("api", "files")

_COUNTERS = (
    "tasks_created",
    "submit_requests",
    "status_requests",
    "downloads",
    "uploads",
    "rate_limit_violations",
)
_ALL_FAULTS = FAULT_KNOBS + ("download_fail_first",)

#: Prompt markers that script a task's fate (see the package docstring).
MARKER_POLICY = "[policy]"
MARKER_FAIL = "[fail]"
MARKER_REFUSE = "[refuse]"


@dataclass(frozen=True)
class ResultFile:
    """What the files server needs to produce one result image (rendered outside the lock)."""

    prompt: str
    size: str
    resolution: str
    index: int
    refs: tuple[Reference, ...]
    kind: str
    huge_bytes: int
    photo_folder: str | None = None


class SimulatorState:
    """Tasks, uploads, money, limits, faults and statistics, behind one re-entrant lock."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._config = config
        self._rng = random.Random(config.seed)
        self._scheduler = TaskScheduler()
        self._tasks: dict[str, Task] = {}
        self._uploads = UploadStore()
        self._limiters = {
            "async_submit": SlidingWindowLimiter(),
            "async_query": SlidingWindowLimiter(),
        }
        self._url_key = secrets.token_bytes(16)
        self._remaining = config.balance  # dollars left; None = unlimited
        self._used = 0.0
        self._fetched: set[tuple[str, int]] = set()  # result files served at least once
        self._next_5xx = 0
        self.files_url = "http://127.0.0.1"  # set by Simulator.start()
        self._reset_stats()

    # ------------------------------------------------------------------ config
    @property
    def config(self) -> SimulatorConfig:
        return self._config

    def configure(self, **knobs: Any) -> SimulatorConfig:
        """Change knobs. Start times up to now are settled under the old ``max_running`` first;
        a new ``seed`` re-seeds the fault generator; a new ``balance`` resets the money left."""
        with self._lock:
            self._scheduler.advance(self._clock(), self._config.max_running)
            config = self._config.replace(**knobs)
            self._config = config
            if "seed" in knobs:
                self._rng = random.Random(config.seed)
            if "balance" in knobs:
                self._remaining = config.balance
            return config

    # ------------------------------------------------------------------ statistics
    def _reset_stats(self) -> None:
        self._counters = dict.fromkeys(_COUNTERS, 0)
        self._faults = dict.fromkeys(_ALL_FAULTS, 0)
        self._headers: dict[str, deque[dict[str, str]]] = {
            name: deque(maxlen=HEADER_LOG_SIZE) for name in SERVER_NAMES
        }
        self._tracked: list[str] = []  # tasks created since the last reset, in order

    def reset_stats(self) -> None:
        """Zero all counters and forget logged headers. Existing tasks keep working but are no
        longer listed in ``stats()["tasks"]``; their poll/download counts restart at 0."""
        with self._lock:
            for task in self._tasks.values():
                task.polls = task.downloads = 0
                task.seen_done_at = None
            self._reset_stats()

    def count(self, counter: str) -> None:
        with self._lock:
            self._counters[counter] += 1

    def record_request(
        self, server: str, method: str, path: str, headers: Iterable[tuple[str, str]]
    ) -> None:
        """Log a request's headers, (name, value) pairs with repeats (lower-case names;
        ``:method``/``:path`` added)."""
        entry: dict[str, str] = {":method": method, ":path": path}
        for name, value in headers:
            name = name.lower()
            entry[name] = f"{entry[name]}, {value}" if name in entry else value
        with self._lock:
            self._headers[server].append(entry)

    def stats(self) -> dict[str, Any]:
        """A JSON-able snapshot; see the package docstring for the keys."""
        with self._lock:
            now = self._advance()
            tasks = {}
            for task_id in self._tracked:
                task = self._tasks[task_id]
                finished = task.finished_at
                tasks[task_id] = {
                    "prompt": task.prompt,
                    "status": self._status_word(task, now),
                    "polls": task.polls,
                    "created_at": task.created_at,
                    "started_at": task.started_at,
                    "finished_at": finished if finished is not None and now >= finished else None,
                    "seen_done_at": task.seen_done_at,
                    "downloads": task.downloads,
                    "n": task.n,
                    "resolution": task.resolution,
                    "size": task.size,
                }
            return {
                **self._counters,
                "faults_injected": dict(self._faults),
                "tasks": tasks,
                "headers": {name: [dict(h) for h in log] for name, log in self._headers.items()},
            }

    # ------------------------------------------------------------------ auth, limits, faults
    def authenticate(self, authorization: str | None) -> str | None:
        """The API key from an ``Authorization: Bearer …`` header, or ``None`` if refused."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        keys = self._config.api_keys
        if keys is None:
            return token if token.startswith("sk-") and len(token) > 3 else None
        return token if token in keys else None

    def check_rate_limit(self, category: str) -> Verdict | None:
        """Count the request against its category's windows.

        A request over the limit is always counted in ``rate_limit_violations``; the
        :class:`Verdict` (admitting or refusing) is returned only when ``rate_limit`` is on
        (else ``None``: go ahead)."""
        with self._lock:
            config = self._config
            limits = config.submit_limits if category == "async_submit" else config.query_limits
            verdict = self._limiters[category].hit(self._clock(), limits)
            if verdict.allowed:
                return verdict if config.rate_limit else None
            self._counters["rate_limit_violations"] += 1
            return verdict if config.rate_limit else None

    def draw_fault(self, name: str) -> bool:
        """Draw the fault ``name`` with its configured probability; count it when it hits."""
        with self._lock:
            probability = getattr(self._config, name)
            if probability <= 0 or self._rng.random() >= probability:
                return False
            self._faults[name] += 1
            return True

    def first_fault(self, names: tuple[str, ...]) -> str | None:
        """The first of ``names`` whose draw hits (later ones are not drawn), or ``None``."""
        for name in names:
            if self.draw_fault(name):
                return name
        return None

    def next_5xx_status(self) -> int:
        """500, 502, 503, 500, … for the ``status_5xx`` fault."""
        with self._lock:
            status = (500, 502, 503)[self._next_5xx % 3]
            self._next_5xx += 1
            return status

    # ------------------------------------------------------------------ money
    def charge(self, request: SubmitRequest) -> responses.Reply | None:
        """Take the price of ``request`` from the balance; a refusal answer if it cannot pay."""
        with self._lock:
            config = self._config
            cost = request.n * config.prices[request.resolution]
            if self._remaining is not None:
                if cost > self._remaining + 1e-9:
                    return responses.insufficient_quota(config.quota_status, cost, self._remaining)
                self._remaining -= cost
            self._used += cost
            return None

    def balance(self) -> dict[str, Any]:
        """The ``GET /v1/balance`` body (contract §6)."""
        with self._lock:
            remaining = self._remaining
            unlimited = remaining is None
            remain = -1 if remaining is None else round(remaining, 6)
            return {
                "success": True,
                "message": "",
                "remain_balance": remain,
                "used_balance": round(self._used, 6),
                "remain_credits": -1
                if remaining is None
                else round(remaining * CREDITS_PER_USD, 4),
                "used_credits": round(self._used * CREDITS_PER_USD, 4),
                "credits_per_usd": CREDITS_PER_USD,
                "unlimited_quota": unlimited,
            }

    # ------------------------------------------------------------------ tasks
    def _advance(self) -> float:
        now = self._clock()
        self._scheduler.advance(now, self._config.max_running)
        return now

    def create_task(self, owner: str, request: SubmitRequest) -> Task:
        """Create a task; its duration and fate are decided now (jitter, markers, ``task_fail``)."""
        with self._lock:
            config = self._config
            now = self._clock()
            run_time = config.duration
            if config.duration_jitter > 0:
                run_time *= 1 + self._rng.uniform(-config.duration_jitter, config.duration_jitter)
            if MARKER_REFUSE in request.prompt:
                error = TaskError(
                    "content_policy_violation",
                    "The generated image was refused by the content policy (simulated).",
                )
            elif MARKER_FAIL in request.prompt or self.draw_fault("task_fail"):
                error = TaskError(
                    "generation_failed", "upstream call failed: status 422 (simulated)"
                )
            else:
                error = None
            task_id = "task_img_" + secrets.token_hex(6)
            while task_id in self._tasks:
                task_id = "task_img_" + secrets.token_hex(6)
            task = Task(
                id=task_id,
                owner=owner,
                model=request.model,
                prompt=request.prompt,
                size=request.size,
                n=request.n,
                resolution=request.resolution,
                references=request.references,
                created_at=now,
                ready_at=now + config.queue_delay,
                run_time=max(0.0, run_time),
                error=error,
            )
            self._tasks[task_id] = task
            self._scheduler.add(task)
            self._scheduler.advance(now, config.max_running)
            self._counters["tasks_created"] += 1
            self._tracked.append(task_id)
            return task

    def submit_body(self, task: Task) -> dict[str, Any]:
        """The answer to a successful submit."""
        return {
            "id": task.id,
            "object": "generation.task",
            "model": task.model,
            "status": self._config.initial_status,
            "progress": 0,
            "created_at": int(task.created_at),
            "metadata": {},
        }

    def poll_task(self, task_id: str, owner: str) -> dict[str, Any] | None:
        """The task object for a status query (counts a poll), or ``None`` if not visible to
        ``owner``. Completed tasks get freshly signed result URLs on every poll."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.owner != owner:
                return None
            now = self._advance()
            task.polls += 1
            if task.seen_done_at is None and task.phase(now) == DONE:
                task.seen_done_at = now
            return self._task_object(task, now)

    def _status_word(self, task: Task, now: float) -> str:
        """The status name a client is shown for `task` now, in the configured wording."""
        config = self._config
        return status_of(
            task,
            now,
            initial_status=config.initial_status,
            running_status=config.unknown_status or "in_progress",
        )

    def _task_object(self, task: Task, now: float) -> dict[str, Any]:
        config = self._config
        body: dict[str, Any] = {
            "id": task.id,
            "object": "generation.task",
            "model": task.model,
            "status": self._status_word(task, now),
            "progress": progress_of(task, now, config.progress_mode),
            "created_at": int(task.created_at),
        }
        if task.phase(now) != DONE:
            return body
        if task.error is not None:
            body["error"] = {"code": task.error.code, "message": task.error.message}
            return body
        lifetime = config.url_ttl if config.url_ttl is not None else URL_LIFETIME
        finished = task.finished_at
        assert finished is not None  # a task that is done has finished
        urls = [self._result_url(task, index, now + lifetime) for index in range(task.n)]
        body["completed_at"] = int(finished)
        body["expires_at"] = int(finished + lifetime)
        body.update(result_fields(config.result_field, urls))
        if config.top_level_url and config.result_field != "url_list":
            body["url"] = urls[0]
        return body

    # ------------------------------------------------------------------ result files
    def _signature(self, stem: str, exp: str) -> str:
        return hmac.new(self._url_key, f"{stem}|{exp}".encode(), hashlib.sha256).hexdigest()[:32]

    def _result_url(self, task: Task, index: int, expires: float) -> str:
        stem = f"{task.id}_{index}"
        ext = "jpg" if self._config.result_kind == "jpeg" else "png"
        exp = f"{expires:.3f}"
        return f"{self.files_url}/generated/{stem}.{ext}?exp={exp}&sig={self._signature(stem, exp)}"

    def open_result(
        self, filename: str, exp: str | None, sig: str | None
    ) -> ResultFile | responses.Reply:
        """Check a result-file request; return what to serve or the error answer.

        Order: unknown file → 404; bad signature → 403; past ``exp`` → 404 "File expired";
        ``download_fail_first`` and never served before → 500; else the file."""
        stem = filename.rsplit(".", 1)[0]
        task_id, _, index_text = stem.rpartition("_")
        with self._lock:
            now = self._advance()
            task = self._tasks.get(task_id)
            if task is None or not index_text.isdigit():
                return responses.file_not_found()
            task.downloads += 1
            index = int(index_text)
            if (
                exp is None
                or sig is None
                or not hmac.compare_digest(self._signature(stem, exp), sig)
            ):
                return responses.bad_signature()
            try:
                expired = now > float(exp)
            except ValueError:
                return responses.bad_signature()
            if expired:
                return responses.file_expired()
            if task.phase(now) != DONE or task.error is not None or index >= task.n:
                return responses.file_not_found()
            config = self._config
            first_time = (task_id, index) not in self._fetched
            self._fetched.add((task_id, index))
            if config.download_fail_first and first_time:
                self._faults["download_fail_first"] += 1
                return responses.server_error(500)
            return ResultFile(
                task.prompt,
                config.deliver_size or task.size,
                config.deliver_resolution or task.resolution,
                index,
                self._reference_sources(task),
                config.result_kind,
                config.huge_bytes,
                config.photo_folder,
            )

    def prerender(self, task: Task) -> None:
        """Start drawing the images of a task that will complete, so they are ready then."""
        kind = self._config.result_kind
        if task.error is not None or kind not in ("png", "jpeg"):
            return
        refs = self._reference_sources(task)
        for index in range(task.n):
            images.prerender(
                task.prompt,
                self._config.deliver_size or task.size,
                self._config.deliver_resolution or task.resolution,
                index,
                refs,
                fmt="jpeg" if kind == "jpeg" else "png",
                photo_folder=self._config.photo_folder,
            )

    def _reference_sources(self, task: Task) -> tuple[Reference, ...]:
        """Bytes of references that are this simulator's uploads; the URL for the others."""
        prefix = f"{self.files_url}/uploads/"
        sources: list[Reference] = []
        for url in task.references:
            upload = None
            if url.startswith(prefix):
                upload = self._uploads.get(url[len(prefix) :].split("?", 1)[0])
            sources.append(upload.data if upload is not None else url)
        return tuple(sources)

    # ------------------------------------------------------------------ uploads
    def add_upload(self, data: bytes, mime_type: str, ext: str) -> tuple[Upload, str]:
        """Store an upload; returns it and its public URL on the files server."""
        upload = self._uploads.add(data, mime_type, ext)
        return upload, f"{self.files_url}/uploads/{upload.filename}"

    def get_upload(self, filename: str) -> Upload | None:
        return self._uploads.get(filename)


def result_fields(where: str, urls: list[str]) -> dict[str, Any]:
    """The fields of a completed task that carry its image URLs (knob ``result_field``)."""
    items = [{"url": url} for url in urls]
    if where == "result.data":
        return {"result": {"type": "image", "data": items}}
    if where == "result.images":
        return {"result": {"type": "image", "images": list(urls)}}
    if where == "data":
        return {"data": items}
    if where == "output":
        return {"output": {"images": items}}
    if where == "url_list":
        return {"url": list(urls)}
    if where == "ambiguous":  # two lists that disagree: no client can tell which is right
        return {"data": items, "output": [url + "&v=2" for url in urls]}
    return {"result": {"type": "image"}}  # "nowhere"
