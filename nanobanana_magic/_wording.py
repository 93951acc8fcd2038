"""Small helpers for the words of user-facing messages."""

from __future__ import annotations


def plural(count: int, word: str, words: str | None = None) -> str:
    """`count` and the noun in the right number: "1 task", "3 tasks", "2 cells"."""
    return f"{count} {word if count == 1 else (words or word + 's')}"
