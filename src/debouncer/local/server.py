"""HTTP front door of the local runtime on 127.0.0.1: webhook routes via post_message, plus /local/outbox,
/local/settings and /local/ttl-sweep."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from debouncer.api.webhook import body_too_large
from debouncer.config import Settings
from debouncer.local.runtime import LocalRuntime
from debouncer.tenants import Tenant, settings_for

log = logging.getLogger("debouncer.local")
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


class _Handler(BaseHTTPRequestHandler):
    runtime: ClassVar[LocalRuntime]
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/local/outbox" and self.command == "GET":
            self._send(200, {"Content-Type": "application/json"}, json.dumps(self.runtime.outbox.entries()).encode())
            return
        if path == "/local/settings" and self.command == "GET":
            settings = json.dumps(local_settings(self.runtime.tenants)).encode()
            self._send(200, {"Content-Type": "application/json"}, settings)
            return
        if path in ("/local/outbox", "/local/settings"):
            error = json.dumps({"error": f"method {self.command} is not allowed on {path}"}).encode()
            self._send(405, {"Content-Type": "application/json", "Allow": "GET"}, error)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_READ:
            # The handler's own message; the unread body makes the connection unusable, so it is closed.
            self.close_connection = True
            error = json.dumps({"error": body_too_large(length, Settings().max_body_bytes)}).encode()
            self._send(413, {"Content-Type": "application/json"}, error)
            return
        body = self.rfile.read(length) if length else b""
        if path == "/local/ttl-sweep":
            self._ttl_sweep(body)
            return
        headers = {k: v for k, v in self.headers.items()}
        status, response_headers, payload = self.runtime.http(
            self.command, path, body=body, headers=headers, query=query
        )
        self._send(status, response_headers, payload)

    def _ttl_sweep(self, body: bytes) -> None:
        """POST {"after_seconds": N}: delete what DynamoDB TTL would have deleted N seconds from now."""
        json_type = {"Content-Type": "application/json"}
        if self.command != "POST":
            error = f"method {self.command} is not allowed on /local/ttl-sweep"
            self._send(405, {**json_type, "Allow": "POST"}, json.dumps({"error": error}).encode())
            return
        after = _after_seconds(body)
        if after is None:
            error = 'the body must be a JSON object {"after_seconds": N} with N a non-negative number'
            self._send(400, json_type, json.dumps({"error": error}).encode())
            return
        self._send(200, json_type, json.dumps({"deleted": self.runtime.ttl_sweep(after)}).encode())

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server's method names

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)


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
        super().__init__((host, port), handler)
        # One EMF line per invocation would drown this console; POWERTOOLS_METRICS_DISABLED=false shows them.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
