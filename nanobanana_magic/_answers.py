"""Reading the server's answers: task state and progress, result URLs, failure reasons.

The API (and gateways in front of it) use many words and shapes for the same thing; these
functions turn a task object into the few facts the rest of the package needs, and never
raise on a surprising shape.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

#: a JSON object as the server sent it (a task, an upload answer): read with care
JSONObject = dict[str, Any]

_FINAL_OK = {"completed", "succeeded", "success"}
_FINAL_FAILED = {"failed", "error", "cancelled", "canceled", "expired"}
_QUEUED = {"queued", "pending", "submitted"}

#: the error code with which the server says a task broke its content policy
CONTENT_POLICY_CODE = "content_policy_violation"


#: the states of a task in our words; every status word of the server maps to one of them
TASK_STATES = ("queued", "running", "completed", "failed")


class TaskState(NamedTuple):
    """Where a task is: `state` one of TASK_STATES, `progress` 0-100 (None: not said), and
    `word`, the server's own status word, kept only to be shown."""

    state: str
    progress: int | None
    word: str


def task_state(task: JSONObject) -> TaskState:
    """The state of a task object, in our words (an unknown status word means running)."""
    status = str(task.get("status") or "").strip().lower()
    if status in _FINAL_OK:
        state = "completed"
    elif status in _FINAL_FAILED:
        state = "failed"
    elif status in _QUEUED:
        state = "queued"
    else:
        state = "running"  # in_progress and any status name we do not know yet
    word = str(task.get("status") or "").strip() or state
    return TaskState(state, parse_progress(task.get("progress")), word)


def parse_progress(value: object) -> int | None:
    """A progress value (number, numeric string, "45%") as 0-100, or None; NaN, infinity
    and anything else unreadable are None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%"))
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return max(0, min(100, int(value)))
    return None


def _urls(value: object, *, strict: bool) -> list[str]:
    """URLs in a list of strings or `{url}` objects (or in one of them). `strict` takes
    only http(s) URLs: for fields the contract does not name, a stray string is no URL."""
    urls = []
    for item in value if isinstance(value, list) else [value]:
        url = item.get("url") if isinstance(item, dict) else item
        if isinstance(url, str) and url and (not strict or url.startswith(("http://", "https://"))):
            urls.append(url)
    return urls


def _other_places(task: JSONObject) -> dict[str, list[str]]:
    """Image URLs found in fields other gateways use, by field name."""
    result = task.get("result")
    if not isinstance(result, dict):
        result = {}
    output = task.get("output")
    found = {
        "result.images": _urls(result.get("images"), strict=True),
        "result.url": _urls(result.get("url"), strict=True),
        "data": _urls(task.get("data"), strict=True),
        "images": _urls(task.get("images"), strict=True),
        "output": _urls(output, strict=True),
        "url": _urls(task.get("url"), strict=True),
    }
    if isinstance(output, dict):
        found["output.images"] = _urls(output.get("images"), strict=True)
        found["output.data"] = _urls(output.get("data"), strict=True)
    return {name: urls for name, urls in found.items() if urls}


def result_urls(task: JSONObject) -> list[str]:
    """Result URLs: `result.data[*].url` (items may be bare strings), the contract's place.
    Without it, the URLs in the other places gateways use (`result.images`, `data`,
    `output`, `images`, a `url` string or list) when they agree: one list, or lists of
    which each is the start of the longest (a top-level `url` naming the first image).
    Lists that disagree are ambiguous: then none (`describe_result_fields` says why)."""
    result = task.get("result")
    data = result.get("data") if isinstance(result, dict) else None
    urls = _urls(data, strict=False) if isinstance(data, list) else []
    if urls:
        return urls
    lists = list(_other_places(task).values())
    if not lists:
        return []
    longest = max(lists, key=len)
    return longest if all(longest[: len(urls)] == urls for urls in lists) else []


def describe_result_fields(task: JSONObject) -> str:
    """For an error: the fields a completed task had, and where URLs were (ambiguously)."""
    fields = ", ".join(sorted(map(str, task))) or "none"
    result = task.get("result")
    if isinstance(result, dict):
        fields += "; result has " + (", ".join(sorted(map(str, result))) or "no fields")
    places = _other_places(task)
    if len(places) > 1:
        fields += "; different image URL lists in " + " and ".join(sorted(places))
    elif not places:
        fields += "; no image URLs in any of them"
    return "fields seen: " + fields


def failure_message(task: JSONObject) -> tuple[str | None, str]:
    """(error code or None, a message) of a failed task, whatever shape its error has."""
    error = task.get("error")
    if isinstance(error, dict) and (error.get("message") or error.get("code")):
        code = error.get("code")
        return (None if code is None else str(code)), str(error.get("message") or code)
    if isinstance(error, str) and error:
        return None, error
    if task.get("fail_reason"):
        return None, str(task["fail_reason"])
    return None, f"status {task.get('status')!r}"


#: the longest task id we accept; ids are printable ASCII without spaces
MAX_TASK_ID = 200


def usable_task_id(task_id: object) -> bool:
    """True for a task id that can be journaled and polled: short printable ASCII text with
    no spaces or control characters (it is still percent-encoded in the status path)."""
    return (
        isinstance(task_id, str)
        and 0 < len(task_id) <= MAX_TASK_ID
        and task_id.isascii()
        and task_id.isprintable()
        and not any(c.isspace() for c in task_id)
    )


def submitted_task_id(answer: JSONObject) -> str | None:
    """The task id in a submit answer (`id`, `task_id` or `data.id`), or None."""
    data = answer.get("data")
    task_id = (
        answer.get("id")
        or answer.get("task_id")
        or (data.get("id") if isinstance(data, dict) else None)
    )
    return str(task_id) if task_id else None


def uploaded_file_url(answer: JSONObject) -> str | None:
    """The public URL in an upload answer, or None when the upload was refused."""
    data = answer.get("data")
    url = data.get("url") if isinstance(data, dict) else None
    if answer.get("success") is False or not isinstance(url, str) or not url:
        return None
    return url
