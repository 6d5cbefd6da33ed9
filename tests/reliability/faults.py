"""AWS faults injected at the emulator's boundary (`Emulator.faults`), planned per conversation.

A fault hook only sees (caller, "service:Action"). To know which conversation a call belongs to, the senders name
it around each webhook POST, and the Lambda handlers are wrapped as the Lambda runtime would call them: the wrapper
names the invocation (conversation, burst, attempt) on its thread for the hooks, and counts invocations.
The state machine's own calls (ReadBuffer, Lambda invokes, the DLQ send) carry no conversation: those faults are
drawn at random, at most one in a row per execution thread, so no retry budget of the state machine is exhausted.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from debouncer.local.emulator import Emulator

Injected = tuple[int, dict[str, str], str]


class SimulatedCrash(Exception):  # noqa: N818 - named after what it stands for: the Lambda dying mid-invocation
    """Raised inside process_message right after its claim: the invocation dies as a crashed Lambda would."""


# Every AWS error response names its request; moto's state machine interpreter fails the execution without one.
_HEADERS = {"x-amzn-RequestId": "reliability-injected-fault"}


def _ddb_error(kind: str, message: str, **extra: Any) -> Injected:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": message, **extra}
    return 400, dict(_HEADERS), json.dumps(body)


THROTTLED_START = (400, dict(_HEADERS), json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}))
THROUGHPUT = _ddb_error("ProvisionedThroughputExceededException", "The level of configured provisioned throughput...")
# The claim's condition on the buffer failed: what a concurrent append or a competing claim causes.
CLAIM_CONFLICT = _ddb_error(
    "TransactionCanceledException",
    "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]",
    CancellationReasons=[
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
        {"Code": "None"},
    ],
)
LAMBDA_THROTTLED = (
    429,
    {**_HEADERS, "x-amzn-ErrorType": "TooManyRequestsException"},
    json.dumps(
        {"Type": "User", "message": "Rate Exceeded.", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}
    ),
)
SQS_THROTTLED = (
    400,
    dict(_HEADERS),
    json.dumps({"__type": "com.amazonaws.sqs#RequestThrottled", "message": "Request is throttled."}),
)


@dataclass
class AwsPlan:
    """How many calls fail, per conversation, and how often the state machine's own calls fail."""

    start_throttled: dict[int, int] = field(default_factory=dict)  # StartExecution calls refused
    append_throttled: dict[int, int] = field(default_factory=dict)  # buffer UpdateItems refused
    claim_conflicts: dict[int, int] = field(default_factory=dict)  # claim transactions cancelled
    crash_after_claim: set[int] = field(default_factory=set)  # process_message dies once, after its claim
    reply_throttled: dict[int, int] = field(default_factory=dict)  # reply's lease UpdateItems refused
    state_machine_rate: float = 0.0  # chance one ReadBuffer / Lambda invoke / DLQ send fails


@dataclass
class _Invocation:
    function: str
    conversation: int
    burst: str
    attempt: int
    calls: Counter[str] = field(default_factory=Counter)


class Injector:
    """Installs the plan on a running emulator; counts what it injected, so a test can prove each fault happened."""

    def __init__(self, emulator: Emulator, conversations: dict[str, int], plan: AwsPlan, seed: int) -> None:
        self._emulator = emulator
        self._conversations = conversations  # conversation key -> index
        self._plan = plan
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._budgets = {
            "start": dict(plan.start_throttled),
            "append": dict(plan.append_throttled),
            "claim": dict(plan.claim_conflicts),
            "reply": dict(plan.reply_throttled),
        }
        self._crashed: set[int] = set()
        self._attempts: Counter[tuple[str, str, str, str]] = Counter()
        self.injected: Counter[str] = Counter()
        self.invocations: Counter[str] = Counter()

    def install(self) -> Injector:
        """Wrap process_message and reply, and add the fault hook."""
        for name in ("process_message", "reply"):
            self._emulator.functions[name] = self._wrap(name, self._emulator.functions[name])
        self._emulator.faults.append(self.hook)
        return self

    @contextmanager
    def posting_for(self, conversation: int) -> Iterator[None]:
        """Attribute the webhook's AWS calls on this thread to one conversation."""
        self._local.posting = conversation
        try:
            yield
        finally:
            del self._local.posting

    def _wrap(self, name: str, handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
        def invoke(event: dict[str, Any], context: Any) -> Any:
            key = event["conversation_key"]
            ident = (name, key, str(event["burst"]), str(event.get("execution")))
            with self._lock:
                self._attempts[ident] += 1
                self.invocations[name] += 1
                attempt = self._attempts[ident]
            self._local.invocation = _Invocation(name, self._conversations.get(key, -1), ident[2], attempt)
            try:
                return handler(event, context)
            finally:
                del self._local.invocation

        return invoke

    def _take(self, budget: str, conversation: int) -> bool:
        with self._lock:
            left = self._budgets[budget].get(conversation, 0)
            if left <= 0:
                return False
            self._budgets[budget][conversation] = left - 1
            self.injected[budget] += 1
            return True

    def hook(self, caller: str, action: str) -> Injected | None:
        """The emulator's fault hook: an injected response, a crash, or None to let the call through."""
        if caller == "post_message":
            conversation = getattr(self._local, "posting", -1)
            if action == "states:StartExecution" and self._take("start", conversation):
                return THROTTLED_START
            if action == "dynamodb:UpdateItem" and self._take("append", conversation):
                return THROUGHPUT
            return None
        invocation: _Invocation | None = getattr(self._local, "invocation", None)
        if invocation is not None and caller == invocation.function:
            invocation.calls[action] += 1
            return self._in_lambda(invocation, action)
        if caller == "state_machine" and action in ("dynamodb:GetItem", "lambda:InvokeFunction", "sqs:SendMessage"):
            return self._in_state_machine(action)
        return None

    def _in_lambda(self, invocation: _Invocation, action: str) -> Injected | None:
        conversation = invocation.conversation
        if invocation.function == "process_message":
            if action == "dynamodb:TransactWriteItems" and self._take("claim", conversation):
                return CLAIM_CONFLICT
            # process_message's only UpdateItem records the AI's answer: the claim is behind it.
            if action == "dynamodb:UpdateItem" and conversation in self._plan.crash_after_claim:
                with self._lock:
                    first = conversation not in self._crashed
                    self._crashed.add(conversation)
                    if first:
                        self.injected["crash"] += 1
                if first:
                    raise SimulatedCrash(f"process_message died after claiming burst {invocation.burst}")
            return None
        # reply's first UpdateItem takes the lease. Every call fails while the budget lasts, so once one succeeds
        # none after it fails: record_delivery (after a part has left) is never refused, which would resend it.
        if action == "dynamodb:UpdateItem" and self._take("reply", conversation):
            return THROUGHPUT
        return None

    def _in_state_machine(self, action: str) -> Injected | None:
        # One failure in a row at most: the next attempt of this execution thread goes through.
        if getattr(self._local, "failed_last", False):
            self._local.failed_last = False
            return None
        with self._lock:
            fail = self._rng.random() < self._plan.state_machine_rate
            if fail:
                self.injected[f"state_machine {action}"] += 1
        self._local.failed_last = fail
        if not fail:
            return None
        if action == "lambda:InvokeFunction":
            return LAMBDA_THROTTLED
        if action == "sqs:SendMessage":
            return SQS_THROTTLED
        return THROUGHPUT
