"""HTTP layer: the API server and the files server (stdlib ``http.server``).

Both are ``ThreadingHTTPServer`` s speaking HTTP/1.1 with keep-alive, one daemon thread per
connection, and always a ``Content-Length``. Handlers translate requests into calls on the
shared :class:`~.state.SimulatorState` and its answers into responses. "Dropping" a request
means closing the connection without writing a single byte of response.
"""

from __future__ import annotations

import json
import math
import socket
import socketserver
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import images, responses
from .responses import Reply
from .state import MARKER_POLICY, ResultFile, SimulatorState
from .uploads import MAX_UPLOAD_BYTES, MultipartError, parse_multipart, sniff_image_type
from .validation import InvalidRequest, UnknownModel, parse_json_object, parse_submit

MAX_BODY_BYTES = 64_000_000  # larger bodies are refused with 413 and the connection closed
_STREAM_CHUNK = 1 << 20
_IMAGE_MODEL_HINTS = ("image", "banana")


class SimulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server bound to a :class:`SimulatorState` that can close its open
    keep-alive connections on shutdown."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 resets connections when many clients connect at once

    def __init__(
        self, address: tuple[str, int], handler: type, state: SimulatorState, label: str
    ) -> None:
        self.state = state
        self.label = label
        self.log_requests = False
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (or are cut off by stop()) are normal here; anything else is a bug.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, (bytes, bytearray)) else host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Shut down every open client connection (idle keep-alive ones included)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """Shared plumbing: body reading, header logging, JSON answers, drops, error safety."""

    protocol_version = "HTTP/1.1"
    server_version = "ToAPIs-Simulator/1.0"
    timeout = 120  # seconds an idle keep-alive connection is kept
    server: SimulatorHTTPServer
    #: X-RateLimit-* headers for the answer to the current request (reset per request)
    _limit_headers: dict[str, str] = {}  # replaced per request, never mutated

    # ---------------------------------------------------------------- connection lifecycle
    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            sys.stderr.write(f"[sim:{self.server.label}] {self.address_string()} {format % args}\n")

    @property
    def state(self) -> SimulatorState:
        return self.server.state

    # ---------------------------------------------------------------- dispatch
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self._responded = False
        self._limit_headers = {}
        self.state.record_request(self.server.label, method, self.path, self.headers.items())
        body = self._read_body()
        if body is None:
            return
        url = urlsplit(self.path)
        try:
            self.route(method, url.path, parse_qs(url.query), body)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception:  # a simulator bug: say so instead of hanging the client
            traceback.print_exc()
            if not self._responded:
                self.send_json(
                    Reply(
                        500,
                        {
                            "error": {
                                "code": "simulator_error",
                                "message": "internal simulator error",
                                "type": "server_error",
                            }
                        },
                    )
                )
            self.close_connection = True

    def route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        raise NotImplementedError

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked); ``None`` if refused (answer sent)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self.send_json(responses.body_too_large(MAX_BODY_BYTES))
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                size = -1
            total += max(size, 0)
            if size < 0 or total > MAX_BODY_BYTES:
                self.close_connection = True
                self.send_json(responses.body_too_large(MAX_BODY_BYTES))
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # ---------------------------------------------------------------- answering
    def send_bytes(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self._responded = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**self._limit_headers, **(headers or {})}.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, reply: Reply) -> None:
        body = json.dumps(reply.body, separators=(",", ":")).encode("utf-8")
        self.send_bytes(reply.status, body, "application/json", reply.headers)

    def drop(self) -> None:
        """Close the connection without any response."""
        self._responded = True
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class ApiHandler(_Handler):
    """``/v1/...`` endpoints of contract §3–§6 plus the ``/_sim/...`` admin routes."""

    def route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        path = path.rstrip("/") or "/"
        if path == "/v1/images/generations" and method == "POST":
            return self.submit(body)
        if path.startswith("/v1/images/generations/") and method == "GET":
            task_id = path[len("/v1/images/generations/") :]
            if task_id and "/" not in task_id:
                return self.status(task_id)
        if path == "/v1/uploads/images" and method == "POST":
            return self.upload(body)
        if path in ("/v1/balance", "/balance") and method == "GET":
            return self.balance()
        if path == "/v1/chat/completions" and method == "POST":
            return self.chat(body)
        if path == "/_sim/config" and method in ("GET", "POST"):
            return self.admin_config(body if method == "POST" else None)
        if path == "/_sim/stats" and method == "GET":
            return self.send_json(Reply(200, self.state.stats()))
        if path == "/_sim/reset" and method == "POST":
            self.state.reset_stats()
            return self.send_json(Reply(200, {"ok": True}))
        self.send_json(responses.route_not_found(method, path))

    # ---------------------------------------------------------------- helpers
    def _authenticate(self) -> str | None:
        """The caller's key, or ``None`` after answering 401."""
        key = self.state.authenticate(self.headers.get("Authorization"))
        if key is None:
            self.send_json(responses.unauthorized())
        return key

    def _rate_limited(self, category: str) -> bool:
        """Answer 429 and return True when the rate limiter refuses this request."""
        verdict = self.state.check_rate_limit(category)
        if verdict is None:
            return False
        if verdict.allowed:
            self._limit_headers = self._rate_headers(verdict)
            return False
        wait = verdict.reset_seconds
        self.send_json(
            responses.rate_limited(
                category,
                verdict.limit,
                verdict.remaining,
                wait,
                str(wait),
                f"Rate limit exceeded for {category}: at most {verdict.limit} requests per "
                f"{verdict.window:g} s; retry after {wait} s.",
            )
        )
        return True

    def _rate_headers(self, verdict) -> dict[str, str]:
        """X-RateLimit-* of an admitted request, when the rate_limit_headers knob is on."""
        config = self.state.config
        if not config.rate_limit_headers:
            return {}
        reset = verdict.reset_seconds
        if config.rate_limit_reset == "epoch":
            reset = math.ceil(time.time() + reset)
        return {
            "X-RateLimit-Limit": str(verdict.limit),
            "X-RateLimit-Remaining": str(verdict.remaining),
            "X-RateLimit-Reset": str(reset),
        }

    def _injected_429(self, category: str) -> None:
        config = self.state.config
        limits = config.submit_limits if category == "async_submit" else config.query_limits
        retry_after = responses.retry_after_value(config.retry_after)
        self.send_json(
            responses.rate_limited(
                category,
                limits[0][0] if limits else 0,
                0,
                int(retry_after),
                retry_after,
                f"Rate limit exceeded for {category} (simulated); retry after {retry_after} s.",
            )
        )

    # ---------------------------------------------------------------- endpoints
    def submit(self, body: bytes) -> None:
        """``POST /v1/images/generations``: auth → rate limit → faults → validation → policy →
        balance → create → (``submit_500`` after creating) → 200 task object."""
        state = self.state
        state.count("submit_requests")
        key = self._authenticate()
        if key is None or self._rate_limited("async_submit"):
            return
        fault = state.first_fault(("submit_drop", "submit_429", "submit_503"))
        if fault == "submit_drop":
            return self.drop()
        if fault == "submit_429":
            return self._injected_429("async_submit")
        if fault == "submit_503":
            return self.send_json(
                responses.rate_limit_unavailable(
                    responses.retry_after_value(state.config.retry_after)
                )
            )
        config = state.config
        try:
            request = parse_submit(body, models=config.accepted_models, max_n=config.max_n)
        except UnknownModel as error:
            if config.model_refusal_status == 503:
                return self.send_json(responses.model_not_found(error.model))
            return self.send_json(responses.invalid_request(error.param, error.message))
        except InvalidRequest as error:
            return self.send_json(responses.invalid_request(error.param, error.message))
        if MARKER_POLICY in request.prompt:
            return self.send_json(
                responses.content_policy(
                    "The prompt was rejected by the content policy (simulated)."
                )
            )
        refusal = state.charge(request)
        if refusal is not None:
            return self.send_json(refusal)
        task = state.create_task(key, request)
        state.prerender(task)
        if state.draw_fault("submit_500"):
            return self.send_json(responses.server_error(500))
        self.send_json(Reply(200, state.submit_body(task)))

    def status(self, task_id: str) -> None:
        """``GET /v1/images/generations/{id}``: auth → rate limit → faults → task object."""
        state = self.state
        state.count("status_requests")
        key = self._authenticate()
        if key is None or self._rate_limited("async_query"):
            return
        fault = state.first_fault(("status_drop", "status_429", "status_5xx"))
        if fault == "status_drop":
            return self.drop()
        if fault == "status_429":
            return self._injected_429("async_query")
        if fault == "status_5xx":
            status = state.next_5xx_status()
            retry_after = (
                responses.retry_after_value(state.config.retry_after) if status == 503 else None
            )
            return self.send_json(responses.server_error(status, retry_after=retry_after))
        task = state.poll_task(task_id, key)
        if task is None:
            return self.send_json(responses.task_not_found())
        if state.draw_fault("status_malformed_json"):
            text = json.dumps(task).encode("utf-8")
            return self.send_bytes(200, text[: max(1, len(text) // 2)], "application/json")
        self.send_json(Reply(200, task))

    def upload(self, body: bytes) -> None:
        """``POST /v1/uploads/images`` (multipart field ``file``)."""
        self.state.count("uploads")
        if self._authenticate() is None:
            return
        try:
            parts = parse_multipart(body, self.headers.get("Content-Type"))
        except MultipartError as error:
            return self.send_json(responses.upload_failed(f"Invalid upload: {error}."))
        part = parts.get("file")
        if part is None:
            return self.send_json(responses.upload_failed("The form field 'file' is required."))
        if len(part.data) > MAX_UPLOAD_BYTES:
            return self.send_json(responses.upload_failed("Image too large. Maximum size is 10MB"))
        kind = sniff_image_type(part.data)
        if kind is None:
            return self.send_json(
                responses.upload_failed(
                    "Unsupported file type. Allowed types: JPEG, PNG, WebP, GIF"
                )
            )
        upload, url = self.state.add_upload(part.data, *kind)
        self.send_json(responses.upload_ok(upload.id, url, upload.mime_type, len(upload.data)))

    def balance(self) -> None:
        if self._authenticate() is not None:
            self.send_json(Reply(200, self.state.balance()))

    def chat(self, body: bytes) -> None:
        """Image models on the chat endpoint fail like New API does (FAQ "invalid api type")."""
        if self._authenticate() is None:
            return
        try:
            payload = parse_json_object(body)
        except InvalidRequest as error:
            return self.send_json(responses.invalid_request(error.param, error.message))
        model = payload.get("model")
        if not isinstance(model, str) or not model:
            return self.send_json(
                responses.invalid_request("model", "The field 'model' is required.")
            )
        if any(hint in model.lower() for hint in _IMAGE_MODEL_HINTS):
            return self.send_json(responses.invalid_api_type())
        self.send_json(responses.model_not_found(model))

    def admin_config(self, body: bytes | None) -> None:
        """``GET``/``POST /_sim/config``: read or change knobs; answers the effective config."""
        if body is not None:
            try:
                knobs = parse_json_object(body) if body.strip() else {}
                self.state.configure(**knobs)
            except InvalidRequest as error:
                return self.send_json(responses.invalid_knob(error.message))
            except (TypeError, ValueError) as error:
                return self.send_json(responses.invalid_knob(str(error)))
        self.send_json(Reply(200, self.state.config.to_dict()))


class FilesHandler(_Handler):
    """Result files (``/generated/…``, signed, expiring) and uploads (``/uploads/…``)."""

    def route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        if method != "GET":
            return self.send_json(responses.route_not_found(method, path))
        config = self.state.config
        is_result = path.startswith("/generated/")
        if is_result:
            self.state.count("downloads")
        if config.redirect_files_to and (is_result or path.startswith("/uploads/")):
            location = config.redirect_files_to.rstrip("/") + self.path
            return self.send_bytes(302, b"", "text/plain", {"Location": location})
        if is_result:
            return self.result(path[len("/generated/") :], query)
        if path.startswith("/uploads/"):
            upload = self.state.get_upload(path[len("/uploads/") :])
            if upload is None:
                return self.send_json(responses.file_not_found())
            return self.send_bytes(200, upload.data, upload.mime_type)
        self.send_json(responses.route_not_found(method, path))

    def result(self, filename: str, query: dict[str, list[str]]) -> None:
        if self.state.draw_fault("download_drop"):
            return self.drop()
        outcome = self.state.open_result(filename, _first(query, "exp"), _first(query, "sig"))
        if isinstance(outcome, Reply):
            return self.send_json(outcome)
        self.serve_result(outcome)

    def serve_result(self, result: ResultFile) -> None:
        kind = result.kind
        if kind == "not_image":
            return self.send_bytes(200, images.NOT_AN_IMAGE, "image/png")
        if kind == "bomb":
            return self.send_bytes(200, images.bomb_png(), "image/png")
        if kind == "huge":
            return self.stream_huge(result.huge_bytes)
        fmt = "jpeg" if kind == "jpeg" else "png"
        data = images.cached_placeholder(
            result.prompt,
            result.size,
            result.resolution,
            result.index,
            result.refs,
            fmt=fmt,
            photo_folder=result.photo_folder,
        )
        self.send_bytes(200, data, "image/jpeg" if fmt == "jpeg" else "image/png")

    def stream_huge(self, total: int) -> None:
        """A PNG header followed by zero padding, ``total`` bytes in all, written in chunks."""
        self._responded = True
        head = images.png_header(1024, 1024)[:total]
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(total))
        self.end_headers()
        self.wfile.write(head)
        remaining = total - len(head)
        padding = bytes(_STREAM_CHUNK)
        while remaining > 0:
            step = min(remaining, _STREAM_CHUNK)
            self.wfile.write(padding[:step] if step < _STREAM_CHUNK else padding)
            remaining -= step


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None
