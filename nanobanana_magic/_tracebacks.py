"""Full tracebacks on request, for one IPython shell.

Our exceptions render as one paragraph (`_render_traceback_`). For debugging, the magic's
`show_tracebacks` setting registers a custom exception handler on its own shell that shows
the full traceback of those exceptions instead; turning it off restores whatever handler
the shell had before. Nothing process-wide changes, so two shells (or a test suite) never
see each other's choice.
"""

from __future__ import annotations

from typing import Any


class FullTracebacks:
    """Switches full tracebacks of `classes` on and off in `shell`."""

    def __init__(self, shell: Any, classes: tuple[type[BaseException], ...]):
        self.shell = shell
        self.classes = classes
        self._before: tuple[tuple[type[BaseException], ...], Any] | None = None

    @property
    def on(self) -> bool:
        return self._before is not None

    def enable(self) -> None:
        if self.on or self.shell is None or not hasattr(self.shell, "set_custom_exc"):
            return
        earlier_classes, earlier_handler = self.shell.custom_exceptions, self.shell.CustomTB
        self._before = (earlier_classes, earlier_handler)
        classes = self.classes

        def handler(shell: Any, etype: Any, value: Any, tb: Any, tb_offset: Any = None) -> Any:
            if not isinstance(value, classes):  # someone else's custom exception
                return earlier_handler(etype, value, tb, tb_offset=tb_offset)
            stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
            shell._showtraceback(etype, value, stb)
            return stb

        self.shell.set_custom_exc(tuple(earlier_classes) + classes, handler)

    def disable(self) -> None:
        if self._before is None:
            return
        self.shell.custom_exceptions, self.shell.CustomTB = self._before
        self._before = None
