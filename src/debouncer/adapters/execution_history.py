"""Step Functions execution history, read for `debouncer explain`: when each burst's timer started, how it ended."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from debouncer.domain.burst import execution_name
from debouncer.domain.errors import RetryableError
from debouncer.domain.timeline import ExecutionRecord

# Not found: Express keeps no history to describe (its executions are in its log group), or Standard's 90 days ended.
GONE = {"ExecutionDoesNotExist", "InvalidArn"}
DEAD_LETTER_STATE = "DeadLetter"
# A cause is the function's error payload, stack trace included: its start says enough.
CAUSE_LIMIT = 1024


def execution_records(
    client: Any, state_machine_arn: str, conversation_key: str, bursts: Iterable[int]
) -> list[ExecutionRecord]:
    """The timer and flush executions of these bursts that Step Functions still describes (their names are
    deterministic: debouncer.domain.burst.execution_name), with the error of each that dead-lettered its burst."""
    prefix, _, machine = state_machine_arn.partition(":stateMachine:")
    records: list[ExecutionRecord] = []
    for burst in sorted(set(bursts)):
        for flush in (False, True):
            name = execution_name(conversation_key, burst, flush=flush)
            arn = f"{prefix}:execution:{machine}:{name}"
            try:
                described = client.describe_execution(executionArn=arn)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code", "") in GONE:
                    continue
                raise RetryableError(f"DescribeExecution: {e.response.get('Error', {}).get('Code', '')}") from e
            stopped = described.get("stopDate")
            error, cause = _dead_letter(client, arn) if described["status"] == "FAILED" else (None, None)
            records.append(
                ExecutionRecord(
                    name=name,
                    burst=burst,
                    flush=flush,
                    status=str(described["status"]),
                    started=described["startDate"].timestamp(),
                    stopped=None if stopped is None else stopped.timestamp(),
                    error=error,
                    cause=cause,
                )
            )
    return records


def _dead_letter(client: Any, execution_arn: str) -> tuple[str | None, str | None]:
    """The error and cause the DeadLetter state sent to the DLQ (newest events first: it is near the end)."""
    pages = client.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, reverseOrder=True, includeExecutionData=True
    )
    for page in pages:
        for event in page.get("events", []):
            entered = event.get("stateEnteredEventDetails") or {}
            if event.get("type") == "TaskStateEntered" and entered.get("name") == DEAD_LETTER_STATE:
                error = json.loads(entered.get("input") or "{}").get("error") or {}
                cause = error.get("Cause")
                return error.get("Error"), None if cause is None else str(cause)[:CAUSE_LIMIT]
    return None, None
