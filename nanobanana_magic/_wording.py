"""Small helpers for the words of user-facing messages."""

from __future__ import annotations


def plural(count: int, word: str, words: str | None = None) -> str:
    """`count` and the noun in the right number: "1 task", "3 tasks", "2 cells"."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


#: plain-text messages are wrapped to this many columns: JupyterLab shows plain text with
#: `word-break: break-all`, so a line wider than the output would break inside a word
#: (64 columns of its 13 px code font fit an output area about 520 px wide)
WRAP_COLUMNS = 64


def wrapped(text: str, width: int = WRAP_COLUMNS) -> str:
    """`text` with its lines wrapped at word boundaries (never inside a word: a path or
    URL longer than the width stays whole on its own line); line breaks already in it
    are kept."""
    import textwrap

    return "\n".join(
        textwrap.fill(
            line, width, break_long_words=False, break_on_hyphens=False, subsequent_indent=""
        )
        if len(line) > width
        else line
        for line in text.splitlines()
    )
