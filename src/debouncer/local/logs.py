"""The local server's console log: one readable line per HTTP request and per burst decision.

Conversations appear as their pseudonym (debouncer.domain.privacy), never by key: a key holds a phone number or a
user id. moto's own ERROR records for failures the state machine handles by design (a Choice on an absent path, a
task error it retries or catches) are dropped, unless LOG_LEVEL=DEBUG; a burst that ends on the dead-letter queue gets
one line with the reason instead of the emulator's dump.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import boto3

from debouncer.domain.privacy import conversation_ref

if TYPE_CHECKING:
    from debouncer.local.runtime import LocalRuntime

REQUESTS = logging.getLogger("debouncer.local.requests")
BURSTS = logging.getLogger("debouncer.local.bursts")
# moto logs every exception an ASL component raises at ERROR, each once per enclosing component.
MOTO_EVALUATION_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"
REASON_CHARS = 300  # a channel's reason is a sentence; more is a dump


def configure(level: str = "INFO") -> None:
    """The console's format for the request and burst lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    for logger in (REQUESTS, BURSTS):
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def handled_errors(definition: str) -> frozenset[str]:
    """The error names a definition retries or catches (every ErrorEquals, States.ALL aside), and its Fail states'
    own errors: each ends a path the definition chose."""
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, dict):
            names.update(n for n in node.get("ErrorEquals", ()) if isinstance(n, str) and n != "States.ALL")
            if node.get("Type") == "Fail" and isinstance(node.get("Error"), str):
                names.add(node["Error"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(json.loads(definition))
    return frozenset(names)


class DesignedFailures(logging.Filter):
    """Drops moto's ERROR records of failures the definition handles: NoSuchJsonPathError (the Route Choice reads a
    path only after its IsPresent test; moto still evaluates and logs it), and task errors its Retry or Catch names.
    Every other record of moto's passes, and all of them do at DEBUG."""

    def __init__(self, handled: frozenset[str]) -> None:
        super().__init__()
        self.handled = handled

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        summary = str(record.args[0]) if isinstance(record.args, tuple) and record.args else str(record.msg)
        if summary.startswith("Exception=NoSuchJsonPathError"):
            return False
        if summary.startswith("Exception=FailureEventException, Error="):
            error = summary.removeprefix("Exception=FailureEventException, Error=").split(",", 1)[0]
            return error not in self.handled
        return True


def request_line(method: str, path: str, status: int, started: float) -> None:
    """`POST /webhook/generic 200 12 ms`: the path without its query (a query may name a recipient)."""
    REQUESTS.info("%s %s %d %.0f ms", method, path, status, (time.perf_counter() - started) * 1000)


def observe(runtime: LocalRuntime) -> None:
    """Log each burst decision of this runtime (claimed, answered, superseded, dead-lettered), and drop moto's records
    of the failures its state machine handles."""
    from debouncer.local.runtime import REGION

    emulator = runtime.emulator
    with emulator.running_as("operator"):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        definition = sfn.describe_state_machine(stateMachineArn=runtime.state_machine_arn)["definition"]
    moto = logging.getLogger(MOTO_EVALUATION_LOGGER)
    for stale in [f for f in moto.filters if isinstance(f, DesignedFailures)]:
        moto.removeFilter(stale)
    moto.addFilter(DesignedFailures(handled_errors(definition)))
    emulator.functions["process_message"] = _logged(emulator.functions["process_message"], _processed)
    emulator.functions["reply"] = _logged(emulator.functions["reply"], _replied)
    handle = emulator.handle

    def handle_and_note(stubber: Any, request: Any) -> Any:
        response = handle(stubber, request)
        if response is not None and 200 <= int(response[0]) < 300:  # what happened, not what was tried
            raw = request.body
            body = raw if isinstance(raw, str) else bytes(raw or b"").decode("utf-8", "replace")
            if "superseded_at =" in body:
                _superseded(body)
            elif _is_send_message(request, body):
                _dead_lettered(body)
        return response

    emulator.handle = handle_and_note  # type: ignore[method-assign]


Invoke = Callable[[dict[str, Any], Any], Any]


def _logged(invoke: Invoke, note: Callable[[dict[str, Any], Any], None]) -> Invoke:
    def logged(event: dict[str, Any], context: Any) -> Any:
        result = invoke(event, context)
        try:
            note(event, result)
        except (KeyError, TypeError, ValueError):  # an event or result of another shape: a test's own
            BURSTS.debug("no burst line for %s", type(result).__name__)
        return result

    return logged


def _burst(event: dict[str, Any]) -> str:
    return f"burst {int(event['burst'])} of {conversation_ref(str(event['conversation_key']))}"


def _processed(event: dict[str, Any], result: Any) -> None:
    if not result.get("claimed"):
        return  # claimed by another run, or nothing waiting: no decision here
    if event.get("flush"):
        reason = "flushed early (keyword or max messages)"
    elif result.get("claimed_at_max_wait"):
        reason = "max wait reached"
    else:
        reason = "quiet"
    failed = ", AI failed" if result.get("ai_failed") else ""
    count = int(result["messages"])
    BURSTS.info("%s claimed: %d message%s, %s%s", _burst(event), count, "" if count == 1 else "s", reason, failed)


def _replied(event: dict[str, Any], result: Any) -> None:
    if result.get("delivered"):
        BURSTS.info("%s answered", _burst(event))


def _superseded(body: str) -> None:
    """A turn marked superseded: the next burst answers its messages (the write names the turn's conversation)."""
    try:
        document = json.loads(body)
    except ValueError:
        return
    for key in _superseded_keys(document):
        BURSTS.info("a burst of %s superseded: the next burst answers its messages", conversation_ref(key))


def _superseded_keys(document: dict[str, Any]) -> Iterator[str]:
    updates = [item.get("Update", {}) for item in document.get("TransactItems", [])] or [document]
    for update in updates:
        if "superseded_at =" in str(update.get("UpdateExpression", "")):
            pk = update.get("Key", {}).get("pk", {}).get("S")
            if isinstance(pk, str):
                yield pk


def _is_send_message(request: Any, body: str) -> bool:
    """SQS SendMessage, in the JSON protocol (named by X-Amz-Target, str or bytes) or the query protocol."""
    target = request.headers.get("X-Amz-Target") or ""
    if isinstance(target, bytes):
        target = target.decode()
    return str(target).endswith(".SendMessage") or "Action=SendMessage" in body


def _dead_lettered(body: str) -> None:
    """The dead-letter record the state machine sent: its burst and the reason, in one line."""
    try:
        document = json.loads(body or "{}")
    except ValueError:  # the query protocol
        document = dict(parse_qsl(body))
    try:
        record = json.loads(document.get("MessageBody", ""))
        key, burst = str(record["conversation_key"]), int(record["burst"])
    except (ValueError, KeyError, TypeError):
        return  # not one of the state machine's records
    BURSTS.info("burst %d of %s dead-lettered: %s", burst, conversation_ref(key), _reason(record))


def _reason(record: dict[str, Any]) -> str:
    """The error's message (the channel's reason for a refused reply), from the Lambda error payload in `cause`."""
    error, cause = str(record.get("error") or "error"), record.get("cause")
    try:
        payload = json.loads(cause) if isinstance(cause, str) else None
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("errorMessage"):
        message = str(payload["errorMessage"])
    else:
        message = str(cause or "")
    message = " ".join(message.split())
    if len(message) > REASON_CHARS:
        message = message[:REASON_CHARS] + "…"
    return f"{error}: {message}" if message else error
