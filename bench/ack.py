"""Webhook acknowledgement latency and accepted messages per second over HTTP, with 16 concurrent senders.

Each design is served by its own process on a free 127.0.0.1 port (ours: `debouncer serve`; the baseline:
`python -m bench.naive`), so the load generator does not share an interpreter with the server. Each sender thread
keeps one HTTP/1.1 connection and posts signed WhatsApp messages, four per conversation, timing each request from
send to the end of the response. Two loads, each bounded in requests and seconds:
- saturated: every sender posts again as soon as it is answered (closed loop): the server's capacity;
- paced: every sender posts one message every `interval` seconds, out of phase with the others, as people do.
The first message of each conversation is also timed apart: it is the one that starts an execution.
The debounce window is an hour, so no execution wakes during the load: the figure is the webhook path alone, as on
AWS, where the state machine's work does not run on the webhook's Lambda.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests import builders

from bench.pipeline import percentile

REPO = Path(__file__).resolve().parents[1]
# Windows of an hour keep every execution asleep during the load; only Standard allows them (the webhook's work is
# the same for both workflow types).
SERVER_ENV = {
    "DEBOUNCE_SECONDS": "3600",
    "MAX_WAIT_SECONDS": "7200",
    "MAX_MESSAGES": "50",
    "LOG_LEVEL": "WARNING",
    "WORKFLOW_TYPE": "STANDARD",
}
# Inherited values that would change what the server accepts: it must use its documented development defaults.
SCRUBBED = ("META_APP_SECRET", "META_VERIFY_TOKEN", "TELEGRAM_SECRET_TOKEN", "GENERIC_SECRET", "SECRETS_SOURCE")
COMMANDS = {
    "ours": [sys.executable, "-m", "debouncer.cli", "serve", "--host", "127.0.0.1", "--port"],
    "naive": [sys.executable, "-m", "bench.naive", "--port"],
}
STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class LoadResult:
    """What one load measured."""

    design: str
    mode: str
    senders: int
    latencies_ms: list[float]
    opening_ms: list[float]
    later_ms: list[float]
    accepted: int
    failed: int
    seconds: float
    failures: dict[str, int]

    @property
    def p50_ms(self) -> float:
        """Median acknowledgement latency."""
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        """99th percentile acknowledgement latency."""
        return percentile(self.latencies_ms, 99)

    @property
    def opening_p50_ms(self) -> float:
        """Median latency of the messages that opened a burst (our design's only StartExecution)."""
        return percentile(self.opening_ms, 50)

    @property
    def later_p50_ms(self) -> float:
        """Median latency of the other messages."""
        return percentile(self.later_ms, 50)

    @property
    def accepted_per_second(self) -> float:
        """Messages answered 200 and accepted, per second of load."""
        return self.accepted / self.seconds if self.seconds > 0 else float("nan")


class Server:
    """One server process on a free loopback port; stopped by `stop`."""

    def __init__(self, design: str, log_dir: Path) -> None:
        self.design = design
        self.port = _free_port()
        environment = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        environment.update(SERVER_ENV)
        self.log_path = log_dir / f"{design}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*COMMANDS[design], str(self.port)], cwd=REPO, env=environment, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_healthy(self, deadline: float) -> None:
        """Block until GET /health answers 200, or raise with the server's log."""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.design} server did not come up:\n{self.log_path.read_text(errors='replace')[-3000:]}"
        )

    def stop(self) -> None:
        """Terminate the process (and kill it if it does not exit)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def load(
    server: Server,
    mode: str,
    *,
    senders: int = 16,
    max_requests: int = 2000,
    max_seconds: float = 20.0,
    interval: float | None = None,
) -> LoadResult:
    """Run one bounded load against `server` and collect every request's latency."""
    run = uuid.uuid4().int % 10**6
    lock = threading.Lock()
    issued = [0]
    latencies: list[float] = []
    opening: list[float] = []
    later: list[float] = []
    outcome = {"accepted": 0, "failed": 0}
    failures: Counter[str] = Counter()
    # Connections are opened one by one before the clock starts: LocalServer accepts on one thread with
    # socketserver's default backlog of 5, and 16 simultaneous connects can be reset before the load even begins.
    connections = [_open(server.port) for _ in range(senders)]
    start = time.monotonic()
    stop_at = start + max_seconds

    def sender(index: int) -> None:
        connection = connections[index]
        sent = 0
        while True:
            with lock:
                n = issued[0]
                if n >= max_requests or time.monotonic() >= stop_at:
                    break
                issued[0] += 1
            if interval is not None:
                # Senders out of phase, as independent people are: arrivals spread evenly over the interval.
                time.sleep(max(0.0, start + (index / senders + sent) * interval - time.monotonic()))
            user = f"1777{run:06d}{index:02d}{sent // 4:05d}"
            raw = builders.body(builders.whatsapp(user, builders.wa_message(user, f"wamid.load.{run}.{n}", "hello")))
            headers = builders.sign("whatsapp", raw)
            began = time.perf_counter()
            try:
                connection.request("POST", "/webhook/whatsapp", body=raw, headers=headers)
                response = connection.getresponse()
                body = response.read()
                ok = response.status == 200 and json.loads(body).get("accepted") == 1
                reason = f"HTTP {response.status}: {body[:120].decode(errors='replace')}"
            except (OSError, http.client.HTTPException, ValueError) as e:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
                ok, reason = False, type(e).__name__
            elapsed_ms = (time.perf_counter() - began) * 1000
            with lock:
                latencies.append(elapsed_ms)
                (opening if sent % 4 == 0 else later).append(elapsed_ms)
                outcome["accepted" if ok else "failed"] += 1
                if not ok:
                    failures[reason] += 1
            sent += 1
        connection.close()

    threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max_seconds + 30)
    seconds = time.monotonic() - start
    return LoadResult(
        server.design,
        mode,
        senders,
        latencies,
        opening,
        later,
        outcome["accepted"],
        outcome["failed"],
        seconds,
        dict(failures),
    )


def warm_up(server: Server, requests: int = 32) -> None:
    """A few requests first, so lazy initialization is not part of the measured figures."""
    load(server, "warm-up", senders=4, max_requests=requests, max_seconds=15)


def run_all(
    *,
    senders: int = 16,
    saturated_requests: int = 2000,
    saturated_seconds: float = 15.0,
    paced_seconds: float = 10.0,
    interval: float = 1.0,
    progress: IO[str] | None = None,
) -> list[LoadResult]:
    """Both designs, saturated then paced; servers started together and stopped at the end."""
    results: list[LoadResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp:
        servers = [Server(design, Path(tmp)) for design in COMMANDS]
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            for server in servers:
                server.wait_healthy(deadline)
            for server in servers:
                warm_up(server)
                saturated = load(
                    server, "saturated", senders=senders, max_requests=saturated_requests, max_seconds=saturated_seconds
                )
                paced = load(
                    server,
                    "paced",
                    senders=senders,
                    max_requests=saturated_requests,
                    max_seconds=paced_seconds,
                    interval=interval,
                )
                for result in (saturated, paced):
                    results.append(result)
                    print(
                        f"ack: {server.design:<5} {result.mode:<9} {len(result.latencies_ms):>5} requests in "
                        f"{result.seconds:5.1f} s, p50 {result.p50_ms:6.1f} ms, p99 {result.p99_ms:6.1f} ms, "
                        f"{result.accepted_per_second:6.1f} accepted/s, {result.failed} failed; p50 opening a burst "
                        f"{result.opening_p50_ms:.1f} ms, later {result.later_p50_ms:.1f} ms",
                        file=progress or sys.stdout,
                        flush=True,
                    )
        finally:
            for server in servers:
                server.stop()
    return results


def _open(port: int, attempts: int = 5) -> http.client.HTTPConnection:
    """A keep-alive connection that has answered one GET /health."""
    for _ in range(attempts):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            connection.request("GET", "/health")
            connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            connection.close()
            time.sleep(0.2)
            continue
        return connection
    raise RuntimeError(f"could not open a connection to 127.0.0.1:{port}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
