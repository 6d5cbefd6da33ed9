"""The Step Functions adapter: starts the executions of a burst (its timer, its flush, a redrive's)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from debouncer.domain.burst import execution_name
from debouncer.domain.errors import RetryableError


class StepFunctionsTimer:
    """Implements Timer, for either workflow type, with one deterministic execution name per burst.

    Standard deduplicates by name: a repeated start (a retried call, a redelivered message) finds the first
    execution, or ExecutionAlreadyExists once it ended. Express does not: every start, a retry of a call that did
    reach AWS included, is an execution of its own. The burst's conditional claim lets exactly one of them answer;
    the others end without replying (statemachines/debounce.asl.json.tftpl, BurstAlreadyClaimed).
    """

    def __init__(self, client: Any, state_machine_arn: str, workflow_type: str | None = None) -> None:
        self._client = client
        self._arn = state_machine_arn
        # Only execution_id needs it (a redrive's); read from the state machine when not given.
        self._workflow_type = workflow_type

    def start(self, conversation_key: str, burst: int, *, wake_at: str, flush: bool = False) -> None:
        """Start (or find already started) the execution for this burst."""
        self._start(conversation_key, burst, execution_name(conversation_key, burst, flush=flush), wake_at, flush)

    def start_named(self, conversation_key: str, burst: int, *, name: str, wake_at: str) -> None:
        """Start (or find already started) the execution `name`, which processes the burst at once (a flush's input):
        a redrive's (RedriveTimer)."""
        self._start(conversation_key, burst, name, wake_at, True)

    def execution_id(self, name: str) -> str:
        """The id (`$$.Execution.Id`) of the execution `name`: its ARN on Standard; on Express the stem of each run's
        ARN, which adds `:<run id>` (arn:<partition>:states:<region>:<account>:express:<state machine>:<name>:<id>)."""
        if self._workflow_type is None:
            try:
                described = self._client.describe_state_machine(stateMachineArn=self._arn)
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code", "")
                raise RetryableError(f"DescribeStateMachine failed: {code}") from e
            self._workflow_type = str(described["type"])
        prefix, _, machine = self._arn.partition(":stateMachine:")
        kind = "express" if self._workflow_type.upper() == "EXPRESS" else "execution"
        return f"{prefix}:{kind}:{machine}:{name}"

    def _start(self, conversation_key: str, burst: int, name: str, wake_at: str, flush: bool) -> None:
        payload = {"conversation_key": conversation_key, "burst": str(burst), "flush": flush, "wake_at": wake_at}
        try:
            self._client.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(payload, separators=(",", ":"))
            )
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code == "ExecutionAlreadyExists":
                return  # Standard only: started before, maybe already finished; the burst has its timer
            # Throttling or an outage: the webhook answers 503 and the channel's redelivery starts it again.
            raise RetryableError(f"StartExecution failed: {code}") from e
