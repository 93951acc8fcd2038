"""One display that updates in place while tasks run, for the magics.

In Jupyter it is a display handle redrawn as engine events arrive (throttled) and on a
ticking clock; in terminal IPython nothing is drawn until a one-line summary at the end.
"""

from __future__ import annotations

import time

from . import _display as display
from ._display import PROVENANCE_MIME

_REFRESH_SECONDS = 0.25  # at most this often on progress events
_TICK_SECONDS = 1.0  # the elapsed time ticks this often even when nothing happens


def in_kernel(shell) -> bool:
    """True inside a Jupyter kernel (rich display), False in terminal IPython."""
    return getattr(shell, "kernel", None) is not None


class LiveStatus:
    """One display that updates in place while tasks run (Jupyter).

    `start()` shows it, `refresh()` redraws it (at most every 0.25 s unless forced) and
    `finish(summary)` replaces it with a one-line summary carrying provenance metadata.
    In terminal IPython nothing is drawn while tasks run and `finish` prints the summary.
    """

    def __init__(self, shell, render):
        self._render = render
        self._rich = in_kernel(shell)
        self._handle = None
        self._last = 0.0
        self._shown = ""

    def start(self) -> LiveStatus:
        if self._rich:
            from IPython.display import HTML
            from IPython.display import display as show

            self._handle = show(HTML(display.output(self._render())), display_id=True)
        return self

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._handle is None or (not force and now - self._last < _REFRESH_SECONDS):
            return
        self._last = now
        html_text = display.output(self._render())
        if html_text == self._shown:  # e.g. a tick of a grid with nothing new
            return
        self._shown = html_text
        from IPython.display import HTML

        self._handle.update(HTML(html_text))

    def finish(
        self, summary: str, *, provenance: dict | None = None, html_text: str | None = None
    ) -> None:
        if self._handle is None:
            print(summary)
            return
        from IPython.display import HTML

        metadata = {PROVENANCE_MIME: provenance} if provenance else None
        self._handle.update(
            HTML(display.output(html_text or display.note(summary))), metadata=metadata
        )

    async def ticking(self, work):
        """Await `work`, redrawing every second so the elapsed time moves."""
        if self._handle is None:
            return await work
        import asyncio

        async def tick():
            while True:
                await asyncio.sleep(_TICK_SECONDS)
                self.refresh(force=True)

        ticker = asyncio.ensure_future(tick())
        try:
            return await work
        finally:
            ticker.cancel()
