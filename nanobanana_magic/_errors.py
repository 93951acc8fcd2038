"""One exception tree for everything that can go wrong, each message saying what to do.

    BananaError
    ├── ValidationError          bad input; nothing was sent
    ├── ConfigurationError       key, base URL or output folder unusable; nothing was sent
    └── APIError                 talking to ToAPIs (or a result host) did not work out
        ├── APIStatusError       the API answered with an error status (one class per
        │                        status, mapped by `error_from_response`)
        ├── ConnectionFailedError   no answer: the connection failed or broke
        ├── ResponseFormatError  an answer this client cannot read
        ├── SubmitUncertainError a submit may have created a paid task; not resent
        ├── TaskError            the task itself did not give images
        │   ├── TaskFailedError  the server reported the task failed
        │   │   └── TaskRefusedError   ... under its content policy
        │   └── TaskTimeoutError the task did not finish in time (still resumable)
        └── DownloadError        a result file could not be fetched or stored
            └── ExpiredURLError  its URL no longer serves it (poll again for fresh ones)

Catch `APIStatusError` for "the server said no", `TaskError` for tasks that ended
without images, `APIError` for any trouble with the service.

Every message is written to be shown to a notebook user as it is: one short paragraph,
never the API key. IPython calls `_render_traceback_` and shows that paragraph instead
of a traceback (see `_tracebacks` for the setting that brings tracebacks back).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIError",
    "APIStatusError",
    "AuthenticationError",
    "BananaError",
    "ConfigurationError",
    "ConnectionFailedError",
    "ContentPolicyError",
    "DownloadError",
    "ExpiredURLError",
    "InsufficientBalanceError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "StorageError",
    "SubmitUncertainError",
    "TaskError",
    "TaskFailedError",
    "TaskRefusedError",
    "TaskTimeoutError",
    "ValidationError",
    "error_from_response",
    "redact",
    "redact_values",
    "remember_secret",
]

# `sk-...` as a word of its own (not the end of `task-...`), or after `Bearer`
_KEY_PATTERN = re.compile(r"(?<![A-Za-z0-9_\-])(sk-|Bearer\s+)[A-Za-z0-9_\-\.]{4,}")
_MAX_BODY_IN_MESSAGE = 300


#: every API key this process has used, whatever its shape (see `remember_secret`)
_SECRETS_IN_USE: set[str] = set()


def remember_secret(value: str) -> None:
    """Have `redact` remove this key from every message, journal line and manifest."""
    if isinstance(value, str) and len(value) >= 8:
        _SECRETS_IN_USE.add(value)


def redact(text: str, secret: str | None = None) -> str:
    """Remove the keys in use, a given secret and anything that looks like a bearer key."""
    for known in (secret, *_SECRETS_IN_USE):
        if known and known in text:
            text = text.replace(known, "[redacted]")
    return _KEY_PATTERN.sub(lambda m: m.group(1) + "[redacted]", text)


def redact_values(value: Any) -> Any:
    """`value` (JSON-like) with every key in use removed from its strings (for the journal
    and manifests: ids and URLs there are left alone otherwise)."""
    if isinstance(value, str):
        for known in _SECRETS_IN_USE:
            if known in value:
                value = value.replace(known, "[redacted]")
        return value
    if isinstance(value, dict):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_values(item) for item in value]
    return value


class BananaError(Exception):
    """Base class of every error raised by nanobanana_magic."""

    #: a short label shown before the message in notebooks
    title = "Nano Banana error"

    def __init__(self, message: str):
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self)

    def _render_traceback_(self) -> list[str]:
        """IPython calls this and shows one paragraph instead of a traceback (no global
        hooks). The magic's `show_tracebacks` setting brings full tracebacks back in its
        own shell (see `_tracebacks`)."""
        from ._wording import wrapped

        return wrapped(f"{self.title}: {self}").splitlines()


class ValidationError(BananaError, ValueError):
    """The request is invalid; nothing was sent."""

    title = "Invalid request"


class ConfigurationError(BananaError):
    """A setting (key, base URL, output folder) is missing or unusable; nothing was sent."""

    title = "Configuration problem"


class APIError(BananaError):
    """Talking to ToAPIs (or to the host of a result file) did not work out.

    Attributes: `status_code` (when an HTTP answer is involved), `code` (int or str, as
    the server sent it) and `body` (raw text of the answer, redacted and shortened).
    """

    title = "ToAPIs error"
    advice = ""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: object = None,
        body: str = "",
    ):
        self.status_code = status_code
        self.code = code
        self.body = redact(body)[:_MAX_BODY_IN_MESSAGE]
        text = message.rstrip(".") + "."
        if self.advice:
            text += " " + self.advice
        super().__init__(text)


class APIStatusError(APIError):
    """The API answered with an error status.

    Beyond `APIError`'s attributes: `type`, `param`, `request_id` (when the message
    carries one) and `retry_after` (seconds, from the `Retry-After` header).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: object = None,
        type: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: str = "",
        retry_after: float | None = None,
    ):
        self.type = type
        self.param = param
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(message, status_code=status_code, code=code, body=body)


class InvalidRequestError(APIStatusError):
    title = "Invalid request (400)"
    advice = "Check model, prompt, size and resolution; retry only after fixing the request."


class AuthenticationError(APIStatusError):
    title = "Authentication failed (401)"
    advice = (
        "Check the Authorization header and the key's scope: set TOAPIS_API_KEY or run "
        "`%banana login` with a key from toapis.com/console/token."
    )


class InsufficientBalanceError(APIStatusError):
    title = "Insufficient balance"
    advice = "Top up the account at toapis.com, or lower n / resolution; nothing was generated."


class PermissionDeniedError(APIStatusError):
    title = "Permission denied (403)"
    advice = "The key may not be allowed to use this model; check the key's model permissions."


class NotFoundError(APIStatusError):
    title = "Not found (404)"
    advice = "Check the task id; tasks belong to the key that created them."


class ContentPolicyError(APIStatusError):
    title = "Content policy (422)"
    advice = "The prompt or a reference image was refused; rephrase it or change the reference."


class RateLimitError(APIStatusError):
    title = "Rate limited (429)"
    advice = "Too many requests: lower the concurrency or wait a minute and retry."


class ServerError(APIStatusError):
    title = "Server error"
    advice = "The service had a problem; try again in a moment."


class SubmitUncertainError(APIError):
    """A submit may have created a paid task but its answer was lost.

    It is not resent automatically (that could pay twice); the attempt is in the journal.
    """

    title = "Submit outcome unknown"
    advice = (
        "The task may have been created and charged; it was not resent to avoid paying "
        "twice. Check the ToAPIs console before retrying; the attempt is in the journal."
    )


class ConnectionFailedError(APIError):
    title = "Connection failed"
    advice = "Check the network and the base URL (TOAPIS_BASE_URL or `%banana use`)."


class ResponseFormatError(APIError):
    title = "Unexpected response"
    advice = "The server answered something this client does not understand; try again later."


class TaskError(APIError):
    """The task was accepted but did not give images."""


class TaskFailedError(TaskError):
    """The server reported that the task failed (answering the status query with 200)."""

    title = "Generation failed"
    advice = "Failed tasks are normally refunded; change the prompt or references and try again."


class TaskRefusedError(TaskFailedError):
    """The task was accepted, then ended failed under the content policy."""

    title = "Refused by the content policy"
    advice = (
        "The prompt, a reference image or the result was refused; rephrase it or change "
        "the reference. Failed tasks are normally refunded."
    )


class TaskTimeoutError(TaskError):
    title = "Timed out"
    advice = (
        "The task may still finish: run %banana resume (or nanobanana_magic.resume()) "
        "later to collect it without paying again."
    )


class DownloadError(APIError):
    title = "Download failed"
    advice = (
        "The task is paid and recorded in the journal; run %banana resume to try the "
        "download again while its URLs are valid (24 h)."
    )


class StorageError(BananaError):
    """The output folder could not record something (the disk is full, a file could not be
    written). A task submitted before it stays in the journal: `%banana resume` collects it."""

    title = "Output folder"


class ExpiredURLError(DownloadError):
    """A result URL no longer serves its file; polling the task again gives fresh ones."""


_QUOTA_CODES = {"insufficient_quota", "insufficient_user_quota", "quota_exceeded"}


def _parse_body(body: str) -> dict[str, Any]:
    """Read every documented error envelope (contract §7.1) into one flat dict."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return {"message": body.strip()}
    if not isinstance(data, dict):
        return {"message": str(data)}
    error = data.get("error")
    if isinstance(error, dict):
        return {k: error.get(k) for k in ("message", "code", "type", "param")}
    if isinstance(error, str):
        return {"message": error, "code": data.get("code")}
    return {
        "message": data.get("message") or data.get("fail_reason") or data.get("detail"),
        "code": data.get("code"),
    }


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        import time
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def error_from_response(
    status_code: int,
    body: str,
    headers: Mapping[str, str] | None = None,
    *,
    what: str = "request",
    secret: str | None = None,
) -> APIStatusError:
    """Map an HTTP error answer onto our exception classes, tolerating every body variant."""
    body = redact(body or "", secret)
    fields = _parse_body(body)
    message = str(fields.get("message") or "").strip()
    if message.lstrip().startswith("<"):  # a gateway's HTML page
        message = ""
    code, type_ = fields.get("code"), fields.get("type")
    match = re.search(r"\(request id: ([^)]+)\)", message)
    request_id = match.group(1) if match else None
    if message:
        message = message.replace(match.group(0), "").strip() if match else message
    lowered = f"{message} {code} {type_}".lower()
    kwargs: dict[str, Any] = dict(
        status_code=status_code,
        code=code,
        type=type_,
        param=fields.get("param"),
        request_id=request_id,
        body=body,
        retry_after=_retry_after(headers),
    )
    summary = f"The {what} was refused with HTTP {status_code}"
    if message:
        summary += f": {message}"

    if (
        "invalid api type" in lowered
        or "invalid apitype" in lowered
        or "invalid_api_type" in lowered
    ):
        return InvalidRequestError(
            summary + ". An image model was called through the chat endpoint; image models "
            "use /v1/images/generations",
            **kwargs,
        )
    if status_code == 402 or str(code).lower() in _QUOTA_CODES:  # 402, or 403 with a quota code
        return InsufficientBalanceError(summary, **kwargs)
    cls: type[APIStatusError] | None = {
        400: InvalidRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        422: ContentPolicyError,
        429: RateLimitError,
    }.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else APIStatusError
    return cls(summary, **kwargs)
