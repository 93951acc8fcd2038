"""`%load_ext nanobanana_magic` and `%unload_ext`: register the magics, and clean up."""

from __future__ import annotations

from ._magics import Banana

_magics: Banana | None = None


def load_ipython_extension(ipython) -> None:
    global _magics
    _magics = Banana(shell=ipython)
    ipython.register_magics(_magics)


def unload_ipython_extension(ipython) -> None:
    global _magics
    if _magics is None:
        return
    _magics.stop_simulator()
    _magics.disable_full_tracebacks()
    _magics.cancel_background()
    manager = ipython.magics_manager
    for kind in ("line", "cell"):
        manager.magics[kind].pop("banana", None)
    manager.registry.pop("Banana", None)
    ipython.configurables = [c for c in ipython.configurables if c is not _magics]
    _magics = None
