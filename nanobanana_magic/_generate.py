"""The Python interface: `generate`, `resume` and their async twins.

Each sync function is a thin wrapper over its async twin (see `_sync.run_sync`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from ._addresses import maybe_image_reference
from ._defaults import DEFAULT_N
from ._engine import Engine, Listener
from ._engine_settings import engine_from_settings
from ._request import ImageRequest, default_model
from ._run import Run
from ._store import Store
from ._sync import blocking


def make_engine(*, output_dir=None, api_key=None, base_url=None, **options) -> Engine:
    return engine_from_settings(
        store=Store(output_dir), api_key=api_key, base_url=base_url, **options
    )


async def agenerate(
    prompt: str,
    *,
    model: str | None = None,
    size: str | None = None,
    n: int = DEFAULT_N,
    resolution: str | None = None,
    reference_images: Iterable[str | os.PathLike] | str = (),
    output_dir: str | os.PathLike | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    cache: bool = True,
    variant: str | None = None,
    google_search: bool = False,
    google_image_search: bool = False,
    metadata: Mapping[str, object] | None = None,
    listener: Listener | None = None,
    **engine_options,
) -> Run:
    """Generate images for one prompt and return the Run (raises if it failed).

    `reference_images` are files, URLs, stored images (`run.images[0]`) or their
    addresses (`"last#0"`); a stored image is sent as its full-size file. In a Jupyter
    notebook, unless a `listener` takes the engine's events, a live display shows the
    task's progress the way `%%banana` does (state, time elapsed and left, estimate).
    """
    engine = make_engine(
        output_dir=output_dir, api_key=api_key, base_url=base_url, **engine_options
    )
    if isinstance(reference_images, (str, os.PathLike)):
        reference_images = [reference_images]
    request = ImageRequest.create(
        prompt,
        model=default_model() if model is None else model,
        size=size,
        n=n,
        resolution=resolution,
        reference_images=[maybe_image_reference(engine.store, r) for r in reference_images],
        google_search=google_search,
        google_image_search=google_image_search,
        extra_metadata=metadata,
        variant=variant,
    )
    (run,) = await _run_with_display(engine, [request], listener, cache)
    if run.exception is not None:
        raise run.exception
    return run


generate = blocking(agenerate)


async def _run_with_display(
    engine: Engine, requests: list[ImageRequest], listener: Listener | None, cache: bool
) -> list[Run]:
    """Run the requests; in a Jupyter kernel with no listener of the caller's, through the
    magics' live view (the same rows, words and header as a `%%banana` cell)."""
    from ._live import kernel_shell

    shell = kernel_shell() if listener is None else None
    if shell is None:
        return await engine.run(requests, listener=listener, cache=cache)
    from ._plan import plan_batch
    from ._runner import LiveView, run_batch

    view = LiveView(shell, plan_batch(engine, requests, cache=cache))
    return await run_batch(lambda on: engine.run(requests, listener=on, cache=cache), view)


async def aresume(
    *,
    output_dir=None,
    api_key=None,
    base_url=None,
    listener: Listener | None = None,
    **engine_options,
) -> list[Run]:
    """Collect tasks that were submitted but never collected (e.g. after a kernel died)."""
    engine = make_engine(
        output_dir=output_dir, api_key=api_key, base_url=base_url, **engine_options
    )
    return await engine.resume(listener=listener)


resume = blocking(aresume)
