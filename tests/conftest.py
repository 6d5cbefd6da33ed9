"""Shared fixtures: a fresh local runtime (moto + the real handlers + the real state machine) per test.

The runtime's Step Functions workflow type is $WORKFLOW_TYPE (STANDARD by default), so a whole suite runs in either
mode with `WORKFLOW_TYPE=EXPRESS pytest ...`. A test or module marked `workflow_types` runs once per type instead:
`pytestmark = pytest.mark.workflow_types()` for both, `workflow_types("EXPRESS")` for one.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

# Lambda sets the service name before a handler's first import, and Powertools' child loggers take it then: a test
# importing debouncer.api.webhook before any runtime started would leave its lines under "service_undefined".
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "chat-debouncer")

from debouncer.local.runtime import ACCOUNT, REGION, LocalRuntime
from debouncer.workflow import WORKFLOW_TYPES
from tests import builders

RuntimeFactory = Callable[..., LocalRuntime]


def pytest_configure(config: pytest.Config) -> None:
    """Register the workflow_types marker (the suite runs with --strict-markers)."""
    config.addinivalue_line(
        "markers", "workflow_types(*types): run once per Step Functions workflow type (no argument: STANDARD, EXPRESS)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `workflow_type` (and so start_runtime) for tests marked workflow_types."""
    marker = metafunc.definition.get_closest_marker("workflow_types")
    if marker is not None and "workflow_type" in metafunc.fixturenames:
        types = marker.args or WORKFLOW_TYPES
        metafunc.parametrize("workflow_type", types, ids=[t.lower() for t in types])


@pytest.fixture
def workflow_type() -> str:
    """The workflow type start_runtime uses: $WORKFLOW_TYPE, STANDARD by default (parametrized by the marker)."""
    return os.environ.get("WORKFLOW_TYPE", "STANDARD").upper()


@pytest.fixture
def start_runtime(workflow_type: str) -> Iterator[RuntimeFactory]:
    """Start a LocalRuntime with environment overrides; stopped after the test."""
    started: list[LocalRuntime] = []

    def start(**environment: str) -> LocalRuntime:
        env = {
            "DEBOUNCE_SECONDS": "1",
            "MAX_WAIT_SECONDS": "6",
            "MAX_MESSAGES": "50",
            "WORKFLOW_TYPE": workflow_type,
            **environment,
        }
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
    """True once no execution of the state machine is still running (Express duplicates included)."""
    return runtime.executions_settled()


def run_one_task_machine(runtime: LocalRuntime, function: str, timeout: float = 15.0) -> dict[str, Any]:
    """Run a one-state machine whose Task invokes `function` (as the pipeline's do) until it ends; its description."""
    definition = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}", "Payload": {}},
                "End": True,
            }
        },
    }
    sfn = boto3.client("stepfunctions", region_name=REGION)
    with runtime.emulator.running_as("operator"):
        arn = sfn.create_state_machine(
            name=f"{runtime.name}-{function}",
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/x",
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]

    def ended() -> dict[str, Any] | None:
        with runtime.emulator.running_as("operator"):
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        return described if described["status"] != "RUNNING" else None

    result: dict[str, Any] = wait_for(ended, timeout=timeout)
    return result
