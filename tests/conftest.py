"""Shared fixtures: a fresh local runtime (moto + the real handlers + the real state machine) per test."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from debouncer.local.runtime import LocalRuntime
from tests import builders

RuntimeFactory = Callable[..., LocalRuntime]


@pytest.fixture
def start_runtime() -> Iterator[RuntimeFactory]:
    """Start a LocalRuntime with environment overrides; stopped after the test."""
    started: list[LocalRuntime] = []

    def start(**environment: str) -> LocalRuntime:
        env = {"DEBOUNCE_SECONDS": "1", "MAX_WAIT_SECONDS": "6", "MAX_MESSAGES": "50", **environment}
        # A unique name per test: an execution outliving its runtime can never touch the next test's resources.
        runtime = LocalRuntime(env, name=f"test-{uuid.uuid4().hex[:8]}").start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        try:
            runtime.stop_executions()
        finally:
            runtime.stop()


def post(runtime: LocalRuntime, channel: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST a payload signed the way its channel signs it."""
    import json

    raw = builders.body(payload)
    status, _, body = runtime.http("POST", f"/webhook/{channel}", body=raw, headers=builders.sign(channel, raw))
    return status, json.loads(body)


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll until `predicate` is truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def replies_to(runtime: LocalRuntime, recipient: str) -> list[dict[str, Any]]:
    """Outbox entries addressed to one recipient."""
    return [e for e in runtime.outbox.entries() if e["recipient"] == recipient]


def executions_settled(runtime: LocalRuntime) -> bool:
    """True once no execution of the state machine is still running."""
    import boto3

    with runtime.emulator.running_as("operator"):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        running = sfn.list_executions(stateMachineArn=runtime.state_machine_arn, statusFilter="RUNNING")
    return not running["executions"]
