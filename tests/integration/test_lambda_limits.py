"""The local runtime holds our functions to Lambda's limits: reserved concurrency, and the payload limits of Lambda's
synchronous invokes and of Step Functions' state data."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from debouncer.local.environments import MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES
from debouncer.local.runtime import REGION, LocalRuntime, reserved_concurrency
from tests import builders
from tests.conftest import RuntimeFactory, post, replies_to, run_one_task_machine, wait_for

pytestmark = pytest.mark.workflow_types("STANDARD")

HOLD_SECONDS = 20.0  # the longest a held invocation waits for the test to let it go (never reached when it passes)


def _items(runtime: LocalRuntime) -> str:
    """Every item of the table, as one text to search ids in."""
    with runtime.emulator.running_as("operator"):
        pages = boto3.client("dynamodb", region_name=REGION).get_paginator("scan").paginate(TableName=runtime.name)
        return json.dumps([item for page in pages for item in page.get("Items", [])])


def _lambda() -> Any:
    return boto3.client("lambda", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))


def _deploy(runtime: LocalRuntime, name: str, handler: Callable[[dict[str, Any], Any], Any]) -> None:
    runtime.emulator.deploy(name, lambda: SimpleNamespace(handler=handler), timeout_seconds=10)


def test_reserved_concurrency_reads_one_number_for_all_or_one_per_function() -> None:
    assert reserved_concurrency("") == {}
    assert reserved_concurrency("2") == {"post_message": 2, "process_message": 2, "reply": 2}
    assert reserved_concurrency("process_message=1, reply=-1") == {"process_message": 1}
    for wrong in ("0", "post_message=0", "poster=1", "1.5", "reply=x"):
        with pytest.raises(ValueError, match="LAMBDA_RESERVED_CONCURRENCY"):
            reserved_concurrency(wrong)


def test_a_webhook_past_post_messages_reserved_concurrency_is_answered_as_api_gateway_does_and_stores_nothing(
    start_runtime: RuntimeFactory,
) -> None:
    runtime = start_runtime(LAMBDA_RESERVED_CONCURRENCY="post_message=1")
    entered, release = threading.Event(), threading.Event()
    original = runtime.handlers["post_message"].handler

    def held(event: dict[str, Any], context: Any) -> Any:
        entered.set()
        release.wait(HOLD_SECONDS)
        return original(event, context)

    runtime.handlers["post_message"].root().handler = held
    first: list[tuple[int, dict[str, Any]]] = []
    opening = builders.generic("c1", "m-1", "hi")
    poster = threading.Thread(target=lambda: first.append(post(runtime, "generic", opening)))
    poster.start()
    try:
        assert entered.wait(HOLD_SECONDS)
        # WHEN a second webhook arrives while the only environment allowed is busy
        raw = builders.body(builders.generic("c2", "m-2", "hello"))
        status, headers, body = runtime.http(
            "POST", "/webhook/generic", body=raw, headers=builders.sign("generic", raw)
        )
    finally:
        release.set()
        poster.join(HOLD_SECONDS)

    # THEN it is throttled: the HTTP API answers 500 (a non-2xx: the channel redelivers) and nothing of it is stored
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert headers["Content-Type"] == "application/json"
    assert first[0][0] == 200
    stats = runtime.emulator.lambda_stats()["post_message"]
    assert (stats["throttles"], stats["invocations"]) == (1, 1)
    stored = _items(runtime)
    assert "m-1" in stored
    assert "m-2" not in stored


def test_a_throttled_processor_is_retried_by_the_state_machine_and_both_bursts_are_answered_once(
    start_runtime: RuntimeFactory,
) -> None:
    runtime = start_runtime(LAMBDA_RESERVED_CONCURRENCY="process_message=1")
    pool = runtime.emulator.pools["process_message"]
    original = runtime.handlers["process_message"].handler
    held_once = threading.Lock()

    def held(event: dict[str, Any], context: Any) -> Any:
        # The first invocation waits until the other burst's invoke was throttled, so the two always collide.
        if held_once.acquire(blocking=False):
            wait_for(lambda: pool.stats()["throttles"] >= 1, timeout=HOLD_SECONDS)
        return original(event, context)

    runtime.handlers["process_message"].root().handler = held
    for conversation in ("t1", "t2"):
        assert post(runtime, "generic", builders.generic(conversation, f"{conversation}-m", "hi"))[0] == 200

    wait_for(lambda: all(replies_to(runtime, c) for c in ("t1", "t2")), timeout=30)
    wait_for(runtime.executions_settled, timeout=30)

    assert [len(replies_to(runtime, c)) for c in ("t1", "t2")] == [1, 1]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    failures = []
    with runtime.emulator.running_as("operator"):
        for execution in runtime.executions():
            assert execution["status"] == "SUCCEEDED"
            events = sfn.get_execution_history(executionArn=execution["arn"])["events"]
            failures += [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    throttled = [f for f in failures if f["error"] == "Lambda.TooManyRequestsException"]
    assert throttled, failures
    assert throttled[0]["cause"].startswith("Rate Exceeded. (Service: AWSLambda; Status Code: 429; ")


def test_an_event_over_6_mb_is_refused_by_lambda_before_the_function_runs(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    calls: list[Any] = []

    def echo(event: dict[str, Any], context: Any) -> dict[str, bool]:
        calls.append(event)
        return {"ok": True}

    _deploy(runtime, "echo", echo)
    oversize = json.dumps({"text": "x" * MAX_SYNC_REQUEST_BYTES}).encode()

    with runtime.emulator.running_as("operator"), pytest.raises(ClientError) as refused:
        _lambda().invoke(FunctionName="echo", Payload=oversize)

    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Code"] == "RequestTooLargeException"
    assert error["Error"]["Message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    assert calls == []


def test_a_webhook_event_over_6_mb_never_reaches_post_message(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    # Under API Gateway's 10 MB, over Lambda's 6 MB: the integration fails before the handler's own 256 KiB check.
    raw = builders.body(builders.generic("big", "m-big", "x" * (7 * 1024 * 1024)))

    status, _, body = runtime.http("POST", "/webhook/generic", body=raw, headers=builders.sign("generic", raw))

    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    stats = runtime.emulator.lambda_stats()["post_message"]
    assert (stats["oversize_requests"], stats["invocations"]) == (1, 0)


def test_a_response_over_6_mb_is_a_function_error(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    _deploy(runtime, "bloat", lambda event, context: {"text": "x" * MAX_SYNC_RESPONSE_BYTES})

    with runtime.emulator.running_as("operator"):
        answer = _lambda().invoke(FunctionName="bloat", Payload=b"{}")

    assert answer["FunctionError"] == "Unhandled"
    payload = json.loads(answer["Payload"].read())
    assert payload == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }


def test_a_state_result_over_256_kib_fails_the_execution_with_states_data_limit_exceeded(
    start_runtime: RuntimeFactory,
) -> None:
    runtime = start_runtime()
    _deploy(runtime, "big_result", lambda event, context: {"text": "x" * (256 * 1024)})

    described = run_one_task_machine(runtime, "big_result")

    assert described["status"] == "FAILED"
    assert described["error"] == "States.DataLimitExceeded"


def test_a_payload_is_measured_in_utf8_bytes_as_lambda_carries_it() -> None:
    # A JSON-escaped emoji (\ud83d\ude00) is 12 bytes, the UTF-8 Lambda carries 4: a 2 MB body of emoji is no 6 MB
    # request (the webhook fuzz found a 500 where AWS would have run the function).
    from debouncer.local.environments import _json_size

    assert _json_size({"t": "😀"}) == len('{"t":"😀"}'.encode()) == 12
