"""The panel's session: where its requests go, with which settings, and its simulator.

With the magic (`%banana panel`) the panel shares the magic's engine, defaults, budget
and notebook namespace; otherwise explicit arguments and the environment decide. A
simulator the caller asked for (`panel(simulator=True)`) is started and stopped here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._defaults import DEFAULT_BUDGET
from ._engine import Engine
from ._engine_settings import engine_from_settings
from ._errors import BananaError
from ._pricing import DEFAULT_PRICES
from ._ratelimit import LimiterRegistry
from ._request import default_model
from ._store import Store


class PanelSession:
    """The engine, defaults and namespace behind a panel.

    With `magic` (a `Banana` magics instance) the panel shares its settings: its engine
    (key, base URL, output folder), request defaults, budget and the notebook namespace
    for `{name}` prompts; the engine is asked for anew at each Generate, so
    `%banana use ...` applies to an open panel. Without it, explicit arguments and the
    environment decide. `simulator=True` (or a dict of simulator knobs, or a running
    `Simulator`) chooses the built-in simulator explicitly.
    """

    def __init__(
        self,
        magic=None,
        *,
        simulator: Any = None,
        output_dir=None,
        api_key=None,
        base_url=None,
        budget: float | None = None,
    ):
        self.magic = magic
        self.output_dir = os.fspath(output_dir) if output_dir else None
        self._api_key, self._base_url = api_key, base_url
        self._limiters: LimiterRegistry | None = None  # shared by the panel's own engines
        self._simulator, self._owns_simulator = None, False
        if simulator is not None and simulator is not False:
            from .simulator import SIM_API_KEY, Simulator

            if isinstance(simulator, Simulator):
                self._simulator = simulator
            else:
                knobs = simulator if isinstance(simulator, Mapping) else {}
                self._simulator = Simulator(**knobs).start()
                self._owns_simulator = True
            self._api_key, self._base_url = SIM_API_KEY, self._simulator.base_url
        self.budget = budget if budget is not None else getattr(magic, "budget", DEFAULT_BUDGET)

    @property
    def simulator(self):
        """The simulator behind the panel (its own, or the magic's `%banana use sim`)."""
        if self._simulator is not None:
            return self._simulator
        return getattr(self.magic, "simulator", None)

    @property
    def prices(self) -> Mapping[str, float]:
        return getattr(self.magic, "prices", None) or DEFAULT_PRICES

    def store(self) -> Store:
        if self.magic is not None:
            return self.magic.store(self.output_dir)
        return Store(self.output_dir)

    def engine(self) -> Engine:
        if self.magic is not None and self._simulator is None:
            engine = self.magic.engine()
            if self.output_dir:
                engine.store = self.store()
            return engine
        if self._limiters is None:
            self._limiters = LimiterRegistry()
        return engine_from_settings(
            self.magic,
            store=self.store(),
            api_key=self._api_key,
            base_url=self._base_url,
            limiters=self._limiters,
        )

    def defaults(self) -> dict:
        if self.magic is not None:
            return dict(self.magic.request_defaults())
        return {"model": default_model()}

    def namespace(self) -> Mapping[str, Any]:
        shell = getattr(self.magic, "shell", None)
        return shell.user_ns if shell is not None else {}

    def note_spent(self, runs) -> None:
        """Count these runs in the magic's `%banana cost` (simulated ones apart)."""
        if self.magic is not None:
            self.magic.note_spent(runs)

    def describe(self) -> tuple[str, str]:
        """Where requests go and the output folder, in words (never the key)."""
        try:
            engine = self.engine()
        except BananaError as exc:
            return str(exc), ""
        if self.simulator is not None and engine.base_url == self.simulator.base_url:
            kind = "the built-in simulator: SIMULATED images, nothing paid"
        elif engine.simulated:
            kind = f"{engine.base_url} (loopback: images labelled simulated)"
        else:
            kind = engine.base_url
        return f"Requests go to {kind}.", f"Output folder: {engine.store.root}"

    def close(self) -> None:
        if self._owns_simulator and self._simulator is not None:
            self._simulator.stop()
        self._simulator = None
