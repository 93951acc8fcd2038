"""nanobanana-magic: explore and tune Nano Banana 2 image generation inside Jupyter.

    %load_ext nanobanana_magic        # the %%banana / %banana magics
    from nanobanana_magic import generate, sweep, panel

The implementation lives in private modules (`_engine`, `_client`, `_store`, ...); this
namespace is the public interface. Heavy parts (the engine and its HTTP client, Pillow,
the simulator, widgets) load on first use, so `import nanobanana_magic` and `%load_ext`
stay fast.
"""

from __future__ import annotations

import importlib

from ._defaults import DEFAULT_MODEL
from ._errors import *  # noqa: F403  (the exception tree)
from ._errors import __all__ as _error_names
from ._request import API_REFERENCE_MODEL, RESOLUTIONS, SIZES, ImageRequest
from ._run import Run, RunImage
from ._version import __version__

#: public name -> the private module that defines it, imported on first access
_LAZY = {
    "generate": "_generate",
    "agenerate": "_generate",
    "resume": "_generate",
    "aresume": "_generate",
    "sweep": "_sweep",
    "asweep": "_sweep",
    "SweepRun": "_sweep_result",
    "SweepPlan": "_sweep_plan",
    "BudgetExceededError": "_sweep_plan",
    "panel": "_panel",
    "request_from_image": "_reproduce",
    "compare": "_compare",
    "gallery": "_gallery",
    "history": "_history",
    "show": "_history",
}

__all__ = [
    "__version__",
    *_LAZY,
    "ImageRequest",
    "Run",
    "RunImage",
    "SIZES",
    "RESOLUTIONS",
    "DEFAULT_MODEL",
    "API_REFERENCE_MODEL",
    "load_ipython_extension",
    "unload_ipython_extension",
    *_error_names,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython) -> None:
    from ._extension import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    from ._extension import unload_ipython_extension as unload

    unload(ipython)
