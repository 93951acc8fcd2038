"""Simulator knobs: one frozen dataclass, validated on every change.

Every behaviour of the simulator that a test may want to vary is a field of
:class:`SimulatorConfig` (a "knob"). A config is immutable; :meth:`SimulatorConfig.replace`
returns a validated copy with some knobs changed, which is how both the Python API
(``Simulator(**knobs)``, ``Simulator.configure(**knobs)``) and the HTTP admin route
(``POST /_sim/config``) change behaviour at runtime.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

#: The API key to use against the simulator. Any ``sk-…`` token works by default; this is
#: the one the docs and the CLI advertise.
SIM_API_KEY = "sk-simulator-local"

#: Model ids the simulator accepts (contract §2 / §13.2); the given id is echoed back.
ACCEPTED_MODELS = ("gemini-3.1-flash-image-preview", "nano-banana-2", "nano_banana_2")

#: Aspect ratios of contract §3.1 (the ``size`` field).
ASPECT_RATIOS = (
    "1:1",
    "3:2",
    "2:3",
    "4:3",
    "3:4",
    "16:9",
    "9:16",
    "5:4",
    "4:5",
    "21:9",
    "1:4",
    "4:1",
    "1:8",
    "8:1",
)

#: Resolution tiers (``metadata.resolution``) and the side of a square image of that tier.
RESOLUTION_TIERS = {"0.5K": 512, "1K": 1024, "2K": 2048, "4K": 4096}

#: Default-group async limits of contract §8.1, as (max requests, window seconds).
DEFAULT_SUBMIT_LIMITS = ((5, 1.0), (50, 10.0), (300, 60.0))
DEFAULT_QUERY_LIMITS = ((50, 1.0), (500, 10.0), (3000, 60.0))

DEFAULT_PRICES = {"0.5K": 0.025, "1K": 0.025, "2K": 0.030, "4K": 0.040}

#: Knobs that are probabilities of an injected fault, drawn from ``random.Random(seed)``.
FAULT_KNOBS = (
    "submit_429",
    "submit_503",
    "submit_500",
    "submit_drop",
    "status_429",
    "status_5xx",
    "status_drop",
    "download_drop",
    "task_fail",
    "status_malformed_json",
)

PROGRESS_MODES = ("linear", "coarse", "none")
INITIAL_STATUSES = ("queued", "pending")
RESULT_KINDS = ("png", "jpeg", "not_image", "bomb", "huge")
QUOTA_STATUSES = (402, 403)
#: where a completed task's image URLs appear (the contract's shape, then shapes other
#: gateways use; "ambiguous" offers two different lists, "nowhere" none)
RESULT_FIELDS = (
    "result.data",
    "result.images",
    "data",
    "output",
    "url_list",
    "ambiguous",
    "nowhere",
)
MODEL_REFUSAL_STATUSES = (400, 503)
RESET_FORMATS = ("seconds", "epoch")


@dataclass(frozen=True)
class SimulatorConfig:
    """All simulator behaviour knobs. Times are in seconds, money in dollars.

    Timing: a task waits ``queue_delay`` in its initial status (``initial_status``), then runs
    for ``duration`` (± ``duration_jitter`` as a fraction, uniform) and ends ``completed`` or
    ``failed``. ``max_running`` caps how many run at once; the rest wait in submit order.

    Faults are probabilities 0..1 drawn from ``random.Random(seed)``; the docstring of
    ``nanobanana_magic.simulator`` says what each one does.
    """

    # -- task timing and status presentation
    duration: float = 2.0
    duration_jitter: float = 0.0
    queue_delay: float = 0.2
    progress_mode: str = "linear"
    max_running: int | None = None
    initial_status: str = "queued"
    unknown_status: str | None = None
    top_level_url: bool = True
    result_field: str = "result.data"

    # -- what a real gateway may decide differently (contract §12)
    #: the most images one task may ask for (1: the gateway refuses n > 1 with a 400)
    max_n: int = 4
    accepted_models: tuple[str, ...] = ACCEPTED_MODELS
    #: how an unknown model is refused: 400 invalid_request, or 503 model_not_found
    model_refusal_status: int = 400

    # -- rate limits (contract §8.1)
    rate_limit: bool = False
    #: X-RateLimit-Limit/-Remaining/-Reset on admitted answers too (with rate_limit)
    rate_limit_headers: bool = False
    #: X-RateLimit-Reset as seconds left, or as the epoch second of the reset
    rate_limit_reset: str = "seconds"
    submit_limits: tuple[tuple[int, float], ...] = DEFAULT_SUBMIT_LIMITS
    query_limits: tuple[tuple[int, float], ...] = DEFAULT_QUERY_LIMITS

    # -- injected faults
    seed: int = 0
    submit_429: float = 0.0
    submit_503: float = 0.0
    submit_500: float = 0.0
    submit_drop: float = 0.0
    status_429: float = 0.0
    status_5xx: float = 0.0
    status_drop: float = 0.0
    download_drop: float = 0.0
    task_fail: float = 0.0
    retry_after: float = 1.0
    download_fail_first: bool = False
    url_ttl: float | None = None

    # -- money
    balance: float | None = None
    prices: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    quota_status: int = 402

    # -- hostile server behaviour
    result_kind: str = "png"
    photo_folder: str | None = None  # results are photographs from here (see images.py)
    huge_bytes: int = 80_000_000
    status_malformed_json: float = 0.0
    redirect_files_to: str | None = None
    #: deliver images of this aspect ratio / tier whatever was asked (a wrong-size server)
    deliver_size: str | None = None
    deliver_resolution: str | None = None

    # -- auth
    api_keys: frozenset[str] | None = None

    def __post_init__(self) -> None:
        # Normalise container knobs so that lists from JSON work and the config stays hashable
        # in spirit (immutable containers), then validate everything.
        object.__setattr__(self, "submit_limits", _limits("submit_limits", self.submit_limits))
        object.__setattr__(self, "query_limits", _limits("query_limits", self.query_limits))
        object.__setattr__(self, "prices", _prices(self.prices))
        object.__setattr__(self, "accepted_models", _models(self.accepted_models))
        if self.api_keys is not None:
            if isinstance(self.api_keys, str):
                keys = frozenset([self.api_keys])
            else:
                keys = frozenset(self.api_keys)
            if not all(isinstance(k, str) and k for k in keys):
                raise ValueError("api_keys must be a collection of non-empty strings")
            object.__setattr__(self, "api_keys", keys)
        self._validate()

    # ------------------------------------------------------------------ public helpers
    @classmethod
    def knob_names(cls) -> tuple[str, ...]:
        """Names of all knobs, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **knobs: Any) -> SimulatorConfig:
        """Return a validated copy with ``knobs`` changed.

        Raises ``TypeError`` naming the first unknown knob, ``ValueError`` for a bad value.
        """
        names = set(self.knob_names())
        for name in knobs:
            if name not in names:
                raise TypeError(f"unknown simulator knob {name!r}")
        return dataclasses.replace(self, **knobs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot (tuples become lists, the key set a sorted list)."""
        out: dict[str, Any] = {}
        for name in self.knob_names():
            value = getattr(self, name)
            if name in ("submit_limits", "query_limits"):
                value = [list(pair) for pair in value]
            elif name == "api_keys" and value is not None:
                value = sorted(value)
            elif name == "prices":
                value = dict(value)
            out[name] = value
        return out

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        for name in ("duration", "queue_delay"):
            _non_negative(name, getattr(self, name))
        _number("duration_jitter", self.duration_jitter)
        if not 0.0 <= self.duration_jitter <= 1.0:
            raise ValueError("duration_jitter must be a fraction between 0 and 1")
        _choice("progress_mode", self.progress_mode, PROGRESS_MODES)
        _choice("initial_status", self.initial_status, INITIAL_STATUSES)
        _choice("result_kind", self.result_kind, RESULT_KINDS)
        _choice("quota_status", self.quota_status, QUOTA_STATUSES)
        _choice("result_field", self.result_field, RESULT_FIELDS)
        _choice("model_refusal_status", self.model_refusal_status, MODEL_REFUSAL_STATUSES)
        _choice("rate_limit_reset", self.rate_limit_reset, RESET_FORMATS)
        if (
            isinstance(self.max_n, bool)
            or not isinstance(self.max_n, int)
            or not 1 <= self.max_n <= 4
        ):
            raise ValueError("max_n must be an integer from 1 to 4")
        if self.max_running is not None:
            if (
                isinstance(self.max_running, bool)
                or not isinstance(self.max_running, int)
                or self.max_running < 1
            ):
                raise ValueError("max_running must be None or an integer >= 1")
        if self.unknown_status is not None:
            if not isinstance(self.unknown_status, str) or not self.unknown_status:
                raise ValueError("unknown_status must be None or a non-empty string")
            if self.unknown_status.lower() in ("completed", "failed"):
                raise ValueError("unknown_status must not be a final status")
        for name in ("top_level_url", "rate_limit", "rate_limit_headers", "download_fail_first"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError("seed must be an integer")
        for name in FAULT_KNOBS:
            value = getattr(self, name)
            _number(name, value)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1")
        _non_negative("retry_after", self.retry_after)
        if self.url_ttl is not None:
            _non_negative("url_ttl", self.url_ttl)
        if self.balance is not None:
            _non_negative("balance", self.balance)
        if (
            isinstance(self.huge_bytes, bool)
            or not isinstance(self.huge_bytes, int)
            or self.huge_bytes < 64
        ):
            raise ValueError("huge_bytes must be an integer >= 64")
        if self.deliver_size is not None:
            _choice("deliver_size", self.deliver_size, ASPECT_RATIOS)
        if self.deliver_resolution is not None:
            _choice("deliver_resolution", self.deliver_resolution, tuple(RESOLUTION_TIERS))
        if self.photo_folder is not None and not isinstance(self.photo_folder, str):
            raise ValueError("photo_folder must be None or the path of a folder of images")
        if self.redirect_files_to is not None:
            if not isinstance(self.redirect_files_to, str) or not self.redirect_files_to.startswith(
                ("http://", "https://")
            ):
                raise ValueError("redirect_files_to must be None or an http(s) URL base")


def parse_knob(text: str) -> tuple[str, Any]:
    """``"duration=12"`` → ``("duration", 12)``: the value read as JSON when it is JSON
    (numbers, true/false, null, lists), else kept as the bare string (``result_kind=jpeg``).
    Raises ``ValueError`` when there is no ``=`` or no name."""
    import json

    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"expected KNOB=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return name.strip(), value


# ---------------------------------------------------------------------- value checks
def _number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _non_negative(name: str, value: Any) -> None:
    _number(name, value)
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def _models(value: Any) -> tuple[str, ...]:
    models = (value,) if isinstance(value, str) else tuple(value)
    if not models or not all(isinstance(m, str) and m for m in models):
        raise ValueError("accepted_models must be a non-empty list of model ids")
    return models


def _limits(name: str, value: Any) -> tuple[tuple[int, float], ...]:
    """Accept any sequence of (count, window_seconds) pairs, e.g. lists decoded from JSON."""
    try:
        pairs = tuple((pair[0], pair[1]) for pair in value)
    except (TypeError, IndexError, KeyError):
        raise ValueError(f"{name} must be a list of (count, window_seconds) pairs") from None
    for count, window in pairs:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"{name}: each count must be an integer >= 1, got {count!r}")
        _number(name, window)
        if window <= 0:
            raise ValueError(f"{name}: each window must be > 0 seconds, got {window!r}")
    return tuple((int(c), float(w)) for c, w in pairs)


def _prices(value: Any) -> dict[str, float]:
    """A fresh dict: the given tier prices merged over the defaults."""
    if not isinstance(value, dict):
        raise ValueError("prices must be a mapping of resolution tier to dollars")
    out = dict(DEFAULT_PRICES)
    for tier, price in value.items():
        if tier not in RESOLUTION_TIERS:
            raise ValueError(f"prices: unknown resolution tier {tier!r}")
        _non_negative(f"prices[{tier!r}]", price)
        out[tier] = float(price)
    return out
