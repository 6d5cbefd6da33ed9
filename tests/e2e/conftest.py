"""The real `debouncer serve` in a subprocess, driven over HTTP with the standard library only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HTTP_TIMEOUT = 15.0
STARTUP_TIMEOUT = 60.0

# The settings the e2e module is written against (`make run` with short windows).
MAIN_ENV = {"DEBOUNCE_SECONDS": "1", "MAX_WAIT_SECONDS": "4", "MAX_MESSAGES": "5", "FLUSH_KEYWORDS": "send"}
# The max_wait cap cannot be observed on the main server: MAX_MESSAGES=5 flushes a steady stream of messages
# (one every 0.6 s) after 2.4 s, before the 4 s cap. This one differs only where the cap test needs it; its 2 s
# debounce also keeps a slow POST on a loaded machine from opening a quiet gap that would end the burst early.
CAP_ENV = {"DEBOUNCE_SECONDS": "2", "MAX_WAIT_SECONDS": "4", "MAX_MESSAGES": "50", "FLUSH_KEYWORDS": "send"}
# Inherited variables that would change what the tests expect: the server must use its documented dev defaults.
SCRUBBED = (
    "META_APP_SECRET",
    "META_VERIFY_TOKEN",
    "TELEGRAM_SECRET_TOKEN",
    "GENERIC_SECRET",
    "SECRETS_SOURCE",
    "WHATSAPP_ACCESS_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "INSTAGRAM_ACCESS_TOKEN",
    "GENERIC_CALLBACK_URL",
    "OPENAI_API_KEY",
    "AI_FALLBACK_MESSAGE",
    "SHOW_TYPING",
)

Response = tuple[int, dict[str, str], bytes]


def request(base: str, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Response:
    """One HTTP request; 4xx and 5xx are returned, not raised."""
    req = urllib.request.Request(base + path, data=body or None, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers.items()), e.read()


@dataclass
class Server:
    """A running `debouncer serve` subprocess and its log."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path
    settings: dict[str, Any] = field(default_factory=dict)

    def http(self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Response:
        """(status, headers, body) of one request to this server."""
        return request(self.base, method, path, body, headers)

    def outbox(self) -> list[dict[str, Any]]:
        """Every reply the server has sent, oldest first."""
        status, _, body = self.http("GET", "/local/outbox")
        assert status == 200, body
        entries: list[dict[str, Any]] = json.loads(body)
        return entries

    def replies_to(self, recipient: str) -> list[dict[str, Any]]:
        """Outbox entries addressed to one recipient."""
        return [e for e in self.outbox() if str(e.get("recipient")) == recipient]

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's stdout/stderr, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as e:
            return f"<log unreadable: {e}>"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def user_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without the inherited settings that would change what the tests expect (the
    commands then use their documented dev defaults), plus `overrides`."""
    return {k: v for k, v in os.environ.items() if k not in SCRUBBED} | overrides


def run_debouncer(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """`debouncer ARGS` as a user runs it, from the repository: in `env`, else the user environment."""
    return subprocess.run(
        [sys.executable, "-m", "debouncer.cli", *args],
        cwd=REPO,
        env=user_environment() if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _spawn(name: str, overrides: Mapping[str, str], log_dir: Path) -> Server:
    port = _free_port()
    env = user_environment(**{"AI_PROVIDER": "echo", **overrides})
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "debouncer.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(base=f"http://127.0.0.1:{port}", process=process, log=log)


def _wait_healthy(server: Server, deadline: float) -> None:
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            status, _, body = request(server.base, "GET", "/health")
        except OSError as e:  # not listening yet
            last = repr(e)
        else:
            if status == 200:
                # /health tells liveness only; the local server alone tells its settings.
                status, _, body = request(server.base, "GET", "/local/settings")
                assert status == 200, body
                server.settings = json.loads(body)
                return
            last = f"HTTP {status}: {body[:200]!r}"
        time.sleep(0.2)
    pytest.fail(f"server at {server.base} not healthy within {STARTUP_TIMEOUT}s ({last}):\n{server.log_tail()}")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@contextmanager
def _running(log_dir: Path, environments: Mapping[str, Mapping[str, str]]) -> Iterator[dict[str, Server]]:
    """Servers started in parallel (about 2 s each), one per named environment, stopped on exit."""
    started: dict[str, Server] = {}
    try:
        for name, environment in environments.items():
            started[name] = _spawn(name, environment, log_dir)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for server in started.values():
            _wait_healthy(server, deadline)
        yield started
    finally:
        for server in started.values():
            _stop(server)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """The main and the cap server, for the whole session."""
    with _running(tmp_path_factory.mktemp("e2e-server"), {"main": MAIN_ENV, "cap": CAP_ENV}) as started:
        yield started


@pytest.fixture(scope="session")
def server(servers: dict[str, Server]) -> Server:
    """The server with the brief's settings: debounce 1 s, max wait 4 s, max 5 messages, flush keyword 'send'."""
    return servers["main"]


@pytest.fixture(scope="session")
def cap_server(servers: dict[str, Server]) -> Server:
    """A second server for the max_wait cap: debounce 2 s, max wait 4 s, max 50 messages."""
    return servers["cap"]


def poll(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll until `predicate` is truthy and return its value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} not met within {timeout}s")
        time.sleep(interval)


# The settings the shipped replay fixtures (fixtures/*.json) assume, and other ones a replay must refuse.
REPLAY_ENV = {"DEBOUNCE_SECONDS": "2", "MAX_WAIT_SECONDS": "6", "MAX_MESSAGES": "10"}
OTHER_ENV = {"DEBOUNCE_SECONDS": "1", "MAX_WAIT_SECONDS": "4", "MAX_MESSAGES": "10"}


@pytest.fixture(scope="session")
def replay_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """Fresh servers of their own for `debouncer replay`: the fixtures' settings, and others."""
    environments = {"replay": REPLAY_ENV, "replay-other": OTHER_ENV}
    with _running(tmp_path_factory.mktemp("e2e-replay-server"), environments) as started:
        yield started


@pytest.fixture(scope="session")
def replay_server(replay_servers: dict[str, Server]) -> Server:
    """The server with the shipped fixtures' settings: debounce 2 s, max wait 6 s, max 10 messages."""
    return replay_servers["replay"]


@pytest.fixture(scope="session")
def mismatched_server(replay_servers: dict[str, Server]) -> Server:
    """A server whose settings differ from every shipped fixture's (debounce 1 s, max wait 4 s)."""
    return replay_servers["replay-other"]


# Concurrent senders (test_concurrent_senders.py): short windows, so every burst is answered within seconds, and a
# flush size no sender reaches, so each sender's messages make one burst unless the debounce window closes early.
CONCURRENCY_ENV = {"DEBOUNCE_SECONDS": "1", "MAX_WAIT_SECONDS": "6", "MAX_MESSAGES": "50"}


# CPython switches threads every 5 ms by default; the concurrency server every 0.1 ms, so its request threads
# interleave inside a request as they would under far more load, and a race one soak post in 3,455 hit shows at once.
SWITCH_INTERVAL_SECONDS = 0.0001


@pytest.fixture(scope="session")
def concurrency_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh `debouncer serve` of its own for the concurrent senders, switching threads every 0.1 ms."""
    port = _free_port()
    env = user_environment(**{"AI_PROVIDER": "echo", **CONCURRENCY_ENV})
    log = tmp_path_factory.mktemp("e2e-concurrency-server") / "concurrency.log"
    boot = (
        f"import sys; sys.setswitchinterval({SWITCH_INTERVAL_SECONDS}); "
        "from debouncer.cli import main; sys.exit(main())"
    )
    with log.open("wb") as out:  # as _spawn does, but through `python -c` to set the switch interval first
        process = subprocess.Popen(
            [sys.executable, "-c", boot, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(base=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        _wait_healthy(server, time.monotonic() + STARTUP_TIMEOUT)
        yield server
    finally:
        _stop(server)
