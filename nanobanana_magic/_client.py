"""The async ToAPIs client: upload, submit, poll and download over HTTP, safely.

* One `httpx.AsyncClient` talks to the API and carries the key; a second one, with no
  credentials at all, fetches result files, so the key never reaches another host.
* Retries use exponential backoff with jitter and honour `Retry-After`. A submit, which
  creates paid work, is retried only when it provably created nothing (the connection
  was never made, or the answer was 429 or 503); after a lost answer it raises
  `SubmitUncertainError` instead of paying twice.
* Every request passes a sliding-window limiter (contract §8.1), from a
  `LimiterRegistry` that the clients of one front end share (the magic, the panel, one
  call of the Python API); a client given none has its own.
* Polling follows `PollPlanner`: predicted completion, not a fixed cadence.

What the answers mean is read by `_answers`; this module only moves bytes and retries.
Tests can pass an `httpx` transport (e.g. `httpx.MockTransport`) and a `sleep` function.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx

from . import _errors as errors
from ._answers import (
    CONTENT_POLICY_CODE,
    JSONObject,
    failure_message,
    submitted_task_id,
    task_state,
    uploaded_file_url,
    usable_task_id,
)
from ._defaults import (
    DEFAULT_DOWNLOAD_RETRIES,
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_TASK_TIMEOUT,
)
from ._imaging import inspect_image
from ._polling import DurationPrior, PollPlanner
from ._ratelimit import (
    QUERY_LIMITS,
    SUBMIT_LIMITS,
    LimiterRegistry,
    header_hold,
)
from ._request import MAX_REFERENCE_BYTES, REFERENCE_TYPES, sniff_image_type
from ._settings import Secret, is_loopback, resolve_api_key, resolve_base_url
from ._version import __version__

USER_AGENT = f"nanobanana-magic/{__version__} (toapis-nb2-client) python-httpx/{httpx.__version__}"
MAX_DOWNLOAD_BYTES = 64_000_000
#: the largest JSON answer read from the API; a task object is a few kilobytes
MAX_ANSWER_BYTES = 4_000_000
_EXPIRED_STATUSES = {403, 404, 410}

log = logging.getLogger("nanobanana_magic")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default certificate checks (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), built
    once per process: loading the certificates costs ~25 ms of CPU, and every batch opens
    two clients."""
    return httpx.create_ssl_context()


class ToAPIsClient:
    """Async client for the ToAPIs image task API. Use as `async with ToAPIsClient() as c:`."""

    def __init__(
        self,
        *,
        api_key: str | Secret | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        submit_limits: Sequence[tuple[int, float]] = SUBMIT_LIMITS,
        query_limits: Sequence[tuple[int, float]] = QUERY_LIMITS,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        download_timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        download_retries: int = DEFAULT_DOWNLOAD_RETRIES,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        backoff_cap: float = 120.0,
        rng: random.Random | None = None,
        limiters: LimiterRegistry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base_url = resolve_base_url(base_url)
        self._key = resolve_api_key(api_key)
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_download_bytes = max_download_bytes
        #: the deadline of one image's download, all attempts included, so a trickling
        #: host cannot hang us (the task stays resumable)
        self.download_timeout = download_timeout
        self.download_retries = download_retries
        self.max_answer_bytes = max_answer_bytes
        self._told_retry_after = False  # a hint above the cap is reported once
        self.backoff_cap = backoff_cap
        self._rng = rng or random.Random()
        limiters = LimiterRegistry() if limiters is None else limiters
        key = self._key.reveal()
        self._submit_limiter = limiters.limiter(self.base_url, key, "submit", submit_limits)
        self._query_limiter = limiters.limiter(self.base_url, key, "query", query_limits)
        #: where requests go: httpx's network transport unless a test passes its own
        self._transport = transport
        #: how the client waits (backoff, polls) and reads the time: seams for tests
        self._sleep = sleep
        self._clock = clock
        self._api: httpx.AsyncClient | None = None
        self._files: httpx.AsyncClient | None = None
        self.retries = 0  # how many requests were repeated, for reports and benchmarks
        #: called on every 429, so a batch can lower its concurrency
        self.on_rate_limited: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"ToAPIsClient(base_url={self.base_url!r}, api_key=********)"

    def now(self) -> float:
        """The time on the client's clock, the one `wait(submitted_at=...)` expects."""
        return self._clock()

    # -- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> ToAPIsClient:
        self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _open(self) -> httpx.AsyncClient:
        """Open both HTTP clients (once); returns the API's."""
        if self._api is not None:
            return self._api
        timeout = httpx.Timeout(self.timeout, connect=10.0)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self._api = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            limits=limits,
            verify=_tls_context(),
            transport=self._transport,
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {self._key.reveal()}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            },
        )
        # no credentials here, ever: result files live on other hosts
        self._files = httpx.AsyncClient(
            timeout=timeout,
            limits=limits,
            verify=_tls_context(),
            transport=self._transport,
            follow_redirects=True,
            max_redirects=3,
            headers={"User-Agent": USER_AGENT},
        )
        return self._api

    async def aclose(self) -> None:
        for client in (self._api, self._files):
            if client is not None:
                await client.aclose()
        self._api = self._files = None

    # -- the requests -----------------------------------------------------------------------
    async def submit(self, payload: JSONObject) -> JSONObject:
        """Create a task (POST /v1/images/generations) and return the task object."""
        task = await self._call("POST", "/v1/images/generations", kind="submit", json=payload)
        task_id = submitted_task_id(task)
        if task_id is None:
            raise errors.SubmitUncertainError(
                "The submit answer carried no task id", body=json.dumps(task)[:300]
            )
        if not usable_task_id(task_id):
            raise errors.SubmitUncertainError(
                f"The submit answer carried an unusable task id {task_id[:60]!r}",
                body=json.dumps(task)[:300],
            )
        task["id"] = task_id
        return task

    async def get_task(self, task_id: str) -> JSONObject:
        """GET /v1/images/generations/{id} (the id checked, and percent-encoded in the path)."""
        if not usable_task_id(task_id):
            raise errors.ResponseFormatError(
                f"The task id {str(task_id)[:60]!r} cannot be polled (it is not short "
                "printable text); this task cannot be collected"
            )
        path = f"/v1/images/generations/{quote(task_id, safe='')}"
        return await self._call("GET", path, kind="query")

    async def upload(self, path: str | os.PathLike[str]) -> str:
        """Upload a local reference image and return its public URL (GIF becomes PNG)."""
        data = Path(path).read_bytes()
        kind = sniff_image_type(data[:16])
        if kind == "gif":  # accepted by the upload, not by the model (contract C-L)
            data, kind = await asyncio.to_thread(_gif_to_png, data)
        if kind not in REFERENCE_TYPES or len(data) > MAX_REFERENCE_BYTES:
            raise errors.ValidationError(
                f"Reference image {Path(path).name!r} must be a png, "
                "jpeg or webp file of at most 10 MB."
            )
        filename = f"{Path(path).stem}.{'jpg' if kind == 'jpeg' else kind}"
        answer = await self._call(
            "POST",
            "/v1/uploads/images",
            kind="upload",
            files={"file": (filename, data, REFERENCE_TYPES[kind])},
            data={"purpose": "generation"},
        )
        url = uploaded_file_url(answer)
        if url is None:
            raise errors.InvalidRequestError(
                f"The upload of {Path(path).name!r} was refused: "
                f"{answer.get('message') or 'no URL in the answer'}",
                status_code=200,  # the upload answered, with success false or no URL
            )
        return url

    async def wait(
        self,
        task_id: str,
        *,
        submitted_at: float,
        timeout: float = DEFAULT_TASK_TIMEOUT,
        on_update: Callable[[JSONObject, float | None], None] | None = None,
        expected_duration: float | None = None,
        max_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        prior: DurationPrior | None = None,
    ) -> JSONObject:
        """Poll until the task is final; return the completed task or raise.

        `submitted_at` is on the client's clock (`time.monotonic()` unless a test passes
        its own). `prior` (shared by the tasks of a kind) says how long such tasks run;
        on completion it learns this one's estimated running time (queueing excluded).
        After each answer that is not final, `on_update(task, seconds_left)` gets the task
        and the planner's latest predicted completion as seconds from now (None while the
        answers do not pin it down).
        Raises TaskFailedError or TaskTimeoutError (the task id in both).
        """
        planner = PollPlanner(
            submitted_at,
            expected_duration=expected_duration,
            prior=prior,
            max_interval=max_interval,
            rng=self._rng,
        )
        deadline = submitted_at + timeout
        learned = asyncio.Event()  # a sibling finished: what it taught may move our poll
        loop = asyncio.get_running_loop()
        unsubscribe = (
            prior.subscribe(lambda: _set_soon(loop, learned)) if prior is not None else None
        )
        try:
            return await self._poll_until_final(
                task_id, planner, deadline, timeout, on_update, prior, learned
            )
        finally:
            if unsubscribe is not None:
                unsubscribe()

    async def _poll_until_final(
        self,
        task_id: str,
        planner: PollPlanner,
        deadline: float,
        timeout: float,
        on_update: Callable[[JSONObject, float | None], None] | None,
        prior: DurationPrior | None,
        learned: asyncio.Event,
    ) -> JSONObject:
        while True:
            learned.clear()
            delay = min(planner.next_poll_at(), deadline) - self._clock()
            if delay > 0 and await self._pause(delay, learned):
                continue  # plan again with what the sibling taught
            task = await self._poll_within(task_id, deadline, timeout)
            state, progress, _word = task_state(task)
            if state == "completed":
                running_time = planner.running_time(self._clock())
                if prior is not None and running_time is not None:
                    prior.learn(running_time, planner.reported_progress(), planner.progress_step())
                return task
            if state == "failed":
                code, message = failure_message(task)
                cls = (
                    errors.TaskRefusedError
                    if code == CONTENT_POLICY_CODE
                    else errors.TaskFailedError
                )
                raise cls(f"Task {task_id} failed: {message}", code=code)
            now = self._clock()
            if now >= deadline:
                raise errors.TaskTimeoutError(
                    f"Task {task_id} did not finish within {timeout:.0f} s (last status "
                    f"{task.get('status')!r}, progress {progress})"
                )
            planner.observe(now, "queued" if state == "queued" else "running", progress)
            if on_update is not None:
                window = planner.window()
                on_update(task, None if window is None else max(0.0, window[1] - now))

    async def _pause(self, delay: float, wake: asyncio.Event) -> bool:
        """Sleep `delay` seconds unless `wake` is set first; True when woken early."""
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (sleeper, waker):
                pending.cancel()
        return waker.done() and not waker.cancelled() and not sleeper.done()

    async def _poll_within(self, task_id: str, deadline: float, timeout: float) -> JSONObject:
        """One status query (with its retries) that ends by the task's deadline plus one
        request timeout; past the deadline any failure to answer is a TaskTimeoutError."""
        budget = max(0.0, deadline - self._clock()) + self.timeout
        try:
            return await asyncio.wait_for(self.get_task(task_id), budget)
        except (asyncio.TimeoutError, errors.ConnectionFailedError, errors.ServerError) as exc:
            if isinstance(exc, asyncio.TimeoutError) or self._clock() >= deadline:
                raise errors.TaskTimeoutError(
                    f"Task {task_id} did not finish within {timeout:.0f} s (its status "
                    "could not be read in time)"
                ) from None
            raise

    async def download(self, url: str, dest: str | os.PathLike[str]) -> tuple[str, int, int]:
        """Stream a result file to `dest` (no credentials sent), check it is an image.

        Returns (format, width, height). Raises errors.ExpiredURLError when the URL no longer
        serves the file, DownloadError for anything else after retries.
        """
        _check_result_url(url)
        dest = Path(dest)
        partial = dest.with_name(dest.name + ".part")
        last_error: Exception | None = None
        deadline = self._clock() + self.download_timeout
        for attempt in range(self.download_retries + 1):
            if attempt:
                self.retries += 1
                await self._sleep(
                    min(self._backoff(attempt, None), max(0.0, deadline - self._clock()))
                )
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._stream_to(url, partial), remaining)
                info = await asyncio.to_thread(inspect_image, partial)
            except errors.ExpiredURLError:
                partial.unlink(missing_ok=True)
                raise
            except (httpx.TransportError, _RetryableDownload, asyncio.TimeoutError) as exc:
                partial.unlink(missing_ok=True)
                last_error = exc
                continue
            except (ValueError, OSError) as exc:  # not an image, too large, bomb
                partial.unlink(missing_ok=True)
                raise errors.DownloadError(f"The result file is unusable: {exc}") from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # redirect loop, broken URL
                partial.unlink(missing_ok=True)
                raise errors.DownloadError(
                    f"The result URL could not be fetched ({_describe(exc)})"
                ) from None
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            partial.replace(dest)
            return info
        raise errors.DownloadError(
            f"Downloading a result failed within {self.download_timeout:.0f} s "
            f"({_describe(last_error) if last_error else 'no answer'}); the task stays "
            "resumable"
        )

    async def _stream_to(self, url: str, partial: Path) -> None:
        assert self._files is not None, "use the client inside `async with`"
        async with self._files.stream("GET", url) as response:
            if response.status_code in _EXPIRED_STATUSES:
                raise errors.ExpiredURLError(
                    f"The result URL answered {response.status_code}",
                    status_code=response.status_code,
                )
            if response.status_code >= 300:
                raise _RetryableDownload(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.max_download_bytes:
                raise ValueError(
                    f"it is {int(declared) / 1e6:.0f} MB, over the "
                    f"{self.max_download_bytes / 1e6:.0f} MB limit"
                )
            size = 0
            with open(partial, "wb") as fh:
                async for chunk in response.aiter_bytes(1 << 16):
                    size += len(chunk)
                    if size > self.max_download_bytes:
                        raise ValueError(
                            f"it is over the {self.max_download_bytes / 1e6:.0f} MB limit"
                        )
                    fh.write(chunk)

    # -- retries --------------------------------------------------------------------------------
    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_cap) + self._rng.uniform(0, 0.25)
        delay = min(self.backoff_cap, 0.5 * 2.0 ** (attempt - 1))
        return delay * self._rng.uniform(0.5, 1.0)

    async def _call(self, method: str, path: str, *, kind: str, **kwargs: Any) -> JSONObject:
        """One API request with the retry policy of its kind; returns the JSON object."""
        api = self._open()
        limiter = self._query_limiter if kind == "query" else self._submit_limiter
        what = {"submit": "submit", "query": "status query", "upload": "upload"}[kind]
        creates_work = kind == "submit"
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.retries += 1
                await self._sleep(self._backoff(attempt, getattr(last, "retry_after", None)))
            try:
                async with limiter.turn():  # counted in its windows until answered
                    response, text = await self._request(api, method, path, **kwargs)
            except _AnswerTooLarge as exc:
                if creates_work:
                    raise errors.SubmitUncertainError(
                        f"The submit answer was too large to read ({exc})"
                    ) from None
                raise errors.ResponseFormatError(
                    f"The {what} answer was too large to read ({exc})"
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                last = errors.ConnectionFailedError(
                    f"Could not connect to {self.base_url} for the {what} ({_describe(exc)})"
                )
                continue  # nothing reached the server
            except (httpx.TransportError, httpx.DecodingError) as exc:
                if creates_work:
                    raise errors.SubmitUncertainError(
                        f"The connection broke after the submit was sent ({_describe(exc)})"
                    ) from None
                last = errors.ConnectionFailedError(
                    f"The {what} to {self.base_url} failed ({_describe(exc)})"
                )
                continue
            status = response.status_code
            hold = header_hold(response.headers)
            if hold:  # the server says how much room is left: keep out of its 429s
                limiter.penalise(min(hold, self.backoff_cap))
            if status < 300:
                try:
                    body = json.loads(text)
                    if not isinstance(body, dict):
                        raise ValueError("not an object")
                    return body
                except (ValueError, RecursionError):
                    if creates_work:
                        raise errors.SubmitUncertainError(
                            "The submit answer was not valid JSON", body=text[:300]
                        ) from None
                    last = errors.ResponseFormatError(
                        f"The {what} answer was not valid JSON", body=text[:300]
                    )
                    continue
            if 300 <= status < 400:
                raise errors.ResponseFormatError(
                    f"The {what} was answered with an unexpected redirect (HTTP {status}); "
                    "redirects are not followed so the key stays with the API host"
                )
            error = errors.error_from_response(
                status, text, response.headers, what=what, secret=self._key.reveal()
            )
            if status == 429:
                hint = error.retry_after
                if hint is not None and hint > self.backoff_cap and not self._told_retry_after:
                    self._told_retry_after = True
                    log.warning(
                        "The server asks to wait %.0f s; waiting at most %.0f s before retrying.",
                        hint,
                        self.backoff_cap,
                    )
                if creates_work:
                    # too many tasks at once: hold back this account's submits (capped),
                    # never the polls of tasks already running
                    limiter.penalise(min(self.backoff_cap, hint if hint is not None else 1.0))
                    if self.on_rate_limited is not None:
                        self.on_rate_limited()
                last = error  # the request it answered waits its (capped) backoff
                continue
            if status >= 500:
                if str(error.code).lower() == "model_not_found":
                    raise error  # the gateway has no such model: retrying cannot help
                if creates_work and status != 503:
                    raise errors.SubmitUncertainError(
                        f"The submit got HTTP {status}; the task may exist",
                        status_code=status,
                        body=text[:300],
                    ) from None
                last = error
                continue
            raise error
        assert last is not None
        raise last

    async def _request(
        self, api: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> tuple[httpx.Response, str]:
        """Send one request and read its answer, at most `max_answer_bytes` of it."""
        request = api.build_request(method, path, **kwargs)
        response = await api.send(request, stream=True)
        try:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.max_answer_bytes:
                raise _AnswerTooLarge(f"{int(declared) / 1e6:.0f} MB announced")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes(1 << 16):
                size += len(chunk)
                if size > self.max_answer_bytes:
                    raise _AnswerTooLarge(f"over {self.max_answer_bytes / 1e6:.0f} MB")
                chunks.append(chunk)
        finally:
            await response.aclose()
        data = b"".join(chunks)
        encoding = response.charset_encoding or "utf-8"
        return response, data.decode(encoding, errors="replace")


class _RetryableDownload(Exception):
    pass


class _AnswerTooLarge(Exception):
    pass


def _set_soon(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Set `event` from whichever thread learned something (its loop may have ended)."""
    try:
        loop.call_soon_threadsafe(event.set)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass


def _check_result_url(url: str) -> None:
    """Result files come over https (plain http only from loopback, e.g. the simulator);
    any other URL is refused at once rather than retried."""
    try:
        parsed = urlparse(url)
        host = parsed.hostname
    except ValueError:
        parsed, host = None, None
    if (
        parsed is None
        or not host
        or not (parsed.scheme == "https" or (parsed.scheme == "http" and is_loopback(host)))
    ):
        raise errors.DownloadError(
            f"Downloading {str(url)[:80]!r} failed: result files must come over https, "
            "so it was not fetched"
        )


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no detail"
    text = str(exc) or type(exc).__name__
    return errors.redact(text)[:200]


def _gif_to_png(data: bytes) -> tuple[bytes, str]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGBA").save(out, "PNG")
    return out.getvalue(), "png"
