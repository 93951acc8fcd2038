"""One display that updates in place while tasks run, for the magics.

In Jupyter it is a display handle redrawn as engine events arrive (throttled) and on a
ticking clock; in terminal IPython nothing is drawn until a one-line summary at the end.
"""

from __future__ import annotations

import time

from . import _display as display
from ._display import PROVENANCE_MIME
from ._wording import wrapped

_REFRESH_SECONDS = 0.25  # redraws at most this often, whatever the number of tasks
_TICK_SECONDS = 1.0  # the elapsed time ticks this often even when nothing happens


def in_kernel(shell) -> bool:
    """True inside a Jupyter kernel (rich display), False in terminal IPython."""
    return getattr(shell, "kernel", None) is not None


def kernel_shell():
    """The shell of the Jupyter kernel this code runs in, or None (a script, terminal
    IPython). IPython is not imported for the question: without it there is no kernel."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if in_kernel(shell) else None


class LiveStatus:
    """One display that updates in place while tasks run (Jupyter).

    `start()` shows it, `refresh()` redraws it (at most every 0.25 s: a forced refresh
    that comes sooner is drawn when that time is up, so a thousand finishing tasks cost a
    few redraws a second, not a thousand) and `finish(summary)` replaces it with a
    one-line summary carrying provenance metadata.
    In terminal IPython nothing is drawn while tasks run and `finish` prints the summary.
    """

    def __init__(self, shell, render):
        self._render = render
        self._rich = in_kernel(shell)
        self._handle = None
        self._slot = None  # the empty output kept for a grid's static half
        self._last = 0.0
        self._shown = ""
        self._pending = None  # a redraw scheduled for when the throttle allows it
        self.redraws = 0

    def start(self, *, grid_slot: bool = False) -> LiveStatus:
        """Show the display; with `grid_slot`, an empty output after it too, which the
        static half of a grid may fill at the end (`finish_as_grid`)."""
        if self._rich:
            from IPython.display import HTML
            from IPython.display import display as show

            self._handle = show(HTML(display.output(self._render())), display_id=True)
            if grid_slot:
                self._slot = show({"text/plain": ""}, raw=True, display_id=True)
        return self

    def refresh(self, force: bool = False) -> None:
        """Redraw now if the last redraw is old enough; if not, a forced refresh (something
        finished) is drawn as soon as it is."""
        if self._handle is None:
            return
        wait = self._last + _REFRESH_SECONDS - time.monotonic()
        if wait > 0:
            if force and self._pending is None:
                self._schedule(wait)
            return
        if self._pending is not None:  # drawn now: the scheduled redraw has nothing to add
            self._pending.cancel()
            self._pending = None
        self._draw()

    def _schedule(self, wait: float) -> None:
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop to wait on: the next refresh or tick draws it
        self._pending = loop.call_later(wait, self._draw_pending)

    def _draw_pending(self) -> None:
        self._pending = None
        if self._handle is not None:
            self._draw()

    def _draw(self) -> None:
        if self._handle is None:
            return
        self._last = time.monotonic()
        html_text = display.output(self._render())
        if html_text == self._shown:  # e.g. a tick of a grid with nothing new
            return
        self._shown = html_text
        from IPython.display import HTML

        self.redraws += 1
        self._handle.update(HTML(html_text))
        # the throttle counts from when the redraw was sent: a render slowed by a busy
        # machine does not crowd the next one into the same fraction of a second
        self._last = time.monotonic()

    def finish(
        self, summary: str, *, provenance: dict | None = None, html_text: str | None = None
    ) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._handle is None:
            print(wrapped(summary))
            return
        from IPython.display import HTML

        metadata = {PROVENANCE_MIME: provenance} if provenance else None
        self._handle.update(
            HTML(display.output(html_text or display.note(summary))), metadata=metadata
        )

    def finish_as_grid(self, subject) -> bool:
        """End as the subject's grid with rating controls (`_rating_grid`: its view here,
        its static half in the slot after it), where widgets render, a slot was kept and
        it has images to rate; False (nothing done) otherwise."""
        from ._rating_grid import GridOutput, can_rate

        if self._handle is None or self._slot is None or not can_rate(subject):
            return False
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        GridOutput(
            subject, display_id=self._handle.display_id, tail_id=self._slot.display_id
        ).replace()
        return True

    def freeze(self) -> None:
        """Draw the current state one last time and stop redrawing; no summary (the
        cell's error that follows says what happened)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._draw()

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
