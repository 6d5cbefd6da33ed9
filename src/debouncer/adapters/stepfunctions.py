"""The Step Functions adapter: starts the one execution of a burst."""

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
    the others end without replying (statemachines/debounce.asl.json, BurstAlreadyClaimed).
    """

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    def start(self, conversation_key: str, burst: int, *, wake_at: str, flush: bool = False) -> None:
        """Start (or find already started) the execution for this burst."""
        payload = {"conversation_key": conversation_key, "burst": str(burst), "flush": flush, "wake_at": wake_at}
        try:
            self._client.start_execution(
                stateMachineArn=self._arn,
                name=execution_name(conversation_key, burst, flush=flush),
                input=json.dumps(payload, separators=(",", ":")),
            )
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code == "ExecutionAlreadyExists":
                return  # Standard only: started before, maybe already finished; the burst has its timer
            # Throttling or an outage: the webhook answers 503 and the channel's redelivery starts it again.
            raise RetryableError(f"StartExecution failed: {code}") from e
