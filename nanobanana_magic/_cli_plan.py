"""A sweep plan in a TOML file, for `nanobanana sweep plan.toml`.

The keys are the options of the `%%banana` line, spelled with dashes or underscores,
plus `prompt`; `sweep` and `meta` are tables, `ref` and `tag` strings or lists::

    prompt = "A red fox in snow, {style}"
    resolution = "0.5K"
    budget = 2

    [sweep]
    size = ["1:1", "16:9"]
    style = ["ink, loose", "oil"]

The plan becomes option words for the same parser the command line uses (so the same
checks apply); sweep values stay lists, so a value may contain commas.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ._cell_options import CELL_OPTIONS, NOTEBOOK_ONLY
from ._errors import ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_FLAGS = {
    option.flag[2:]: option
    for option in CELL_OPTIONS
    if option.flag not in NOTEBOOK_ONLY and option.flag != "--sweep"
}


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, (dict, list)) or value is None:
        raise ValidationError(f"In the plan, {key} takes one value, not {value!r}.")
    return str(value).lower() if isinstance(value, bool) else str(value)


def read_plan(path: Path) -> tuple[str, list[str], dict[str, list]]:
    """(prompt, option words, sweep axes) of a plan file; one clear sentence if it is bad."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"Cannot read the plan {path}: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"The plan {path} is not valid TOML ({exc}).") from None
    prompt = data.pop("prompt", None)
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError(f'The plan {path} needs a prompt = "..." line.')
    axes = data.pop("sweep", {})
    if not isinstance(axes, dict) or not axes:
        raise ValidationError(
            f'The plan {path} needs a [sweep] table, e.g. size = ["1:1", "16:9"].'
        )
    sweep = {str(k): v if isinstance(v, list) else [v] for k, v in axes.items()}
    words: list[str] = []
    for raw_key, value in data.items():
        key = raw_key.replace("_", "-")
        option = _FLAGS.get(key)
        if option is None:
            known = ", ".join(["prompt", "sweep", *sorted(_FLAGS)])
            raise ValidationError(f"The plan {path} has an unknown key {raw_key!r}; use {known}.")
        flag = option.flag
        action = option.options.get("action")
        if action == "store_true":
            if not isinstance(value, bool):
                raise ValidationError(f"In the plan, {raw_key} is true or false, not {value!r}.")
            words += [flag] if value else []
        elif key == "meta":
            if not isinstance(value, dict):
                raise ValidationError('In the plan, meta is a table: [meta] then key = "value".')
            words += [w for k, v in value.items() for w in (flag, f"{k}={_scalar(k, v)}")]
        elif action == "append":
            values = value if isinstance(value, list) else [value]
            words += [w for v in values for w in (flag, _scalar(raw_key, v))]
        else:
            words += [flag, _scalar(raw_key, value)]
    return prompt, words, sweep
