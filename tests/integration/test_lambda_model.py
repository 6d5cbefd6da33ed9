"""The local runtime runs functions as Lambda does: environments, one invocation at a time, init once, timeouts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from debouncer.local.emulator import InvocationTimedOut
from debouncer.local.environments import InvocationKilled
from debouncer.local.runtime import REGION, LocalRuntime, api_gateway_event
from tests.conftest import RuntimeFactory, run_one_task_machine, wait_for

pytestmark = pytest.mark.workflow_types("STANDARD")

Handler = Callable[[dict[str, Any], Any], Any]


def _deploy(runtime: LocalRuntime, name: str, make: Callable[[], Handler], timeout: float = 5.0) -> list[Any]:
    """Deploy a test function; each environment's init calls `make()` once. Returns the list of inits."""
    inits: list[Any] = []

    def load() -> SimpleNamespace:
        module = SimpleNamespace(handler=make(), thread=threading.current_thread().name)
        inits.append(module)
        return module

    runtime.emulator.deploy(name, load, timeout_seconds=timeout)
    return inits


def test_a_function_past_its_timeout_is_reported_to_the_state_machine_as_lambda_unknown(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime()
    # The handler returns only once the test lets it, after the execution ended: had the state machine waited for
    # the handler rather than its timeout, the execution would never end (no timed assertion needed).
    release = threading.Event()
    _deploy(runtime, "sleeper", lambda: lambda event, context: release.wait(30) and {"slept": True}, timeout=1)
    try:
        described = run_one_task_machine(runtime, "sleeper", timeout=10)
    finally:
        release.set()
    # THEN the state failed when the function's timeout passed, while its handler was still running
    assert described["status"] == "FAILED"
    assert described["error"] == "Lambda.Unknown"
    cause = json.loads(described["cause"])
    assert cause["errorType"] == "Sandbox.Timedout"
    assert cause["errorMessage"].startswith("RequestId: local-")
    assert cause["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    with runtime.emulator.running_as("operator"):
        events = boto3.client("stepfunctions", region_name=REGION).get_execution_history(
            executionArn=described["executionArn"]
        )["events"]
    failed = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failed] == ["Lambda.Unknown"]


def test_the_webhook_past_its_timeout_is_answered_503_as_api_gateway_does(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    _deploy(runtime, "post_message", lambda: lambda event, context: time.sleep(2) or {"statusCode": 200}, timeout=1)

    status, headers, body = runtime.http("POST", "/webhook/generic", body=b"{}")

    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})
    assert headers["Content-Type"] == "application/json"


def test_a_timed_out_invocation_is_killed_its_aws_calls_refused_and_its_environment_discarded(
    start_runtime: RuntimeFactory,
) -> None:
    runtime = start_runtime()
    outcomes: list[str] = []

    def make() -> Handler:
        # Created at init, as a handler module does: creating a client in the handler costs CPU that, on a loaded
        # machine, ate the fresh environment's whole 1 s timeout before its write.
        dynamodb = boto3.client("dynamodb", region_name=REGION)

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            time.sleep(event["sleep"])
            item = {"pk": {"S": f"zombie#{event['n']}"}, "sk": {"S": "x"}}
            try:
                dynamodb.put_item(TableName=runtime.table_name, Item=item)
            except InvocationKilled:
                outcomes.append("refused")
                raise
            outcomes.append("written")
            return {"ok": True}

        return handler

    inits = _deploy(runtime, "writer", make, timeout=1)

    # WHEN an invocation runs past its timeout and only then writes to DynamoDB
    with pytest.raises(InvocationTimedOut, match=r"Task timed out after 1\.00 seconds"):
        runtime.emulator.invoke("writer", {"sleep": 1.5, "n": 1})
    wait_for(lambda: outcomes, timeout=5)

    # THEN its write was refused (Lambda would have killed it), and its environment serves nothing more
    assert outcomes == ["refused"]
    with runtime.emulator.running_as("operator"):
        stored = boto3.client("dynamodb", region_name=REGION).get_item(
            TableName=runtime.table_name, Key={"pk": {"S": "zombie#1"}, "sk": {"S": "x"}}
        )
    assert "Item" not in stored
    assert runtime.emulator.invoke("writer", {"sleep": 0, "n": 2}) == {"ok": True}
    assert outcomes == ["refused", "written"]
    assert len(inits) == 2  # a new environment, with a cold start of its own
    stats = runtime.emulator.lambda_stats()["writer"]
    assert (stats["timeouts"], stats["refused_calls"], stats["environments_created"]) == (1, 1, 2)


def test_the_remaining_time_counts_down_from_the_functions_timeout(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()

    def make() -> Handler:
        def handler(event: dict[str, Any], context: Any) -> list[int]:
            first = context.get_remaining_time_in_millis()
            time.sleep(0.3)
            return [first, context.get_remaining_time_in_millis(), context.memory_limit_in_mb]

        return handler

    _deploy(runtime, "clock", make, timeout=3)

    first, second, memory = runtime.emulator.invoke("clock", {})

    assert 2_800 < first <= 3_000
    assert 250 <= first - second < 600
    assert memory == 256


def test_the_pipelines_functions_get_their_timeouts_from_the_settings(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime(PROCESS_MESSAGE_TIMEOUT_SECONDS="45", REPLY_TIMEOUT_SECONDS="20")

    timeouts = {name: pool.timeout_seconds for name, pool in runtime.emulator.pools.items()}

    assert timeouts == {"post_message": 10, "process_message": 45, "reply": 20}


def test_concurrent_invocations_get_environments_of_their_own_and_idle_ones_are_reused(
    start_runtime: RuntimeFactory,
) -> None:
    runtime = start_runtime()
    together = threading.Barrier(2, timeout=10)

    def make() -> Handler:
        active = [0, 0]  # this environment's invocations running now, and the most ever at once

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            active[0] += 1
            active[1] = max(active)
            if event.get("meet"):
                together.wait()
            else:
                time.sleep(0.02)
            active[0] -= 1
            return {"environment": threading.current_thread().name, "most_at_once": active[1]}

        return handler

    inits = _deploy(runtime, "worker", make)

    # WHEN two invocations run at once (neither returns before the other has started)
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(runtime.emulator.invoke("worker", {"meet": True})))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)

    # THEN each ran in an environment of its own, initialised once
    assert len({r["environment"] for r in results}) == 2
    assert len(inits) == 2

    # AND many invocations, eight at a time, reuse idle environments and never share one
    results.clear()
    threads = [threading.Thread(target=lambda: results.append(runtime.emulator.invoke("worker", {}))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    assert len(results) == 8
    assert all(r["most_at_once"] == 1 for r in results)
    stats = runtime.emulator.lambda_stats()["worker"]
    assert stats["environments_created"] == len(inits) <= 8
    assert len(stats["init_ms"]) == stats["environments_created"]
    for _ in range(5):
        runtime.emulator.invoke("worker", {})
    assert runtime.emulator.lambda_stats()["worker"]["environments_created"] == len(inits)  # init once per env


def test_powertools_request_state_is_not_shared_between_concurrent_environments(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    both_resolving = threading.Barrier(2, timeout=10)

    def make() -> Handler:
        app = APIGatewayHttpResolver()
        logger = Logger()

        @app.post("/echo")
        def echo() -> dict[str, Any]:
            mine = app.current_event.headers["x-who"]
            logger.append_keys(who=mine)
            both_resolving.wait()  # the other environment has resolved its own request meanwhile
            return {"header": app.current_event.headers["x-who"], "key": logger.get_current_keys()["who"]}

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return app.resolve(event, context)

        return handler

    _deploy(runtime, "echo", make)
    answers: dict[str, Any] = {}

    def call(who: str) -> None:
        event = api_gateway_event("POST", "/echo", body=b"{}", headers={"X-Who": who})
        answers[who] = json.loads(runtime.emulator.invoke("echo", event)["body"])

    threads = [threading.Thread(target=call, args=(who,)) for who in ("ana", "bo")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)

    assert answers == {"ana": {"header": "ana", "key": "ana"}, "bo": {"header": "bo", "key": "bo"}}


def test_a_patch_of_the_handler_module_reaches_every_environment(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    together = threading.Barrier(2, timeout=10)

    def make() -> Handler:
        module_state = SimpleNamespace(greeting="hello")

        def handler(event: dict[str, Any], context: Any) -> str:
            together.wait()
            return str(module_state.greeting)

        handler.state = module_state  # type: ignore[attr-defined]
        return handler

    _deploy(runtime, "greeter", make)
    runtime.emulator.pools["greeter"].warm()
    code = runtime.emulator.pools["greeter"].code

    # WHEN a test patches the function's module (one environment live), then two invocations run at once
    code.handler.state.greeting = "patched"
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(runtime.emulator.invoke("greeter", {}))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)

    # THEN the environment created for the second one has the patch too
    assert answers == ["patched", "patched"]
    assert runtime.emulator.lambda_stats()["greeter"]["environments_created"] == 2
