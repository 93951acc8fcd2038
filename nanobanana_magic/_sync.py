"""Run the async core from synchronous code: scripts, terminal IPython and Jupyter kernels.

Outside an event loop this is `asyncio.run`. Inside a running loop (ipykernel runs cells
on one) the loop is made re-entrant with nest-asyncio2, the maintained fork ipykernel
itself uses, and the coroutine runs on it to completion. A KeyboardInterrupt (a kernel
interrupt) cancels the coroutine, lets it finish its clean-up, and is then re-raised.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Awaitable, TypeVar

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


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
