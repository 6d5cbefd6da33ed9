"""POST /local/ttl-sweep on the real `debouncer serve`: a person who comes back after their buffer expired.

Servers of their own (one per workflow type): a sweep deletes every expired item of the table, which would pull the
buffers of other tests' open bursts from under them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import builders
from tests.e2e.conftest import Server, _running, poll

pytestmark = pytest.mark.xdist_group("e2e-ttl")

DAY = 86_400
TTL_ENV = {"DEBOUNCE_SECONDS": "1", "MAX_WAIT_SECONDS": "4", "MAX_MESSAGES": "5"}


@pytest.fixture(scope="module")
def ttl_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    environments = {kind: {**TTL_ENV, "WORKFLOW_TYPE": kind} for kind in ("STANDARD", "EXPRESS")}
    log_dir: Path = tmp_path_factory.mktemp("e2e-ttl-server")
    with _running(log_dir, environments) as started:
        yield started


def _post(server: Server, user: str, mid: str, text: str) -> None:
    raw = builders.body(builders.whatsapp(user, builders.wa_message(user, mid, text)))
    status, _, body = server.http("POST", "/webhook/whatsapp", raw, builders.sign("whatsapp", raw))
    assert status == 200, body


def _sweep(server: Server, body: Any) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, answer = server.http("POST", "/local/ttl-sweep", raw, {"Content-Type": "application/json"})
    return status, json.loads(answer)


def _replies(server: Server, user: str, count: int) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = poll(
        lambda: r if len(r := server.replies_to(user)) >= count else None, timeout=40, what=f"{count} replies"
    )
    return replies


@pytest.mark.parametrize("kind", ["STANDARD", "EXPRESS"])
def test_a_person_who_comes_back_after_three_days_gets_one_reply(ttl_servers: dict[str, Server], kind: str) -> None:
    server = ttl_servers[kind]
    user = "1555" + str(uuid.uuid4().int % 10**8).zfill(8)
    _post(server, user, f"wamid.{user}.0", "hello")
    _replies(server, user, 1)

    # WHEN three days pass: DynamoDB TTL deleted the buffer (turns and dedupe records outlive it)
    status, answer = _sweep(server, {"after_seconds": 3 * DAY})
    assert status == 200 and answer["deleted"] >= 1, answer
    # AND the channel redelivers the old message, then the person writes again
    _post(server, user, f"wamid.{user}.0", "hello")
    _post(server, user, f"wamid.{user}.1", "me again")

    # THEN exactly one new reply, to the new message alone
    replies = _replies(server, user, 2)
    assert [r["message_ids"] for r in replies] == [[f"wamid.{user}.0"], [f"wamid.{user}.1"]]
    status, answer = _sweep(server, {"after_seconds": 0})
    assert status == 200 and answer == {"deleted": 0}


def test_the_sweep_route_takes_only_a_non_negative_number(ttl_servers: dict[str, Server]) -> None:
    server = ttl_servers["STANDARD"]
    bad: list[Any] = [
        b"not json",
        b"",
        [],
        {},
        {"after_seconds": -1},
        {"after_seconds": "3600"},
        {"after_seconds": True},
        {"after_seconds": None},
        b'{"after_seconds": NaN}',
        b'{"after_seconds": 1e999}',
    ]
    for body in bad:
        status, answer = _sweep(server, body)
        assert status == 400 and "after_seconds" in answer["error"], (body, status, answer)
    assert _sweep(server, {"after_seconds": 0.5})[0] == 200
    for method in ("GET", "PUT", "DELETE"):
        status, headers, raw = server.http(method, "/local/ttl-sweep")
        assert status == 405 and headers.get("Allow") == "POST", (method, status)
        assert "error" in json.loads(raw)
