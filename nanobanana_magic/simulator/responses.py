"""JSON bodies the simulator answers with, one builder per kind of answer.

The error envelopes deliberately differ, as on the real gateway (contract §7.1):

* variant A — ``{"error": {"code": <int status>, "message", "type"}}`` (401, 404);
* variant B — ``{"error": {"code": "invalid_request", "message", "param", "type"}}`` (400);
* variant C — ``{"error": {"code": "rate_limit_exceeded" | "rate_limit_unavailable", "message"}}``;
* variant D — New API core: ``{"error": {"message": "… (request id: …)", "type": "new_api_error", "code"}}``;
* uploads — ``{"success": false, "message"}``.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """An HTTP answer: status, a JSON-able body, extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def request_id() -> str:
    """A New-API-style request id: a timestamp plus random hex."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(8)


def retry_after_value(seconds: float) -> str:
    """``Retry-After`` in whole seconds: rounded up, at least 1 — except exactly 0 stays "0"."""
    if seconds <= 0:
        return "0"
    return str(max(1, math.ceil(seconds)))


# ---------------------------------------------------------------------- variant A
def error_a(status: int, message: str, error_type: str) -> Reply:
    return Reply(status, {"error": {"code": status, "message": message, "type": error_type}})


def unauthorized() -> Reply:
    return error_a(401, "Invalid API key", "authentication_error")


def task_not_found() -> Reply:
    return error_a(404, "Task not found", "not_found_error")


def route_not_found(method: str, path: str) -> Reply:
    return error_a(404, f"No route for {method} {path}", "not_found_error")


def file_not_found() -> Reply:
    return error_a(404, "File not found", "not_found_error")


def file_expired() -> Reply:
    return error_a(404, "File expired", "not_found_error")


def bad_signature() -> Reply:
    return error_a(403, "Invalid or missing file signature", "permission_error")


def body_too_large(limit: int) -> Reply:
    return error_a(413, f"Request body larger than {limit} bytes", "invalid_request_error")


# ---------------------------------------------------------------------- variant B
def invalid_request(param: str, message: str) -> Reply:
    return Reply(
        400,
        {
            "error": {
                "code": "invalid_request",
                "message": message,
                "param": param,
                "type": "invalid_request_error",
            }
        },
    )


def invalid_knob(message: str) -> Reply:
    return Reply(
        400,
        {"error": {"code": "invalid_knob", "message": message, "type": "invalid_request_error"}},
    )


# ---------------------------------------------------------------------- variant C
def rate_limited(
    category: str, limit: int, remaining: int, reset: int, retry_after: str, message: str
) -> Reply:
    return Reply(
        429,
        {"error": {"code": "rate_limit_exceeded", "message": message}},
        {
            "Retry-After": retry_after,
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Category": category,
        },
    )


def rate_limit_unavailable(retry_after: str) -> Reply:
    message = "Rate limiter temporarily unavailable; the task was not accepted, retry later."
    return Reply(
        503,
        {"error": {"code": "rate_limit_unavailable", "message": message}},
        {"Retry-After": retry_after},
    )


# ---------------------------------------------------------------------- other errors
def content_policy(message: str) -> Reply:
    return Reply(
        422,
        {
            "error": {
                "code": "content_policy_violation",
                "message": message,
                "type": "content_policy_violation",
            }
        },
    )


def insufficient_quota(status: int, cost: float, remaining: float) -> Reply:
    detail = f"this request costs ${cost:.3f} but only ${max(0.0, remaining):.3f} remains"
    if status == 403:
        return Reply(
            403,
            {
                "error": {
                    "code": "insufficient_user_quota",
                    "message": f"user quota is not enough: {detail} (request id: {request_id()})",
                    "type": "new_api_error",
                }
            },
        )
    return Reply(
        402,
        {
            "error": {
                "code": "insufficient_quota",
                "message": f"Insufficient balance: {detail}.",
                "type": "insufficient_quota",
            }
        },
    )


_SERVER_ERRORS = {
    500: ("internal_error", "Internal server error"),
    502: ("bad_gateway", "Bad gateway: upstream returned an invalid response"),
    503: ("service_unavailable", "Service temporarily unavailable"),
}


def server_error(status: int = 500, *, retry_after: str | None = None) -> Reply:
    code, text = _SERVER_ERRORS[status]
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(
        status,
        {
            "error": {
                "code": code,
                "message": f"{text} (request id: {request_id()})",
                "type": "server_error",
            }
        },
        headers,
    )


def invalid_api_type() -> Reply:
    return Reply(
        500,
        {
            "error": {
                "message": f"invalid api type: -1 (request id: {request_id()})",
                "type": "new_api_error",
                "code": "invalid_api_type",
            }
        },
    )


def model_not_found(model: str) -> Reply:
    return Reply(
        503,
        {
            "error": {
                "message": f"No available channel for model {model} (request id: {request_id()})",
                "type": "new_api_error",
                "code": "model_not_found",
            }
        },
    )


# ---------------------------------------------------------------------- uploads
def upload_failed(message: str) -> Reply:
    return Reply(400, {"success": False, "message": message})


def upload_ok(upload_id: str, url: str, mime_type: str, size: int) -> Reply:
    return Reply(
        200,
        {
            "success": True,
            "message": "",
            "data": {"id": upload_id, "url": url, "mime_type": mime_type, "size": size},
        },
    )
