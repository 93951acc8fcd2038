"""Reading the server's answers: task state and progress, result URLs, failure reasons.

The API (and gateways in front of it) use many words and shapes for the same thing; these
functions turn a task object into the few facts the rest of the package needs, and never
raise on a surprising shape.
"""

from __future__ import annotations

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
    """A progress value (number, numeric string, "45%") as 0-100, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return max(0, min(100, int(value)))
    if isinstance(value, str):
        try:
            return max(0, min(100, int(float(value.strip().rstrip("%")))))
        except ValueError:
            return None
    return None


def result_urls(task: JSONObject) -> list[str]:
    """Result URLs: `result.data[*].url` (items may be bare strings), else top-level `url`."""
    result = task.get("result")
    data = result.get("data") if isinstance(result, dict) else None
    urls = []
    for item in data if isinstance(data, list) else []:
        url = item.get("url") if isinstance(item, dict) else item
        if isinstance(url, str) and url:
            urls.append(url)
    if not urls and isinstance(task.get("url"), str) and task["url"]:
        urls.append(task["url"])
    return urls


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
