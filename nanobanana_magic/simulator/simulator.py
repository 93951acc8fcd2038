"""The :class:`Simulator`: starts and stops the API and files servers around one state."""

from __future__ import annotations

import threading
from typing import Any

from .config import SIM_API_KEY, SimulatorConfig
from .state import SimulatorState

_POLL_INTERVAL = 0.05  # how quickly serve_forever notices shutdown()


class Simulator:
    """A ToAPIs-compatible server pair on loopback, running in daemon threads.

    ``Simulator(config, *, host, port, files_host, files_port, **knobs)``: ``knobs`` override
    fields of ``config`` (unknown names raise ``TypeError``). Port 0 picks a free port.
    Results and uploads are served by a *separate* files server (:attr:`files_url`), so they
    come from another origin than the API (:attr:`base_url`), as on the real service.

    Use it as a context manager — ``with Simulator(duration=1.0) as base_url: ...`` — or call
    :meth:`start` / :meth:`stop`. Knobs can change while it runs (:meth:`configure`), also from
    another process via ``POST /_sim/config``.
    """

    api_key = SIM_API_KEY

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        files_host: str = "127.0.0.1",
        files_port: int = 0,
        **knobs: Any,
    ) -> None:
        config = config if config is not None else SimulatorConfig()
        if knobs:
            config = config.replace(**knobs)
        self._state = SimulatorState(config)
        self._api_address = (host, port)
        self._files_address = (files_host, files_port)
        self._servers: list = []  # [api, files] SimulatorHTTPServer while running
        self._threads: list[threading.Thread] = []
        self._lifecycle = threading.Lock()
        self._log_requests = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Simulator:
        """Bind both servers and serve them in daemon threads. Idempotent; returns ``self``."""
        from .server import ApiHandler, FilesHandler, SimulatorHTTPServer  # http.server: lazily

        with self._lifecycle:
            if self._servers:
                return self
            files = SimulatorHTTPServer(self._files_address, FilesHandler, self._state, "files")
            try:
                api = SimulatorHTTPServer(self._api_address, ApiHandler, self._state, "api")
            except BaseException:
                files.server_close()
                raise
            self._state.files_url = files.url
            self._servers = [api, files]
            for server in self._servers:
                server.log_requests = self._log_requests
                thread = threading.Thread(
                    target=server.serve_forever,
                    args=(_POLL_INTERVAL,),
                    name=f"nanobanana-sim-{server.label}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both servers and close their open connections. Safe to call more than once."""
        with self._lifecycle:
            servers, threads = self._servers, self._threads
            self._servers, self._threads = [], []
        for server in servers:
            server.shutdown()
            server.server_close()
            server.close_connections()
        for thread in threads:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def __enter__(self) -> str:
        return self.start().base_url

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        return f"<Simulator {where}>"

    # ------------------------------------------------------------------ addresses
    def _server(self, index: int):
        servers = self._servers
        if not servers:
            raise RuntimeError("the simulator is not running; call start() first")
        return servers[index]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the API server."""
        return self._server(0).url

    @property
    def files_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the files server (results and uploads)."""
        return self._server(1).url

    # ------------------------------------------------------------------ behaviour
    @property
    def config(self) -> SimulatorConfig:
        """The current knobs."""
        return self._state.config

    def configure(self, **knobs: Any) -> SimulatorConfig:
        """Change knobs at runtime (thread-safe); returns the effective config.

        Unknown names raise ``TypeError``, bad values ``ValueError``."""
        return self._state.configure(**knobs)

    @property
    def log_requests(self) -> bool:
        """Print one line per request to stderr (the CLI turns this on with ``--verbose``)."""
        return self._log_requests

    @log_requests.setter
    def log_requests(self, value: bool) -> None:
        self._log_requests = bool(value)
        for server in self._servers:
            server.log_requests = self._log_requests

    def stats(self) -> dict[str, Any]:
        """JSON-able counters, per-task details and logged request headers."""
        return self._state.stats()

    def reset_stats(self) -> None:
        self._state.reset_stats()
