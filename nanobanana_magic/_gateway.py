"""When the real gateway differs from the contract's assumptions (contract §12).

Facts only a live key settles are handled here, so the package keeps working whichever
way they fall:

* **n fixed at 1.** A submit refused with a 400 naming `n` (for n > 1) is fanned out into
  n tasks of one image each. The refusal is remembered per backend and model in the
  output folder (`gateway.jsonl`, append-only like the journal), so later requests fan
  out from the start. `fanout` is "auto" (learn from a refusal), "always" or "never".
* **Model id.** A refusal naming the model says which other id the API reference uses
  and how to switch to it.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import _errors as errors
from ._jsonl import append_json_line, read_json_lines

FANOUT_MODES = ("auto", "always", "never")
FACTS_FILE = "gateway.jsonl"
#: the other name of each model id (ToAPIs' product name and the API reference's id)
OTHER_MODEL_ID = {
    "nano-banana-2": "gemini-3.1-flash-image-preview",
    "nano_banana_2": "gemini-3.1-flash-image-preview",
    "gemini-3.1-flash-image-preview": "nano-banana-2",
}
_NAMES_N = re.compile(r"(?<![A-Za-z_])'?n'?(?![A-Za-z_])")


def check_fanout(mode: str) -> str:
    if mode not in FANOUT_MODES:
        raise errors.ValidationError(
            f"fanout {mode!r} is not a mode; use one of {', '.join(FANOUT_MODES)}."
        )
    return mode


def refuses_n(exc: BaseException, n: int) -> bool:
    """Whether a submit refusal says that `n` (> 1) images per task is not allowed."""
    if n <= 1 or not isinstance(exc, errors.InvalidRequestError):
        return False
    if exc.param == "n":
        return True
    return exc.param in (None, "") and bool(_NAMES_N.search(exc.message))


def refuses_model(exc: BaseException, model: str) -> bool:
    if not isinstance(exc, errors.APIStatusError):
        return False
    return (
        exc.param == "model"
        or str(exc.code).lower() == "model_not_found"
        or (exc.status_code in (400, 404, 503) and model in exc.message)
    )


def with_model_hint(exc: errors.APIError, model: str) -> errors.APIError:
    """A refusal of the model id as an InvalidRequestError saying which id to switch to
    and how (when we know one); any other error unchanged."""
    other = OTHER_MODEL_ID.get(model)
    if other is None or not isinstance(exc, errors.APIStatusError):
        return exc
    if not refuses_model(exc, model):
        return exc
    text = str(exc)
    if exc.advice and text.endswith(exc.advice):  # the class adds its advice again
        text = text[: -len(exc.advice)].rstrip()
    hint = (
        f"; this gateway does not take the model id {model!r}, the other id of the same "
        f'model is {other!r}: switch with `%config Banana.model = "{other}"` (or '
        f"--model {other}, or NANOBANANA_MODEL={other})"
    )
    # a 503 model_not_found is no passing outage: it is this request's model, to change
    return errors.InvalidRequestError(
        text.rstrip(".") + hint,
        status_code=exc.status_code or 400,
        code=exc.code,
        type=exc.type,
        param=exc.param,
        request_id=exc.request_id,
        body=exc.body,
        retry_after=exc.retry_after,
    )


class GatewayFacts:
    """What this output folder has learned about backends, one JSON line per fact."""

    def __init__(self, root: Path) -> None:
        self.path = root / FACTS_FILE

    def refuses_n(self, base_url: str, model: str) -> bool:
        return any(
            fact.get("fact") == "refuses_n"
            and fact.get("base_url") == base_url
            and fact.get("model") == model
            for fact in read_json_lines(self.path)
        )

    def remember_refuses_n(self, base_url: str, model: str, message: str) -> None:
        append_json_line(
            self.path,
            {"fact": "refuses_n", "base_url": base_url, "model": model, "message": message[:300]},
        )
