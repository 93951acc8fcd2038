"""Where the API lives and which key to use: arguments first, then the environment.

The key is wrapped in `Secret`, whose repr and str never show it; only the client's
Authorization header ever sees the plain value.
"""

from __future__ import annotations

import ipaddress
import os
import re
from urllib.parse import urlparse

from ._errors import ConfigurationError, remember_secret

DEFAULT_BASE_URL = "https://toapis.com"
BASE_URL_ENV = "TOAPIS_BASE_URL"
API_KEY_ENV = "TOAPIS_API_KEY"
OUTPUT_DIR_ENV = "NANOBANANA_OUTPUT_DIR"
DEFAULT_OUTPUT_DIR = "banana_outputs"

NO_KEY_HELP = (
    "No ToAPIs API key is set: export TOAPIS_API_KEY=sk-... (or run `%banana login` in a "
    "notebook, or pass api_key=...); to try everything without a key, use the built-in "
    "simulator with `%banana use sim` or `nanobanana sim`."
)


class Secret:
    """A string that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        remember_secret(value)  # redacted from every message, journal line and manifest

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


#: a host name or IP address, nothing that a shell or a string literal could act on
_HOST = re.compile(r"[a-z0-9._-]+|[0-9a-f:.]+")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(value: str | None = None) -> str:
    """The API base URL (argument, then TOAPIS_BASE_URL, then the default), checked."""
    url = (value or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")
    parsed = urlparse(url)
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or not _HOST.fullmatch(parsed.hostname)
        or any(c.isspace() or not c.isprintable() for c in url)
    ):
        raise ConfigurationError(
            f"The base URL {url[:80]!r} is not an http(s) URL; use e.g. {DEFAULT_BASE_URL}."
        )
    if parsed.scheme == "http" and not is_loopback(parsed.hostname):
        raise ConfigurationError(
            f"Refusing plain http:// for {parsed.hostname}: the key would travel unencrypted; "
            "use https:// (plain http is allowed only on loopback, e.g. the simulator)."
        )
    if parsed.path not in ("", "/") or parsed.query:
        if parsed.path.rstrip("/") == "/v1":
            return url[: -len("/v1")]
        raise ConfigurationError(
            f"The base URL should be just scheme and host, like {DEFAULT_BASE_URL}; "
            f"drop {parsed.path or parsed.query!r}."
        )
    return url


def resolve_api_key(value: str | Secret | None = None) -> Secret:
    """The API key (argument, then TOAPIS_API_KEY), checked for obvious damage."""
    if isinstance(value, Secret):
        return value
    key = value if value is not None else os.environ.get(API_KEY_ENV)
    if key is None or not str(key).strip():
        raise ConfigurationError(NO_KEY_HELP)
    key = str(key).strip()
    if key.lower().startswith("bearer "):
        raise ConfigurationError("Give the key without the 'Bearer ' prefix; the client adds it.")
    if any(c.isspace() for c in key) or not key.isascii() or not key.isprintable():
        raise ConfigurationError(
            "The API key looks malformed (it contains spaces or unusual "
            "characters); copy it again from toapis.com/console/token."
        )
    if len(key) < 8:
        raise ConfigurationError(
            "The API key is too short to be a ToAPIs key; copy the whole "
            "key (it starts with sk-) from toapis.com/console/token."
        )
    return Secret(key)


def resolve_output_dir(value: str | os.PathLike[str] | None = None) -> str:
    return os.fspath(value or os.environ.get(OUTPUT_DIR_ENV) or DEFAULT_OUTPUT_DIR)
