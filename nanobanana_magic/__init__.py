"""nanobanana-magic: explore and tune Nano Banana 2 image generation inside Jupyter.

    %load_ext nanobanana_magic        # the %%banana / %banana magics
    from nanobanana_magic import generate, sweep, panel

Heavy parts (Pillow, the simulator, widgets) load only when used.
"""
from __future__ import annotations

from ._version import __version__
from .errors import *  # noqa: F401,F403  (the exception tree)
from .errors import __all__ as _error_names
from .request import API_REFERENCE_MODEL, DEFAULT_MODEL, RESOLUTIONS, SIZES, ImageRequest
from .run import Run, RunImage

__all__ = ["__version__", "generate", "agenerate", "resume", "aresume", "sweep", "asweep",
           "SweepRun", "BudgetExceededError", "panel", "ImageRequest", "Run", "RunImage", "SIZES", "RESOLUTIONS",
           "DEFAULT_MODEL", "API_REFERENCE_MODEL", "load_ipython_extension",
           "unload_ipython_extension", *_error_names]

_LAZY = {"sweep": "sweep", "asweep": "sweep", "SweepRun": "sweep",
         "BudgetExceededError": "sweep", "panel": "panel",
         # the engine (asyncio, httpx clients) loads on first use, keeping %load_ext fast
         "generate": "api", "agenerate": "api", "resume": "api", "aresume": "api"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython):
    from .magics import load_ipython_extension as load
    load(ipython)


def unload_ipython_extension(ipython):
    from .magics import unload_ipython_extension as unload
    unload(ipython)
