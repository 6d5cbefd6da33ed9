"""The latency one media item adds to a burst: process_message with and without a photo, on the local runtime.

Generic-channel bursts of one message, half of them with one photo served by a local HTTP server (its bytes
downloaded, stored in the emulator's S3, read back and handed to the echo AI). Measured in-process by the meter:
process_message's run in total, and outside the emulated AWS calls (our code and its libraries).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests import builders

from bench.meter import Meter
from debouncer.channels.generic import ACCOUNT_ID
from debouncer.domain.models import conversation_key
from debouncer.local.runtime import LocalRuntime

PHOTO_BYTES = 200 * 1024


@dataclass(frozen=True)
class MediaFigures:
    """Median process_message milliseconds for a burst without and with one photo, in total and own time."""

    bursts: int
    without_ms: float
    with_ms: float
    without_own_ms: float
    with_own_ms: float

    @property
    def added_ms(self) -> float:
        """What one media item adds to process_message, in total."""
        return self.with_ms - self.without_ms


class _Photo(BaseHTTPRequestHandler):
    body = b"\xff\xd8\xff\xe0" + bytes(PHOTO_BYTES - 4)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def _serving_photo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Photo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/photo.jpg"
    finally:
        server.shutdown()
        server.server_close()


def run(bursts: int, progress: Callable[[str], None]) -> MediaFigures:
    """`bursts` bursts of each kind, one after another (timed alone, not under load)."""
    runtime = LocalRuntime(
        {"DEBOUNCE_SECONDS": "1", "MAX_WAIT_SECONDS": "3"}, name=f"bench-media-{uuid.uuid4().hex[:6]}"
    )
    runtime.start()
    meter = Meter(runtime).install()
    try:
        with _serving_photo() as url:
            kinds: dict[str, list[str]] = {"without": [], "with": []}
            for i in range(bursts):
                for kind in kinds:
                    conversation = f"bench-media-{kind}-{i}-{uuid.uuid4().hex[:6]}"
                    payload = builders.generic(conversation, f"m-{conversation}", "is this the one?")
                    if kind == "with":
                        payload["media"] = [{"url": url, "mime_type": "image/jpeg"}]
                    raw = builders.body(payload)
                    status, _, body = runtime.http(
                        "POST", "/webhook/generic", body=raw, headers=builders.sign("generic", raw)
                    )
                    if status != 200:
                        raise RuntimeError(f"media bench: webhook answered {status}: {body!r}")
                    kinds[kind].append(conversation_key("generic", ACCOUNT_ID, conversation))
                    _wait_for_reply(runtime, conversation)
        progress(f"media: {bursts} bursts each without and with a {PHOTO_BYTES // 1024} KiB photo")
        runs = {
            kind: [v for v in meter.invocations if v.function == "process_message" and v.conversation in set(keys)]
            for kind, keys in kinds.items()
        }
    finally:
        runtime.stop()
    return MediaFigures(
        bursts=bursts,
        without_ms=_median_ms([v.seconds for v in runs["without"]]),
        with_ms=_median_ms([v.seconds for v in runs["with"]]),
        without_own_ms=_median_ms([v.own_seconds for v in runs["without"]]),
        with_own_ms=_median_ms([v.own_seconds for v in runs["with"]]),
    )


def _wait_for_reply(runtime: LocalRuntime, conversation: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(str(e.get("recipient")) == conversation for e in runtime.outbox.entries()):
            return
        time.sleep(0.05)
    raise RuntimeError(f"media bench: no reply for {conversation} within {timeout:.0f} s")


def _median_ms(seconds: list[float]) -> float:
    if not seconds:
        raise RuntimeError("media bench: no process_message run was measured")
    return statistics.median(seconds) * 1000
