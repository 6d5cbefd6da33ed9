"""moto in-process for DynamoDB, SQS and Step Functions, with Lambda Task invokes dispatched to our handlers.

moto is not thread-safe (concurrent UpdateItems lose list_append writes), so every emulated AWS request is
serialized by one re-entrant lock, never held across a Lambda invoke: that call runs our handler and the AI.
"""

from __future__ import annotations

import json
import math
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp

Handler = Callable[[dict[str, Any], Any], Any]
# A fault hook sees (caller, "service:Operation") before the request runs; a tuple it returns is the response.
FaultHook = Callable[[str, str], "tuple[int, dict[str, str], str] | None"]
Response = tuple[int, dict[str, str], str | bytes]

_ORIGINAL_PROCESS_REQUEST = BotocoreStubber.process_request
_ORIGINAL_WAIT_SECONDS = Timestamp._get_wait_seconds
_active: Emulator | None = None


def _wait_seconds_rounded_up(self: Timestamp, env: Any) -> int:
    # moto truncates the delta and compares against local time, waking up to a second early and busy-looping;
    # AWS wakes at the timestamp. Round up, in UTC.
    self.string.eval(env=env)
    stamp = self._from_timestamp_string(env.stack.pop())
    if stamp is None:
        return _ORIGINAL_WAIT_SECONDS(self, env)
    delta = stamp.replace(tzinfo=UTC) - datetime.now(UTC)
    return max(0, math.ceil(delta.total_seconds()))


def _dispatch(stubber: BotocoreStubber, request: Any) -> Response | None:
    emulator = _active
    if emulator is None:
        return _ORIGINAL_PROCESS_REQUEST(stubber, request)
    return emulator.handle(stubber, request)


class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = f"local-{time.monotonic_ns()}"

    def get_remaining_time_in_millis(self) -> int:
        """Lambda API: time left."""
        return 60_000


class Emulator:
    """Starts moto, serializes it, dispatches Lambda invokes, and counts every AWS call by caller."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.functions: dict[str, Handler] = {}
        self.calls: Counter[tuple[str, str]] = Counter()
        self._calls_lock = threading.Lock()
        self.faults: list[FaultHook] = []
        self._caller = threading.local()
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})

    def start(self) -> Emulator:
        """Patch moto and start mocking; one emulator per process at a time."""
        global _active
        if _active is not None:
            raise RuntimeError("an emulator is already running in this process")
        self._mock.start()
        BotocoreStubber.process_request = _dispatch  # type: ignore[method-assign,assignment]
        Timestamp._get_wait_seconds = _wait_seconds_rounded_up  # type: ignore[method-assign]
        _active = self
        return self

    def stop(self) -> None:
        """Undo the patches and stop mocking."""
        global _active
        _active = None
        BotocoreStubber.process_request = _ORIGINAL_PROCESS_REQUEST  # type: ignore[method-assign]
        Timestamp._get_wait_seconds = _ORIGINAL_WAIT_SECONDS  # type: ignore[method-assign]
        self._mock.stop()

    @property
    def caller(self) -> str:
        """Which of our functions is running on this thread ('state_machine' outside any handler)."""
        return getattr(self._caller, "name", "state_machine")

    @contextmanager
    def running_as(self, name: str) -> Iterator[None]:
        """Attribute the AWS calls made inside to function `name`."""
        previous = getattr(self._caller, "name", None)
        self._caller.name = name
        try:
            yield
        finally:
            if previous is None:
                del self._caller.name
            else:
                self._caller.name = previous

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Run one of our handlers as Lambda would, attributing its AWS calls to it."""
        with self.running_as(name):
            return self.functions[name](event, LambdaContext(name))

    def handle(self, stubber: BotocoreStubber, request: Any) -> Response | None:
        """Route one botocore request: a Lambda invoke to our handler, anything else to moto under the lock."""
        action = _action(request)
        caller = self.caller
        with self._calls_lock:
            self.calls[(caller, action)] += 1
        for fault in list(self.faults):
            injected = fault(caller, action)
            if injected is not None:
                return injected
        if action == "lambda:InvokeFunction":
            return self._invoke_from_url(request.url, request.body)
        with self.lock:
            return _ORIGINAL_PROCESS_REQUEST(stubber, request)

    def _invoke_from_url(self, url: str, body: bytes | str | None) -> Response:
        function = unquote(url.split("/functions/", 1)[1].split("/", 1)[0]).rsplit(":", 1)[-1]
        if function not in self.functions:
            return 404, {}, json.dumps({"Type": "User", "message": f"Function not found: {function}"})
        event = json.loads(body or b"{}")
        try:
            result = self.invoke(function, event)
        except Exception as e:
            payload = {
                "errorType": type(e).__name__,
                "errorMessage": str(e),
                "stackTrace": traceback.format_tb(e.__traceback__)[-3:],
            }
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(payload)
        return 200, {"X-Amz-Executed-Version": "$LATEST"}, json.dumps(result)

    def observed_actions(self) -> dict[str, list[str]]:
        """The IAM actions each caller needed, as seen so far."""
        observed: dict[str, set[str]] = {}
        with self._calls_lock:
            seen = list(self.calls)
        for caller, action in seen:
            observed.setdefault(caller, set()).update(iam_actions(action))
        return {caller: sorted(actions) for caller, actions in sorted(observed.items())}


def _action(request: Any) -> str:
    """'service:Operation' of a botocore request (JSON protocols name it in X-Amz-Target)."""
    target = request.headers.get("X-Amz-Target")
    if isinstance(target, bytes):
        target = target.decode()
    host = request.url.split("://", 1)[-1].split(".", 1)[0]
    if target:
        prefix, operation = target.rsplit(".", 1)
        service = {"DynamoDB_20120810": "dynamodb", "AWSStepFunctions": "states", "AmazonSQS": "sqs"}.get(prefix, host)
        return f"{service}:{operation}"
    if host == "lambda" and "/invocations" in request.url:
        return "lambda:InvokeFunction"
    return f"{host}:{request.method} {request.url.split('?', 1)[0].split('.com', 1)[-1]}"


def iam_actions(action: str) -> set[str]:
    """The IAM actions an API call needs (a transaction is authorized per item operation)."""
    if action == "dynamodb:TransactWriteItems":
        return {"dynamodb:UpdateItem", "dynamodb:PutItem"}
    return {action}
