"""SnapStart's restore hook (debouncer.adapters.snapstart) with real clients and real sockets.

moto answers boto3 inside the process, before any connection is opened, so the connections are observed on a local
keep-alive HTTP server standing in for DynamoDB's JSON API (and for any channel httpx calls), which records the client
port each request came from: a new port is a new connection. The handlers' wiring of the hook runs in fresh
interpreters with a stand-in for the snapshot_restore_py library Lambda's runtime provides.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from debouncer.adapters.snapstart import after_restore, live_clients, register_hooks

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
FUNCTIONS = ("post_message", "process_message", "reply")


@dataclass
class Recorded:
    """What the local server saw: the client port of each request, and each request's path and headers."""

    ports: list[int] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    credentials: list[dict[str, str]] = field(default_factory=list)  # answers of the credentials endpoint, in turn


def _handler(recorded: Recorded) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection until it drops it

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            recorded.ports.append(self.client_address[1])
            recorded.requests.append((self.path, dict(self.headers)))
            if self.path == "/credentials":
                body = json.dumps(recorded.credentials.pop(0)).encode()
                content_type = "application/json"
            else:  # DynamoDB's JSON protocol: an empty ListTables answer
                body = b"{}"
                content_type = "application/x-amz-json-1.0"
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read what was recorded."""

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Recorded]]:
    """A local keep-alive HTTP server and what it records."""
    recorded = Recorded()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorded))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", recorded
    finally:
        httpd.shutdown()
        httpd.server_close()


def _dynamodb(endpoint: str, session: boto3.session.Session | None = None) -> Any:
    """A real boto3 DynamoDB client with the wiring's retry and timeout settings, pointed at the local server."""
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5)
    if session is None:
        return boto3.client(
            "dynamodb",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )
    return session.client("dynamodb", endpoint_url=endpoint, config=config)


def test_after_restore_makes_boto3_and_httpx_clients_connect_anew_and_both_still_work(
    server: tuple[str, Recorded],
) -> None:
    """GIVEN a boto3 and an httpx client that each reused one keep-alive connection (as at init, before the snapshot)
    WHEN after_restore handles them THEN each one's next request comes on a new connection, and succeeds."""
    endpoint, recorded = server
    dynamodb, channel = _dynamodb(endpoint), httpx.Client(timeout=5)
    try:
        for _ in range(2):
            dynamodb.list_tables()
            channel.get(f"{endpoint}/channel").raise_for_status()
        boto_ports, httpx_ports = recorded.ports[0::2], recorded.ports[1::2]
        assert len(set(boto_ports)) == 1 and len(set(httpx_ports)) == 1  # kept alive: the control

        assert after_restore([dynamodb, channel, object()]) == 2  # anything else is ignored

        assert dynamodb.list_tables()["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert channel.get(f"{endpoint}/channel").status_code == 200
        assert recorded.ports[-2] not in boto_ports + httpx_ports
        assert recorded.ports[-1] not in boto_ports + httpx_ports
        # And the new connections are pooled again: the clients are as good as new, not degraded to one-shot.
        dynamodb.list_tables()
        channel.get(f"{endpoint}/channel")
        assert recorded.ports[-2:] == recorded.ports[-4:-2]
    finally:
        channel.close()


def test_live_clients_finds_every_boto3_and_httpx_client_of_the_process(server: tuple[str, Recorded]) -> None:
    """Clients kept anywhere (here, inside a dict inside a list, as wiring nests them in use cases) are found."""
    endpoint, _ = server
    nested = [{"store": _dynamodb(endpoint)}, {"sender": httpx.Client()}]
    try:
        found = live_clients()
        assert any(c is nested[0]["store"] for c in found)
        assert any(c is nested[1]["sender"] for c in found)
        assert all(isinstance(c, (BaseClient, httpx.Client)) for c in found)  # and nothing else
    finally:
        nested[1]["sender"].close()


def test_after_restore_reseeds_random_so_two_restores_of_one_snapshot_draw_differently() -> None:
    """Two environments restored from one snapshot start from the same `random` state: without the reseed they draw
    the same jitter (the control), with it they do not."""
    snapshot = random.getstate()
    first = [random.random() for _ in range(3)]
    random.setstate(snapshot)
    assert [random.random() for _ in range(3)] == first  # the control: the same state draws the same numbers

    draws = []
    for _ in range(2):
        random.setstate(snapshot)
        after_restore([])
        draws.append([random.random() for _ in range(3)])
    assert draws[0] != draws[1] and first not in draws


def test_credentials_resolved_at_init_are_fetched_again_once_near_expiry(
    server: tuple[str, Recorded], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What Lambda gives a SnapStart function: the container credentials endpoint, not AWS_ACCESS_KEY_ID. The client
    built at init holds the credentials of that moment; once they are near expiry (a snapshot restored hours later),
    its next call fetches new ones from the endpoint and signs with them: nothing to renew in the restore hook."""
    endpoint, recorded = server
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{endpoint}/credentials")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "lambda-runtime-token")
    now = datetime.now(UTC)
    for key, expires in (("ASIAATINIT", now + timedelta(minutes=5)), ("ASIARESTORED", now + timedelta(hours=6))):
        recorded.credentials.append(
            {
                "AccessKeyId": key,
                "SecretAccessKey": "testing",
                "Token": "testing",
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )

    dynamodb = _dynamodb(endpoint, boto3.session.Session(region_name=REGION))  # init: the first fetch
    dynamodb.list_tables()

    paths = [path for path, _ in recorded.requests]
    assert paths == ["/credentials", "/credentials", "/"]
    assert all(headers["Authorization"] == "lambda-runtime-token" for path, headers in recorded.requests[:2])
    assert "Credential=ASIARESTORED/" in recorded.requests[2][1]["Authorization"]


STAND_IN = '''"""Stand-in for Lambda's snapshot_restore_py: records the hooks registered."""
before_snapshot_hooks = []
after_restore_hooks = []


def register_before_snapshot(func, *args, **kwargs):
    before_snapshot_hooks.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    after_restore_hooks.append((func, args, kwargs))
    return func
'''

# Import the handler as Lambda does, then run what it registered as Lambda would: the before-snapshot hooks (in reverse
# order of registration), then, restored, the after-restore ones (in order); print what each of those returned.
RESTORE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import snapshot_restore_py as hooks
for func, args, kwargs in reversed(hooks.before_snapshot_hooks):
    func(*args, **kwargs)
print(json.dumps([func(*args, **kwargs) for func, args, kwargs in hooks.after_restore_hooks]))
"""


def _restore_handler(function: str, stand_in: Path) -> subprocess.CompletedProcess[str]:
    """Import lambda/<function>/handler.py in a fresh interpreter with the stand-in importable, and restore it."""
    environment = {
        "TABLE_NAME": "chat-debouncer-conversations",
        "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:123456789012:stateMachine:chat-debouncer-debounce",
        "POWERTOOLS_SERVICE_NAME": "chat-debouncer",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": f"{stand_in}:{REPO_ROOT / 'src'}",
    }
    handler = str(REPO_ROOT / "lambda" / function / "handler.py")
    return subprocess.run(
        [sys.executable, "-c", RESTORE, handler],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_each_handler_registers_one_restore_hook_that_renews_its_clients(tmp_path: Path) -> None:
    """Each function's module registers exactly one after-restore hook, and running it (after the before-snapshot
    one) handles the clients its init built: at least its DynamoDB client."""
    (tmp_path / "snapshot_restore_py.py").write_text(STAND_IN)
    with ThreadPoolExecutor(len(FUNCTIONS)) as pool:
        restored = dict(zip(FUNCTIONS, pool.map(lambda f: _restore_handler(f, tmp_path), FUNCTIONS), strict=True))
    for function, result in restored.items():
        assert result.returncode == 0, f"{function}:\n{result.stderr[-3000:]}"
        [handled] = json.loads(result.stdout.splitlines()[-1])
        assert handled >= 1, function


def test_register_hooks_does_nothing_without_snapshot_restore_py() -> None:
    """Here, as in the local runtime, the library is not importable: nothing is registered."""
    assert "snapshot_restore_py" not in sys.modules
    assert register_hooks() is False
