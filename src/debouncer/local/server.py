"""HTTP front door of the local runtime on 127.0.0.1: webhook routes via post_message, plus the local-only routes
(LOCAL_ROUTES: /local/outbox, /local/settings, /local/ttl-sweep... and the console's: debouncer.local.console_routes).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from debouncer.api.webhook import body_too_large
from debouncer.config import Settings
from debouncer.domain.errors import DebouncerError
from debouncer.domain.models import CHANNELS
from debouncer.local import console_routes, logs
from debouncer.local.console_live import close_console
from debouncer.local.runtime import LocalRuntime
from debouncer.tenants import Tenant, settings_for

log = logging.getLogger("debouncer.local")


@dataclass(frozen=True)
class LocalRequest:
    """A request to a local-only route, read whole (bounded by MAX_READ)."""

    path: str
    query: str
    body: bytes
    base_url: str = ""  # this server's own, e.g. http://127.0.0.1:8000 (a console replay posts to it)


# The body is bytes, or an iterator of chunks written as they come (the console's event stream).
LocalResponse = tuple[int, dict[str, str], bytes | Iterator[bytes]]
LocalRoute = Callable[[LocalRuntime, LocalRequest], LocalResponse]
STREAM_WRITE_TIMEOUT_SECONDS = 30.0
MAX_READ = 10 * 1024 * 1024  # API Gateway's own payload limit; our 256 KiB limit is enforced by the handler


def local_settings(tenants: Sequence[Tenant] = ()) -> dict[str, Any]:
    """What the running pipeline is configured with, for `debouncer replay`; local only, never on AWS's /health.

    Each tenant is reported with its effective timing (its own over the deployment's), never with its secrets.
    """
    settings = Settings()
    running = []
    for tenant in tenants:
        effective = settings_for(settings, tenant)
        running.append(
            {
                "id": tenant.id,
                "channel": tenant.channel,
                "account": tenant.account,
                "debounce_seconds": effective.debounce_seconds,
                "max_wait_seconds": effective.max_wait_seconds,
                "max_messages": effective.max_messages,
            }
        )
    return {
        "debounce_seconds": settings.debounce_seconds,
        "max_wait_seconds": settings.max_wait_seconds,
        "max_messages": settings.max_messages,
        "flush_keywords": list(settings.flush_keywords),
        "ai_provider": settings.ai_provider,
        "tenants": running,
    }


def allowed_methods(route: dict[str, LocalRoute]) -> str:
    """The Allow header of a local route: its methods, as the webhook routes list theirs (HEAD goes with GET)."""
    return ", ".join(sorted(route))


class _Handler(BaseHTTPRequestHandler):
    runtime: ClassVar[LocalRuntime]
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        self._started: float | None = time.perf_counter()
        path, _, query = self.path.partition("?")
        self._logged_path = path  # never the query: it may name a recipient
        console_asset = path.startswith(console_routes.CONSOLE_PREFIX)
        route = LOCAL_ROUTES.get(console_routes.CONSOLE_PREFIX if console_asset else path)
        # HEAD is GET without the body (_send leaves it out); a local route answers OPTIONS itself. The webhook
        # routes take both as API Gateway's $default route does: post_message answers them.
        method = "GET" if self.command == "HEAD" and route is not None else self.command
        if route is not None and method == "OPTIONS":
            self._send(204, {"Allow": allowed_methods(route)}, b"")
            return
        if route is not None and method not in route:
            error = json.dumps({"error": f"method {self.command} is not allowed on {path}"}).encode()
            self._send(405, {"Content-Type": "application/json", "Allow": allowed_methods(route)}, error)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_READ:
            # The handler's own message; the unread body makes the connection unusable, so it is closed.
            self.close_connection = True
            error = json.dumps({"error": body_too_large(length, Settings().max_body_bytes)}).encode()
            self._send(413, {"Content-Type": "application/json"}, error)
            return
        body = self.rfile.read(length) if length else b""
        if route is not None:
            host, port = self.request.getsockname()[:2]  # the address this client reached: the server's own
            request = LocalRequest(path, query, body, base_url=f"http://{host}:{port}")
            status, headers, payload = route[method](self.runtime, request)
            if isinstance(payload, bytes):
                self._send(status, headers, payload)
            elif self.command == "HEAD":  # an event stream's headers, and no events
                getattr(payload, "close", lambda: None)()
                self._send(status, headers, b"")
            else:
                self._stream(status, headers, payload)
            return
        headers = {k: v for k, v in self.headers.items()}
        status, response_headers, payload = self.runtime.http(
            self.command, path, body=body, headers=headers, query=query
        )
        self._send(status, response_headers, payload)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        if status == 204:  # no content, and no Content-Length either (RFC 9110 §8.6)
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _stream(self, status: int, headers: dict[str, str], chunks: Iterator[bytes]) -> None:
        """Write each chunk as it comes, until the iterator ends or the client goes (then the connection closes)."""
        self.close_connection = True
        # A client that stops reading fails the write after this long, rather than holding the thread for ever.
        self.connection.settimeout(STREAM_WRITE_TIMEOUT_SECONDS)
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:  # BrokenPipe, ConnectionReset, the write timeout: the client is gone
            pass
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    do_GET = do_HEAD = do_OPTIONS = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server's

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request (send_response calls it), timed from the request's start to its status line."""
        started = getattr(self, "_started", None)
        if started is None or not isinstance(code, int):  # http.server's own errors, before _serve
            log.debug("%s %s", self.command, code)
            return
        logs.request_line(self.command, self._logged_path, code, started)
        self._started = None  # a later error of http.server's on this connection is not this request's

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)


def _json(status: int, document: object, headers: dict[str, str] | None = None) -> LocalResponse:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(document).encode()


def _outbox(runtime: LocalRuntime, request: LocalRequest) -> LocalResponse:
    """Every reply the local outbox took (channels without credentials)."""
    return _json(200, runtime.outbox.entries())


def _settings(runtime: LocalRuntime, request: LocalRequest) -> LocalResponse:
    """The running settings, per tenant (what `debouncer replay` checks its fixtures against)."""
    return _json(200, local_settings(runtime.tenants))


def _ttl_sweep(runtime: LocalRuntime, request: LocalRequest) -> LocalResponse:
    """POST {"after_seconds": N}: delete what DynamoDB TTL would have deleted N seconds from now."""
    after = _after_seconds(request.body)
    if after is None:
        return _json(400, {"error": 'the body must be a JSON object {"after_seconds": N} with N a non-negative number'})
    return _json(200, {"deleted": runtime.ttl_sweep(after)})


def _dead_letters(runtime: LocalRuntime, request: LocalRequest) -> LocalResponse:
    """Every record on the dead-letter queue, left on it."""
    return _json(200, runtime.peek_dead_letters())


def _redrive(runtime: LocalRuntime, request: LocalRequest) -> LocalResponse:
    """POST {"dry_run": bool} (default false): `debouncer redrive` inside the runtime; each record's outcome."""
    try:
        options = json.loads(request.body or b"{}")
        dry_run = options.get("dry_run", False) if isinstance(options, dict) else None
    except ValueError:
        dry_run = None
    if not isinstance(dry_run, bool):
        return _json(400, {"error": 'the body must be a JSON object {"dry_run": true|false}'})
    try:
        outcomes = runtime.redrive(dry_run=dry_run)
    except DebouncerError as error:  # the queue could not be read: nothing was decided
        return _json(503, {"error": f"{type(error).__name__}: {error}"})
    return _json(200, {"dry_run": dry_run, "outcomes": outcomes})


def _explain(runtime: LocalRuntime, request: LocalRequest) -> LocalResponse:
    """GET ?channel=&recipient=[&account=][&show_text=true]: `debouncer explain`'s timelines, {"conversations": [...]};
    404 when there is no such conversation."""
    query = dict(parse_qsl(request.query))
    channel, recipient = query.get("channel"), query.get("recipient")
    if channel not in CHANNELS or not recipient:
        return _json(400, {"error": f"give channel (one of {', '.join(CHANNELS)}) and recipient"})
    show_text = query.get("show_text", "false").lower() == "true"
    conversations = runtime.explain(channel, recipient, query.get("account") or None, show_text=show_text)
    if not conversations:
        return _json(404, {"error": "no such conversation"})
    return _json(200, {"conversations": conversations})


# The local-only routes: path -> method -> handler. They exist only in this server, never behind API Gateway;
# a path listed here answers 405 (with Allow) for any other method.
LOCAL_ROUTES: dict[str, dict[str, LocalRoute]] = {
    "/local/outbox": {"GET": _outbox},
    "/local/settings": {"GET": _settings},
    "/local/ttl-sweep": {"POST": _ttl_sweep},
    "/local/dead-letters": {"GET": _dead_letters},
    "/local/redrive": {"POST": _redrive},
    "/local/explain": {"GET": _explain},
    # The console; /console/ serves any plain file name of its directory.
    "/": {"GET": console_routes.console_page},
    console_routes.CONSOLE_PREFIX: {"GET": console_routes.console_asset},
    "/local/stream": {"GET": console_routes.stream},
    "/local/compose": {"POST": console_routes.compose_message},
    "/local/fixtures": {"GET": console_routes.list_fixtures},
    "/local/replay": {"POST": console_routes.start_replay},
}


def _after_seconds(body: bytes) -> float | None:
    """N of a body {"after_seconds": N}; None unless N is a non-negative number."""
    try:
        after = json.loads(body)["after_seconds"]
        # bool is an int to Python, not a number to JSON.
        if isinstance(after, bool) or not isinstance(after, int | float):
            return None
        seconds = float(after)
    except (ValueError, KeyError, TypeError, OverflowError):
        return None
    # NaN and Infinity are Python's extensions to JSON, not numbers a client meant.
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class LocalServer(ThreadingHTTPServer):
    """Threaded, like API Gateway: each request in its own thread; moto is serialized by the emulator."""

    daemon_threads = True
    # socketserver listens with a backlog of 5: 16 concurrent senders would wait a SYN retry (1 s) for a slot.
    request_queue_size = 128

    def __init__(self, runtime: LocalRuntime, host: str = "127.0.0.1", port: int = 8000) -> None:
        handler = type("Handler", (_Handler,), {"runtime": runtime})
        self.runtime = runtime  # before binding: a failed bind calls server_close()
        super().__init__((host, port), handler)
        # One EMF line per invocation would drown this console; POWERTOOLS_METRICS_DISABLED=false shows them.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

    def server_close(self) -> None:
        """Stop listening, and end the console's event streams (their threads would otherwise wait for events)."""
        close_console(self.runtime)
        super().server_close()
