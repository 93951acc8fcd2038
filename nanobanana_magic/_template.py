"""Prompt templates: `{identifier}` is replaced, every other brace is left alone.

`{{name}}` gives a literal `{name}`. Substitution is one pass, so a value that itself
contains braces is never expanded again. An undefined name is an error naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._errors import ValidationError

_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> list[str]:
    """Names used as `{name}` in the template, in order of first use."""
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(template):
        if match.group(2) and match.group(2) not in names:
            names.append(match.group(2))
    return names


def interpolate(template: str, values: Mapping[str, object]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "{" + str(match.group(1)) + "}"
        name = match.group(2)
        try:
            return str(values[name])
        except KeyError:
            raise ValidationError(
                f"The prompt uses {{{name}}} but no variable {name!r} is defined; define it "
                f"in the notebook, sweep over it, or write {{{{{name}}}}} for literal "
                "braces."
            ) from None

    return _PLACEHOLDER.sub(replace, template)
