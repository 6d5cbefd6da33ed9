"""Meters a LocalRuntime: every emulated AWS request by conversation, DynamoDB capacity units, Lambda durations.

The emulator already counts each botocore request by caller. The meter wraps the same dispatch to also learn, from
the request itself, which conversation it served (so concurrent bursts of different designs and sizes can be
told apart), and for DynamoDB how many capacity units it consumed. moto reports a constant ConsumedCapacity
whatever the item size, so the units are computed from the item as stored before and after each request, read from
moto's table under the emulator's lock, with DynamoDB's documented rules:
- a write (PutItem, UpdateItem, DeleteItem) costs ceil(max(size before, size after) / 1 KB) WRU, at least 1, also
  when its condition fails; each item of a TransactWriteItems costs twice that;
- a strongly consistent GetItem costs ceil(size / 4 KB) RRU, at least 1 (an eventually consistent one half);
- a Query costs ceil(total size / 4 KB), from the items it returned (after projection: a lower bound).
Item size: attribute names and values in UTF-8; numbers 1 byte per two significant digits plus 1; lists and maps
3 bytes plus 1 per element.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from debouncer.local.emulator import Emulator, Handler, _action
from debouncer.local.runtime import ACCOUNT, REGION, LocalRuntime

# Callers that are the benchmark or the runtime's own setup, not the pipeline.
NOT_PIPELINE = frozenset({"bench", "setup", "operator"})
DYNAMODB_WRITES = frozenset({"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"})


@dataclass(frozen=True)
class Call:
    """One AWS request of the pipeline."""

    caller: str
    action: str
    conversation: str | None
    wru: float = 0.0
    rru: float = 0.0

    @property
    def service(self) -> str:
        """'dynamodb', 'states', 'lambda', 'sqs'."""
        return self.action.split(":", 1)[0]


@dataclass(frozen=True)
class Invocation:
    """One Lambda handler run, timed in-process: in total, and inside the emulated AWS calls it made."""

    function: str
    conversation: str | None
    seconds: float
    emulator_seconds: float

    @property
    def own_seconds(self) -> float:
        """Time in our code and its libraries: the run minus the emulator's share."""
        return self.seconds - self.emulator_seconds


@dataclass
class Meter:
    """Install on a started LocalRuntime before the load; read `calls` and `invocations` afterwards."""

    runtime: LocalRuntime
    calls: list[Call] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    unmetered: set[str] = field(default_factory=set)
    execution_conversations: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _label: threading.local = field(default_factory=threading.local)
    _emulated: threading.local = field(default_factory=threading.local)

    def install(self) -> Meter:
        """Wrap the emulator's request dispatch and every registered Lambda handler."""
        emulator = self.runtime.emulator
        original = emulator.handle

        def handle(stubber: Any, request: Any) -> Any:
            return self._handle(emulator, original, stubber, request)

        emulator.handle = handle  # type: ignore[method-assign]
        for name, function in list(emulator.functions.items()):
            emulator.functions[name] = self._timed(name, function)
        return self

    @contextmanager
    def conversation(self, key: str) -> Iterator[None]:
        """Attribute the AWS calls this thread makes inside to conversation `key` (the webhook's calls)."""
        self._label.key = key
        try:
            yield
        finally:
            del self._label.key

    def _timed(self, name: str, function: Handler) -> Handler:
        def run(event: dict[str, Any], context: Any) -> Any:
            key = getattr(self._label, "key", None) or event.get("conversation_key")
            emulated_before = getattr(self._emulated, "seconds", 0.0)
            start = time.perf_counter()
            try:
                return function(event, context)
            finally:
                elapsed = time.perf_counter() - start
                emulated = getattr(self._emulated, "seconds", 0.0) - emulated_before
                with self._lock:
                    self.invocations.append(Invocation(name, key, elapsed, emulated))

        return run

    def _handle(self, emulator: Emulator, original: Callable[[Any, Any], Any], stubber: Any, request: Any) -> Any:
        caller = emulator.caller
        if caller in NOT_PIPELINE:
            return original(stubber, request)
        action = _action(request)
        if action == "lambda:InvokeFunction":  # the invoked handler times itself
            return self._metered(emulator, original, stubber, request, caller, action)
        start = time.perf_counter()
        try:
            return self._metered(emulator, original, stubber, request, caller, action)
        finally:
            self._emulated.seconds = getattr(self._emulated, "seconds", 0.0) + time.perf_counter() - start

    def _metered(
        self,
        emulator: Emulator,
        original: Callable[[Any, Any], Any],
        stubber: Any,
        request: Any,
        caller: str,
        action: str,
    ) -> Any:
        body = _json(request.body)
        key = getattr(self._label, "key", None) or self._conversation_of(action, body)
        if not action.startswith("dynamodb:"):
            response = original(stubber, request)
            self._record(Call(caller, action, key))
            if action == "states:StartExecution" and key:
                name = body.get("name", "")
                arn = str(body.get("stateMachineArn", "")).replace(":stateMachine:", ":execution:") + f":{name}"
                with self._lock:
                    self.execution_conversations[arn] = key
            return response
        with emulator.lock:  # nothing else may change the item between the two size readings
            keys = _item_keys(action, body)
            before = [_stored_size(table, k) for table, k in keys]
            response = original(stubber, request)
            after = [_stored_size(table, k) for table, k in keys]
        wru = rru = 0.0
        if action in DYNAMODB_WRITES:
            wru = sum(_write_units(b, a) for b, a in zip(before, after, strict=True))
        elif action == "dynamodb:TransactWriteItems":
            wru = 2 * sum(_write_units(b, a) for b, a in zip(before, after, strict=True))
        elif action == "dynamodb:GetItem":
            rru = _read_units(after[0], consistent=bool(body.get("ConsistentRead")))
        elif action == "dynamodb:BatchGetItem":
            consistent = all(bool(r.get("ConsistentRead")) for r in body.get("RequestItems", {}).values())
            rru = sum(_read_units(size, consistent=consistent) for size in after)  # each item rounds up on its own
        elif action == "dynamodb:Query":
            returned = _json(response[2] if response else None).get("Items", [])
            size = sum(_item_size({k: DynamoType(v) for k, v in item.items()}) for item in returned)
            rru = _read_units(size, consistent=bool(body.get("ConsistentRead")))
        else:
            self.unmetered.add(action)
        self._record(Call(caller, action, key, wru=wru, rru=rru))
        return response

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _conversation_of(self, action: str, body: dict[str, Any]) -> str | None:
        """The conversation a request serves, from its own parameters."""
        if action.startswith("dynamodb:"):
            keys = _item_keys(action, body)
            if keys:
                return str(keys[0][1]["pk"].get("S")) if "pk" in keys[0][1] else None
            pk = body.get("ExpressionAttributeValues", {}).get(":pk", {})
            return pk.get("S") if isinstance(pk, dict) else None
        if action == "states:StartExecution":
            return _json(body.get("input")).get("conversation_key")
        if action == "states:StopExecution":
            with self._lock:
                return self.execution_conversations.get(str(body.get("executionArn")))
        if action == "sqs:SendMessage":
            return _json(body.get("MessageBody")).get("conversation_key")
        return body.get("conversation_key") if isinstance(body.get("conversation_key"), str) else None


def _json(raw: Any) -> dict[str, Any]:
    if raw is None or raw == b"" or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _item_keys(action: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, primary key) of every item a request touches."""
    if action == "dynamodb:TransactWriteItems":
        keys = []
        for entry in body.get("TransactItems", []):
            for operation in entry.values():
                key = operation.get("Key") or {k: operation["Item"][k] for k in ("pk", "sk") if k in operation["Item"]}
                keys.append((operation["TableName"], key))
        return keys
    if action == "dynamodb:BatchGetItem":
        return [(table, key) for table, request in body.get("RequestItems", {}).items() for key in request["Keys"]]
    if "Key" in body:
        return [(body["TableName"], body["Key"])]
    if "Item" in body:
        return [(body["TableName"], {k: body["Item"][k] for k in ("pk", "sk") if k in body["Item"]})]
    return []


def _stored_size(table: str, key: dict[str, Any]) -> int:
    try:
        item = dynamodb_backends[ACCOUNT][REGION].get_item(table, key)
    except Exception:  # an unknown table or key shape: the request itself fails the same way
        return 0
    return 0 if item is None else _item_size(item.attrs)


def _item_size(attributes: dict[str, DynamoType]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in attributes.items())


def _value_size(value: DynamoType) -> int:
    kind, raw = value.type, value.value
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return _number_size(str(raw))
    if kind == "B":
        return len(raw) if isinstance(raw, bytes) else len(str(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in raw)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in raw)
    if kind == "BS":
        return sum(len(v) for v in raw)
    if kind == "L":
        return 3 + sum(1 + _value_size(_typed(v)) for v in raw)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(_typed(v)) for k, v in raw.items())
    return len(str(raw).encode())


def _typed(value: Any) -> DynamoType:
    return value if isinstance(value, DynamoType) else DynamoType(value)


def _number_size(text: str) -> int:
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        return len(text)
    return math.ceil(len(digits) / 2) + 1


def _write_units(before: int, after: int) -> int:
    return max(1, math.ceil(max(before, after) / 1024))


def _read_units(size: int, *, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2
