"""The one asyncio engine behind every front end.

`Engine.run(requests)` takes validated requests through
cache → upload → submit → journal → poll → download → store, many at once under a
concurrency bound that shrinks on rate limits and grows back, and tells listeners what
happens (`Event`s: cached, submitted, progress, completed, failed, cancelled).
`Engine.resume()` collects tasks the journal says were submitted but never collected.

It is the only place that orchestrates those steps; the magics, the panel, sweeps and the
Python API all call it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import errno
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlparse

from . import _errors as errors
from . import _gateway as gateway
from ._answers import JSONObject, TaskState, describe_result_fields, result_urls, task_state
from ._client import ToAPIsClient
from ._defaults import (
    DEFAULT_CONCURRENCY,
    DEFAULT_DOWNLOAD_RETRIES,
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_TASK_TIMEOUT,
)
from ._durations import load_prior
from ._limits import check_prices, check_setting
from ._polling import DurationPrior
from ._pricing import price_per_image
from ._progress import DOWNLOADING  # a progress event's status while images download
from ._ratelimit import LimiterRegistry
from ._references import ReferenceResolver
from ._request import ImageRequest
from ._run import Run
from ._settings import Secret, is_loopback, resolve_base_url
from ._store import Store
from ._wording import plural

log = logging.getLogger("nanobanana_magic")

_URL_REFRESHES = 2
_SLOWDOWN_DEBOUNCE = 1.0  # seconds during which further 429s do not lower concurrency again
# what this process knows about running times, per (output folder, API, model, resolution):
# read from the folder on first use, shared by every task of that kind so siblings inform
# each other, and appended to the folder as tasks finish (see _durations.py)
_DURATIONS: dict[tuple[str, str, str, str], DurationPrior] = {}


@dataclasses.dataclass
class Event:
    """Something happened to job `index` of a batch.

    `kind` says what (cached, submitted, progress, completed, failed, cancelled); `state`
    is where the task is, in the client's words (`_answers.TASK_STATES`: queued, running,
    completed, failed; None when unknown: not sent, or polling stopped); `status` is the
    server's own word for it, kept only to be shown; `progress` is 0-100 when known.
    """

    kind: str
    index: int
    run: Run | None
    request: ImageRequest
    status: str | None = None
    progress: int | None = None
    state: str | None = None
    error: BaseException | None = None
    #: the poller's prediction of when the task finishes, in seconds from `at` (or None)
    seconds_left: float | None = None
    at: float = dataclasses.field(default_factory=time.time)


Listener = Callable[[Event], None]
#: runs to collect again, each with the (task id, image) parts of a fanned-out run
Resumable = list[tuple[Run, list[tuple[str, int]]]]


class _AdaptiveGate:
    """A concurrency bound that halves on a rate limit and grows back on success.

    Waiters queue in order and a freed slot is handed to the first of them, so a batch of
    thousands costs one wake-up per slot, not one per waiter (a condition notifying all
    would wake every waiting job each time one finishes)."""

    def __init__(self, limit: int):
        self.maximum = max(1, int(limit))
        self.limit = self.maximum
        self.active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._successes = 0
        self._last_slowdown = float("-inf")

    async def __aenter__(self) -> None:
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return
        slot = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        try:
            await slot  # done: the slot is ours (counted in `active` by whoever handed it)
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():
                self._release()  # handed over as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(slot)
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        self.active -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        """Give free slots to the first waiters."""
        while self._waiters and self.active < self.limit:
            slot = self._waiters.popleft()
            if not slot.done():
                slot.set_result(None)
                self.active += 1

    def slow_down(self) -> None:
        """Halve the bound, once per burst: 429s answered together count as one."""
        now = time.monotonic()
        if now - self._last_slowdown < _SLOWDOWN_DEBOUNCE:
            return
        self._last_slowdown = now
        self.limit = max(1, self.limit // 2)
        self._successes = 0

    async def succeeded(self) -> None:
        self._successes += 1
        if self.limit < self.maximum and self._successes >= self.limit:
            self.limit += 1
            self._successes = 0
            self._hand_over()


class Engine:
    """Runs generation requests against one API with one output folder."""

    def __init__(
        self,
        *,
        store: Store | None = None,
        api_key: str | Secret | None = None,
        base_url: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        task_timeout: float = DEFAULT_TASK_TIMEOUT,
        prices: dict[str, float] | None = None,
        simulated: bool | None = None,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        client_options: dict[str, Any] | None = None,
        limiters: LimiterRegistry | None = None,
        fanout: str = "auto",
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        download_retries: int = DEFAULT_DOWNLOAD_RETRIES,
    ):
        # the same ranges as the magic's settings, refused before anything is sent
        check_setting("concurrency", concurrency)
        check_setting("task_timeout", task_timeout)
        check_setting("max_poll_interval", max_poll_interval)
        check_setting("download_timeout", download_timeout)
        check_setting("download_retries", download_retries)
        self.store = store or Store()
        self.base_url = resolve_base_url(base_url)
        self._api_key = api_key
        self.concurrency = concurrency
        self.task_timeout = task_timeout
        self.prices = check_prices(prices)
        # any loopback API is the simulator or a test server: its images are labelled
        self.simulated = (
            is_loopback(urlparse(self.base_url).hostname) if simulated is None else simulated
        )
        self.max_poll_interval = max_poll_interval
        self.client_options = {
            "download_timeout": download_timeout,
            "download_retries": download_retries,
            **(client_options or {}),
        }
        #: the rate limiters every client of this engine draws from; a front end that
        #: makes many engines (the magic, the panel) passes its own, shared by them all
        self.limiters = LimiterRegistry() if limiters is None else limiters
        #: a request of n images as n tasks of one: "auto" (once the gateway refused
        #: n > 1, remembered in the output folder), "always" or "never"
        self.fanout = gateway.check_fanout(fanout)
        self.retries = 0

    def __repr__(self) -> str:
        return f"Engine(base_url={self.base_url!r}, store={self.store!r})"

    def cache_key(self, request: ImageRequest) -> str:
        """The request key, kept apart for simulated backends so that simulated and real
        images are never mixed up."""
        return ("sim-" if self.simulated else "") + request.key()

    def preview_payload(self, request: ImageRequest) -> JSONObject:
        """The body a dry run shows: a local reference appears as the URL it was uploaded
        to before (from the journal), or as a placeholder for the upload still to do."""
        return ReferenceResolver(self.store, self.base_url).preview_payload(request)

    def _client(self) -> ToAPIsClient:
        return ToAPIsClient(
            api_key=self._api_key,
            base_url=self.base_url,
            limiters=self.limiters,
            **self.client_options,
        )

    # -- public ---------------------------------------------------------------------------------
    async def run(
        self,
        requests: Sequence[ImageRequest],
        *,
        listener: Listener | None = None,
        cache: bool = True,
    ) -> list[Run]:
        """Generate every request; return one Run per request, in order.

        A failure of one request is reported in its Run (status failed) and by a
        `failed` event; it does not stop the others. Cancelling the coroutine cancels
        polling; submitted tasks stay in the journal for `resume()`.
        """
        requests = list(requests)
        for request in requests:
            request.validate()
        self.store.ensure()
        results: list[Run | None] = [None] * len(requests)
        misses = []
        for index, request in enumerate(requests):
            hit = self.store.cached_run(self.cache_key(request)) if cache else None
            if hit is not None:
                results[index] = hit
                await self.store.ajournal(
                    "cache_hit", run_id=hit.run_id, request_key=hit.request_key
                )
                self._emit(
                    listener,
                    Event("cached", index, hit, request, status="completed", state="completed"),
                )
            else:
                misses.append(index)
        if misses:
            self._start_batch([requests[index] for index in misses])
            client = self._client()  # raises before anything is sent when the key is missing
            async with client:
                gate = _AdaptiveGate(self.concurrency)
                client.on_rate_limited = gate.slow_down
                references = ReferenceResolver(self.store, self.base_url)
                # a task an interrupted call submitted for the same request is collected,
                # not paid again (--no-cache and --variant make new tasks on purpose)
                adoptable = self.adoptable_tasks() if cache else {}
                jobs = [
                    asyncio.ensure_future(
                        self._generate(
                            client,
                            gate,
                            index,
                            requests[index],
                            listener,
                            references,
                            adoptable.pop(self.cache_key(requests[index]), None),
                        )
                    )
                    for index in misses
                ]
                try:
                    for index, run in zip(misses, await asyncio.gather(*jobs)):
                        results[index] = run
                finally:
                    for job in jobs:
                        job.cancel()
                    # let cancelled jobs record their state while the client is still open
                    await asyncio.gather(*jobs, return_exceptions=True)
                    self.retries += client.retries
        return [run for run in results if run is not None]

    def pending_tasks(self) -> list[JSONObject]:
        """Journal entries of tasks sent to this engine's API and never collected (tasks
        of other backends, e.g. an earlier simulator, are left for those)."""
        return self._pending_tasks()[0]

    def adoptable_tasks(self) -> dict[str, JSONObject]:
        """Pending tasks of this API by request key (the latest per key): what a new call
        for the same request adopts instead of submitting again."""
        return {
            entry["request_key"]: entry
            for entry in self.pending_tasks()
            if isinstance(entry.get("request_key"), str)
        }

    def _pending_tasks(self) -> tuple[list[JSONObject], int]:
        entries, malformed = self.store.journal_tasks()
        mine = [entry for entry in entries if entry.get("base_url") in (None, self.base_url)]
        return mine, malformed

    def resumable(self) -> Resumable:
        """What `resume` would collect, in its order: each run (from its stored manifest,
        so a view can name its prompt and parameters) with the (task id, image) parts of a
        fanned-out run (empty for one task).

        A malformed journal line, or one whose run cannot be loaded (an unreadable or
        tampered manifest), is skipped and counted in one warning.
        """
        entries, skipped = self._pending_tasks()
        runs: Resumable = []
        by_run: dict[str, list[JSONObject]] = {}  # the parts of a fanned-out run go together
        for entry in entries:
            by_run.setdefault(entry["run_id"], []).append(entry)
        for run_id, group in by_run.items():
            try:
                run = self.store.load_run(run_id)
            except errors.ValidationError:
                skipped += len(group)
                continue
            parts = [
                (entry["task_id"], entry["part"])
                for entry in group
                if type(entry.get("part")) is int and 0 <= entry["part"] < run.request.n
            ]
            run.task_id = (run.task_id if parts else None) or group[0]["task_id"]
            runs.append((run, parts))
        if skipped:
            log.warning(
                "Resume skipped %s of %s: malformed lines, or runs it cannot read.",
                plural(skipped, "journal entry", "journal entries"),
                self.store.journal_path,
            )
        return runs

    async def resume(
        self,
        *,
        listener: Listener | None = None,
        tasks: Resumable | None = None,
    ) -> list[Run]:
        """Collect every task the journal shows as submitted but never collected (`tasks`:
        what `resumable()` returned, so the events' indexes match a view's rows).

        Each task's errors stay its own, so one poisoned task never blocks the others.
        """
        runs = self.resumable() if tasks is None else tasks
        if not runs:
            return []
        async with self._client() as client:
            gate = _AdaptiveGate(self.concurrency)
            submitted = client.now()

            async def collect(index: int, run: Run, parts: list[tuple[str, int]]) -> Run:
                async with gate:
                    try:
                        if parts:
                            return await self._collect_parts(
                                client, index, run, parts, submitted, listener
                            )
                        return await self._collect(client, index, run, submitted, listener)
                    except (asyncio.CancelledError, KeyboardInterrupt):
                        raise
                    except Exception as exc:  # a bug with one task must not lose the others
                        log.exception("collecting task %s failed", run.task_id)
                        return self._fail(run, index, exc, listener)

            return list(await asyncio.gather(*(collect(i, r, p) for i, (r, p) in enumerate(runs))))

    # -- one job ----------------------------------------------------------------------------------
    async def _generate(
        self,
        client: ToAPIsClient,
        gate: _AdaptiveGate,
        index: int,
        request: ImageRequest,
        listener: Listener | None,
        references: ReferenceResolver,
        pending: JSONObject | None = None,
    ) -> Run:
        run = None
        try:
            async with gate:
                if pending is not None:
                    run = self._adopt(pending, index, request, listener)
                if run is not None:
                    submitted_at = client.now()
                else:
                    run = await self._new_run(request)
                    payload = await self._prepare(client, run, references)
                    if self._fans_out(request):
                        return await self._fan_out(client, gate, index, run, payload, listener)
                    try:
                        submitted_at, answer = await self._submit(client, run, payload)
                    except errors.APIError as exc:
                        if not self._learn_fanout(exc, request):
                            raise gateway.with_model_hint(exc, request.model) from None
                        return await self._fan_out(client, gate, index, run, payload, listener)
                    self._emit(
                        listener,
                        Event(
                            "submitted",
                            index,
                            run,
                            request,
                            status=answer.word,
                            progress=answer.progress,
                            state=answer.state,
                        ),
                    )
                run = await self._collect(client, index, run, submitted_at, listener)
                if run.ok:
                    await gate.succeeded()
                return run
        except asyncio.CancelledError:
            if run is not None:
                run.status = "cancelled"
                self._save_quietly(run)
                self._emit(listener, Event("cancelled", index, run, request))
            raise
        except errors.BananaError as exc:
            if run is None:
                raise
            event = (
                "submit_uncertain"
                if isinstance(exc, errors.SubmitUncertainError)
                else "submit_failed"
            )
            if run.task_id is None:
                self._journal_quietly(
                    event, run_id=run.run_id, error=str(exc), error_type=type(exc).__name__
                )
            return self._fail(run, index, exc, listener)

    def _adopt(
        self, pending: JSONObject, index: int, request: ImageRequest, listener: Listener | None
    ) -> Run | None:
        """The run of a pending task submitted for this request, ready to be collected
        again (None when its run cannot be loaded: then a new task is made)."""
        try:
            run = self.store.load_run(pending["run_id"])
        except errors.ValidationError:
            return None
        run.task_id, run.status, run.adopted = pending["task_id"], "pending", True
        run.error = run.error_type = None
        self._journal_quietly(
            "adopted", run_id=run.run_id, task_id=run.task_id, request_key=run.request_key
        )
        log.info("collecting task %s, submitted earlier for this request", run.task_id)
        self._emit(listener, Event("submitted", index, run, request, status="adopted"))
        return run

    async def _new_run(self, request: ImageRequest) -> Run:
        """A new run with its manifest on disk before anything is sent, so that a task
        submitted for it can always be resumed (raises StorageError: nothing sent). The
        folder is made by a worker thread; a run made for a call cancelled meanwhile is
        marked cancelled, as any run of a cancelled call is."""
        job = asyncio.ensure_future(asyncio.to_thread(self._create_run, request))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            job.add_done_callback(self._cancel_orphan)
            raise
        except OSError as exc:
            raise _storage_error(exc, None) from None

    def _create_run(self, request: ImageRequest) -> Run:
        run = self.store.new_run(
            request, self.cache_key(request), base_url=self.base_url, simulated=self.simulated
        )
        self.store.save_run(run)
        return run

    def _cancel_orphan(self, job: asyncio.Future[Run]) -> None:
        if not job.cancelled() and job.exception() is None:
            run = job.result()
            run.status = "cancelled"
            self._save_quietly(run)

    async def _prepare(
        self, client: ToAPIsClient, run: Run, references: ReferenceResolver
    ) -> JSONObject:
        """Upload the references and journal the attempt; returns the payload to submit."""
        request = run.request
        urls = [await references.url(ref, client.upload) for ref in request.reference_images]
        payload = request.to_payload(urls)
        try:
            await self.store.ajournal(
                "submit_attempt", run_id=run.run_id, request_key=run.request_key, payload=payload
            )
        except OSError as exc:
            raise _storage_error(exc, None) from None
        return payload

    async def _submit(
        self, client: ToAPIsClient, run: Run, payload: JSONObject
    ) -> tuple[float, TaskState]:
        """Submit the task and record it; returns when it was submitted and the state the
        server gave it.

        The `submitted` journal line (task id, request key, base URL) is written first,
        before anything else can fail: from then on the paid task is resumable, and any
        error while recording it is one StorageError sentence."""
        task = await client.submit(payload)
        # timed after the answer: waits for the shared submit limiter and retries
        # before it would otherwise make the task look older than it is
        submitted_at = client.now()
        run.task_id = task["id"]
        try:
            await self.store.ajournal(
                "submitted",
                run_id=run.run_id,
                task_id=run.task_id,
                request_key=run.request_key,
                base_url=self.base_url,
            )
            await self.store.asave_run(run)  # status pending, with its task id
        except (OSError, TypeError, ValueError) as exc:
            raise _storage_error(exc, run.task_id) from None
        return submitted_at, task_state(task)

    async def _collect(
        self,
        client: ToAPIsClient,
        index: int,
        run: Run,
        submitted_at: float,
        listener: Listener | None,
    ) -> Run:
        """Poll a submitted task, download and file its images, finish the run."""
        request = run.request
        task_id = run.task_id
        assert task_id is not None

        def on_update(task: JSONObject, seconds_left: float | None) -> None:
            answer = task_state(task)
            self._progress(listener, index, run, answer, answer.progress, seconds_left)

        try:
            task = await self._wait(client, task_id, submitted_at, on_update, request)
            self._emit(
                listener,
                Event("progress", index, run, request, status=DOWNLOADING, state="completed"),
            )
            await self._download_all(client, run, task)
        except asyncio.CancelledError:
            raise
        except errors.BananaError as exc:
            # only the server's word that the task failed is final; a refused or garbled
            # status query (401 after a key rotation, 404 for another key) says nothing
            # about a task that is paid and may be done, so it stays resumable
            await self._journal_if_final(run, task_id, exc)
            return self._fail(run, index, exc, listener)
        self._mark_completed(run)
        run.cost = run.spent = len(run.images) * price_per_image(request.resolution, self.prices)
        try:
            await self.store.asave_run(run)  # before the journal says it was collected
            await self.store.ajournal(
                "completed",
                run_id=run.run_id,
                task_id=task_id,
                images=[image.path.name for image in run.images],
                cost=run.cost,
            )
        except (OSError, TypeError, ValueError) as exc:  # the task stays resumable
            return self._fail(run, index, _storage_error(exc, task_id), listener)
        return self._completed(run, index, listener)

    # -- fan-out: n tasks of one image, when the gateway fixes n at 1 ------------------------------
    def _fans_out(self, request: ImageRequest) -> bool:
        if request.n <= 1 or self.fanout == "never":
            return False
        return self.fanout == "always" or gateway.GatewayFacts(self.store.root).refuses_n(
            self.base_url, request.model
        )

    def _learn_fanout(self, exc: errors.APIError, request: ImageRequest) -> bool:
        """After a refusal: whether it says n > 1 is not allowed here (then remembered)."""
        if self.fanout != "auto" or not gateway.refuses_n(exc, request.n):
            return False
        gateway.GatewayFacts(self.store.root).remember_refuses_n(
            self.base_url, request.model, str(exc)
        )
        log.info("%s refuses n > 1 for %s: fanning out", self.base_url, request.model)
        return True

    async def _fan_out(
        self,
        client: ToAPIsClient,
        gate: _AdaptiveGate,
        index: int,
        run: Run,
        payload: JSONObject,
        listener: Listener | None,
    ) -> Run:
        """Submit the request as n tasks of one image each, into the same run."""
        request = run.request
        parts: list[tuple[str, int]] = []
        refused: errors.BananaError | None = None
        for part in range(request.n):
            try:
                task = await client.submit({**payload, "n": 1})
            except errors.APIError as exc:
                if not parts:
                    raise gateway.with_model_hint(exc, request.model) from None
                refused = exc  # collect what was submitted; the run then fails with this
                break
            parts.append((task["id"], part))
            # the journal line first: it is written even if this call is cancelled now
            await self.store.ajournal(
                "submitted",
                run_id=run.run_id,
                task_id=task["id"],
                request_key=run.request_key,
                base_url=self.base_url,
                part=part,
                parts=request.n,
            )
            if run.task_id is None:
                run.task_id = task["id"]
                await self.store.asave_run(run)  # status pending, with its first task id
        if parts:  # one event for the run, once every part is resumable
            self._emit(
                listener,
                Event("submitted", index, run, request, status="queued", state="queued"),
            )
        run = await self._collect_parts(client, index, run, parts, client.now(), listener)
        if refused is not None and run.ok:
            return self._fail(run, index, refused, listener)
        if run.ok:
            await gate.succeeded()
        return run

    async def _collect_parts(
        self,
        client: ToAPIsClient,
        index: int,
        run: Run,
        parts: list[tuple[str, int]],
        submitted_at: float,
        listener: Listener | None,
    ) -> Run:
        """Poll the one-image tasks of a fanned-out run at once, file each image at its
        place; the run completes when every part did (the images of the others are kept)."""
        request = run.request
        progress = dict.fromkeys((task_id for task_id, _ in parts), 0)
        # each part's predicted end (wall clock); the run's is the latest, once all are known
        ends: dict[str, float | None] = dict.fromkeys(progress)

        async def collect(task_id: str, part: int) -> errors.BananaError | None:
            def on_update(task: JSONObject, seconds_left: float | None) -> None:
                answer = task_state(task)
                progress[task_id] = answer.progress or 0
                overall = sum(progress.values()) // len(progress)
                now = time.time()
                ends[task_id] = None if seconds_left is None else now + seconds_left
                known = [end for end in ends.values() if end is not None]
                left = max(known) - now if len(known) == len(ends) else None
                self._progress(listener, index, run, answer, overall, left)

            try:
                task = await self._wait(client, task_id, submitted_at, on_update, request)
                await self._download_all(client, run, task, task_id=task_id, part=part)
            except errors.BananaError as exc:
                await self._journal_if_final(run, task_id, exc)
                return exc
            progress[task_id] = 100
            ends[task_id] = time.time()  # this part has nothing left to wait for
            run.images.sort(key=lambda image: image.index)
            await self.store.asave_run(run)
            await self.store.ajournal(
                "completed",
                run_id=run.run_id,
                task_id=task_id,
                images=[image.path.name for image in run.images if image.index == part],
                cost=price_per_image(request.resolution, self.prices),
            )
            return None

        outcomes = await asyncio.gather(*(collect(task_id, part) for task_id, part in parts))
        run.cost = run.spent = len(run.images) * price_per_image(request.resolution, self.prices)
        problems = [outcome for outcome in outcomes if outcome is not None]
        if problems:
            return self._fail(run, index, problems[0], listener)
        self._mark_completed(run)
        await self.store.asave_run(run)  # after every part's own save: this one is last
        return self._completed(run, index, listener)

    async def _wait(
        self,
        client: ToAPIsClient,
        task_id: str,
        submitted_at: float,
        on_update: Callable[[JSONObject, float | None], None],
        request: ImageRequest,
    ) -> JSONObject:
        """Poll one task until it is final (the completed task object, or raise); tasks of
        one kind share what they learn about running times (`_prior`)."""
        return await client.wait(
            task_id,
            submitted_at=submitted_at,
            timeout=self.task_timeout,
            on_update=on_update,
            max_interval=self.max_poll_interval,
            prior=self._prior(request),
        )

    async def _download_all(
        self,
        client: ToAPIsClient,
        run: Run,
        task: JSONObject,
        *,
        task_id: str | None = None,
        part: int | None = None,
    ) -> None:
        """Download a completed task's images (at most the n asked for) into the run, all
        at once, and file them; a `part` of a fanned-out run brings one image, filed as
        image `part` of the run."""
        task_id = task_id or run.task_id
        assert run.folder is not None and task_id is not None
        urls = result_urls(task)
        if not urls:
            raise errors.ResponseFormatError(
                f"Task {task_id} completed without image URLs that could be found "
                f"unambiguously ({describe_result_fields(task)})"
            )
        wanted = run.request.n if part is None else 1
        if len(urls) > wanted:
            log.warning(
                "Task %s answered %d result URLs for n=%d; downloading %d, ignoring the rest.",
                task_id,
                len(urls),
                wanted,
                wanted,
            )
            urls = urls[:wanted]
        fresh = _FreshURLs(urls, wanted)
        jobs = [
            asyncio.ensure_future(
                self._download_one(
                    client, run, task_id, offset, offset if part is None else part, fresh
                )
            )
            for offset in range(len(urls))
        ]
        try:
            await asyncio.gather(*jobs)
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            for leftover in run.folder.glob("download-*"):
                leftover.unlink(missing_ok=True)

    async def _download_one(
        self,
        client: ToAPIsClient,
        run: Run,
        task_id: str,
        offset: int,
        index: int,
        fresh: _FreshURLs,
    ) -> None:
        """Download result `offset` of task `task_id` and file it as image `index`."""
        assert run.folder is not None
        partial = run.folder / f"download-{index}"
        renewed = 0  # polls this download made; URLs a sibling renewed come free
        for _attempt in range((_URL_REFRESHES + 1) * len(fresh.urls)):
            generation, urls = fresh.generation, fresh.urls
            try:
                size = await client.download(urls[offset], partial)
                break
            except errors.ExpiredURLError:
                if renewed == _URL_REFRESHES:
                    raise errors.DownloadError(
                        f"The result URLs of task {task_id} have expired"
                    ) from None
                if await fresh.renew(generation, lambda: client.get_task(task_id)):
                    renewed += 1
        else:
            raise errors.DownloadError(f"The result URLs of task {task_id} have expired")
        try:
            async with fresh.filing:  # one image of a task at a time: filing is CPU work
                await asyncio.to_thread(
                    self.store.add_image, run, index, partial, urls[offset], size[1:]
                )
        except OSError as exc:
            if exc.errno is None:  # Pillow's "image file is truncated": a bad download
                raise errors.DownloadError(
                    f"Image {index} of task {task_id} could not be stored ({exc})"
                ) from None
            raise _storage_error(exc, task_id) from None  # disk full: stays resumable
        except ValueError as exc:  # not an image
            raise errors.DownloadError(
                f"Image {index} of task {task_id} could not be stored ({exc})"
            ) from None

    # -- helpers -----------------------------------------------------------------------------------
    def _progress(
        self,
        listener: Listener | None,
        index: int,
        run: Run,
        answer: TaskState,
        progress: int | None,
        seconds_left: float | None = None,
    ) -> None:
        """Announce what the gateway last said about a run's task (or its tasks)."""
        self._emit(
            listener,
            Event(
                "progress",
                index,
                run,
                run.request,
                status=answer.word,
                progress=progress,
                state=answer.state,
                seconds_left=seconds_left,
            ),
        )

    @staticmethod
    def _mark_completed(run: Run) -> None:
        run.status = "completed"
        run.elapsed = round(time.time() - run.created_at, 2)

    def _completed(self, run: Run, index: int, listener: Listener | None) -> Run:
        """Announce a run whose images are all filed and whose record is saved."""
        self._emit(
            listener,
            Event(
                "completed",
                index,
                run,
                run.request,
                status="completed",
                progress=100,
                state="completed",
            ),
        )
        return run

    async def _journal_if_final(self, run: Run, task_id: str, exc: errors.BananaError) -> None:
        """Journal a task the server says failed: it is over and will never be collected.
        Any other error (a refused or garbled status query, a lost download) leaves the
        paid task resumable."""
        if isinstance(exc, errors.TaskFailedError):
            await self.store.ajournal(
                "failed",
                run_id=run.run_id,
                task_id=task_id,
                error=str(exc),
                error_type=type(exc).__name__,
            )

    def _fail(self, run: Run, index: int, exc: BaseException, listener: Listener | None) -> Run:
        run.status = "failed"
        run.exception = exc
        run.error = str(exc)
        run.error_type = type(exc).__name__
        run.elapsed = round(time.time() - run.created_at, 2)
        self._save_quietly(run)
        self._emit(listener, Event("failed", index, run, run.request, error=exc, state="failed"))
        return run

    def _journal_quietly(self, event: str, **fields: Any) -> None:
        try:
            self.store.journal(event, **fields)
        except OSError as exc:  # never mask the original problem
            log.warning("could not write %s to the journal: %s", event, exc)

    def _save_quietly(self, run: Run) -> None:
        try:
            self.store.save_run(run)
        except OSError as exc:  # never mask the original problem
            log.warning("could not save the manifest of run %s: %s", run.run_id, exc)

    def _prior(self, request: ImageRequest) -> DurationPrior:
        """The shared running-time prior of tasks like `request` (see `_DURATIONS`)."""
        key = (str(self.store.root), self.base_url, request.model, request.resolution)
        prior = _DURATIONS.get(key)
        if prior is None:
            prior = load_prior(self.store.root, *key[1:])
            _DURATIONS[key] = prior
        return prior

    def _start_batch(self, requests: Sequence[ImageRequest]) -> None:
        """Tasks submitted together are siblings; earlier batches become history."""
        for key in {(r.model, r.resolution): r for r in requests}.values():
            self._prior(key).new_batch()

    @staticmethod
    def _emit(listener: Listener | None, event: Event) -> None:
        if listener is None:
            return
        try:
            listener(event)
        except Exception:  # a broken display must not lose a paid image
            log.exception("event listener failed on %s", event.kind)


class _FreshURLs:
    """The result URLs of one task, shared by its concurrent downloads: when one finds its
    URL expired it polls the task again, and the others use those fresh URLs too."""

    def __init__(self, urls: list[str], wanted: int):
        self.urls, self.wanted, self.generation = urls, wanted, 0
        self._lock = asyncio.Lock()
        #: filing an image (PNG with parameters, thumbnail) is CPU work: one at a time
        self.filing = asyncio.Lock()

    async def renew(self, seen: int, poll: Callable[[], Awaitable[JSONObject]]) -> bool:
        """Poll for fresh URLs unless another download did since `seen`; True if it polled."""
        async with self._lock:
            if self.generation != seen:  # another download renewed them meanwhile
                return False
            urls = result_urls(await poll())
            if len(urls) >= len(self.urls):
                self.urls = urls[: self.wanted]
            self.generation += 1
            return True


def _storage_error(exc: BaseException, task_id: str | None) -> errors.StorageError:
    """One sentence for a failure to record something in the output folder."""
    if task_id is None:
        where = "nothing was sent"
        then = "then run the cell again"
    else:
        where = f"task {task_id} was submitted and stays in the journal"
        then = "then %banana resume collects it"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return errors.StorageError(f"The disk is full ({where}): free space, {then}.")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return errors.StorageError(
        f"The output folder could not record the run ({reason[:120]}; {where}): fix that, {then}."
    )
