"""Run the async core from synchronous code: scripts, terminal IPython and Jupyter kernels.

Outside an event loop this is `asyncio.run`. Inside a running loop (ipykernel runs cells
on one) the loop is made re-entrant with nest-asyncio2, the maintained fork ipykernel
itself uses, and the coroutine runs on it to completion. A KeyboardInterrupt (a kernel
interrupt) cancels the coroutine, lets it finish its clean-up, and is then re-raised.

`blocking(afunc)` makes the sync twin of a coroutine function: same parameters (for
`help()`, `func?`, `inspect.signature` and keyword completion), same docs, no copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(awaitable: Awaitable[T]) -> T:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coroutine(awaitable))
    import nest_asyncio2

    nest_asyncio2.apply(loop)
    task = asyncio.ensure_future(awaitable, loop=loop)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(task)
        raise


def blocking(afunc: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """The blocking twin of the coroutine function `afunc` (`agenerate` -> `generate`)."""

    @functools.wraps(afunc)
    def twin(*args: Any, **kwargs: Any) -> T:
        return run_sync(afunc(*args, **kwargs))

    name = afunc.__name__.removeprefix("a")
    twin.__name__ = name
    twin.__qualname__ = (
        afunc.__qualname__.rsplit(".", 1)[0] + name if "." in afunc.__qualname__ else name
    )
    twin.__doc__ = (
        f"Blocking form of `{afunc.__name__}`: runs it to completion and returns "
        f"its result.\n\n{afunc.__doc__ or ''}"
    )
    return twin


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
