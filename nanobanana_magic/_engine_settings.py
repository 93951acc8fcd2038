"""The one place an engine is built from a front end's settings.

The magic's cells, the panel (with or without the magic) and the Python API each need an
`Engine`; the settings that shape it (timeouts, download retries, concurrency, prices, fan
out) are named once here, so no front end can forget one of them.
"""

from __future__ import annotations

from typing import Any

from ._engine import Engine

#: what a front end's configuration says about its engines: the magic's `Banana` traits
#: of these names configure the engines of its cells and of the panels it opens
ENGINE_SETTINGS = (
    "concurrency",
    "task_timeout",
    "max_poll_interval",
    "download_timeout",
    "download_retries",
    "prices",
    "fanout",
)


def engine_from_settings(settings: object | None = None, **arguments: Any) -> Engine:
    """An engine configured by each of `ENGINE_SETTINGS` that `settings` (the magic, or
    None) has; `arguments` (store, api_key, base_url, limiters, and any setting given
    explicitly, which wins) go to `Engine` as they are."""
    configured = {
        name: getattr(settings, name) for name in ENGINE_SETTINGS if hasattr(settings, name)
    }
    return Engine(**{**configured, **arguments})
