"""HTTP front door of the local runtime on 127.0.0.1: webhook routes via post_message, plus /local/outbox."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from debouncer.local.runtime import LocalRuntime

log = logging.getLogger("debouncer.local")
MAX_READ = 10 * 1024 * 1024  # API Gateway's own payload limit; our 256 KiB limit is enforced by the handler


class _Handler(BaseHTTPRequestHandler):
    runtime: ClassVar[LocalRuntime]
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/local/outbox" and self.command == "GET":
            self._send(200, {"Content-Type": "application/json"}, json.dumps(self.runtime.outbox.entries()).encode())
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_READ:
            self._send(413, {"Content-Type": "application/json"}, b'{"error": "body too large"}')
            return
        body = self.rfile.read(length) if length else b""
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
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server's method names

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)


class LocalServer(ThreadingHTTPServer):
    """Threaded, like API Gateway: each request in its own thread; moto is serialized by the emulator."""

    daemon_threads = True
    # socketserver listens with a backlog of 5: 16 concurrent senders would wait a SYN retry (1 s) for a slot.
    request_queue_size = 128

    def __init__(self, runtime: LocalRuntime, host: str = "127.0.0.1", port: int = 8000) -> None:
        handler = type("Handler", (_Handler,), {"runtime": runtime})
        super().__init__((host, port), handler)
