"""Runs bursts through both designs on one emulator and measures what each burst cost and when it was answered.

Our design and the naive one share one LocalRuntime (one moto, one table, one outbox, two state machines). Bursts
of 1, 4 and 10 messages run concurrently, each in its own conversation, with the production debounce window, and
every AWS request is attributed to its conversation by bench.meter, so concurrent bursts never mix their counts.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from tests import builders

from bench.meter import NOT_PIPELINE, Meter
from bench.naive import NaiveDesign
from debouncer.domain.models import conversation_key
from debouncer.local.runtime import REGION, LocalRuntime

DESIGNS = ("ours", "naive")
SIZES = (1, 4, 10)
# Our post_message's (and the naive ingest's) function names in the emulator.
WEBHOOK_FUNCTIONS = {"ours": "post_message", "naive": "naive_post"}
STANDS_FOR = {"naive_post": "post_message", "naive_process": "process_message", "naive_reply": "reply"}
TEXTS = (
    "hi",
    "I need to move my appointment",
    "the one on thursday at 10",
    "to friday if possible",
    "morning is better for me",
    "also can you confirm the address?",
    "thanks!",
    "oh and my phone number changed",
    "it's the one I'm writing from",
    "ok that's all",
)


@dataclass
class Burst:
    """One burst of `size` messages from one user, sent to one design."""

    design: str
    size: int
    user: str
    posted: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The conversation key the webhook derives for this user."""
        return conversation_key("whatsapp", builders.PHONE_NUMBER_ID, self.user)

    @property
    def message_ids(self) -> list[str]:
        """The ids of the messages this burst sends, in order."""
        return [f"wamid.{self.user}.{i}" for i in range(self.size)]


@dataclass(frozen=True)
class Execution:
    """One Step Functions execution: which state machine, conversation, states entered, start and stop."""

    design: str
    conversation: str | None
    status: str
    transitions: int
    waits: int
    seconds: float
    states: dict[str, int]


@dataclass
class PipelineRun:
    """Everything measured in one run."""

    debounce_seconds: int
    max_wait_seconds: int
    gap_seconds: float
    bursts: list[Burst]
    meter: Meter
    executions: list[Execution]
    outbox: list[dict[str, Any]]
    elapsed_seconds: float
    emulator_counted: int

    @property
    def unattributed(self) -> int:
        """Metered requests that could not be tied to a conversation."""
        return sum(1 for c in self.meter.calls if c.conversation is None)

    def bursts_of(self, design: str, size: int) -> list[Burst]:
        """The bursts one design received at one size."""
        return [b for b in self.bursts if b.design == design and b.size == size]


def run(
    *,
    debounce_seconds: int = 10,
    max_wait_seconds: int = 60,
    bursts_per_size: int = 4,
    gap_seconds: float = 0.3,
    stagger_seconds: float = 0.12,
    timeout_seconds: float = 90.0,
    progress: Callable[[str], None] = print,
) -> PipelineRun:
    """Send every burst, wait (bounded) until each is answered and every execution ended, then collect."""
    # Standard, so every execution's history can be read for its transitions; Express runs the same definition.
    environment = {
        "DEBOUNCE_SECONDS": str(debounce_seconds),
        "MAX_WAIT_SECONDS": str(max_wait_seconds),
        "WORKFLOW_TYPE": "STANDARD",
    }
    runtime = LocalRuntime(environment, name=f"bench-{uuid.uuid4().hex[:6]}").start()
    try:
        naive = NaiveDesign(runtime).install()
        meter = Meter(runtime).install()
        senders: dict[str, Callable[[bytes, dict[str, str]], int]] = {
            "ours": lambda raw, headers: runtime.http("POST", "/webhook/whatsapp", body=raw, headers=headers)[0],
            "naive": lambda raw, headers: naive.http("POST", "/webhook/whatsapp", body=raw, headers=headers)[0],
        }
        bursts = [
            Burst(design, size, f"1555{uuid.uuid4().hex[:8]}")
            for _ in range(bursts_per_size)
            for size in SIZES
            for design in DESIGNS
        ]

        def send(index: int, burst: Burst) -> None:
            time.sleep(index * stagger_seconds)
            for i, mid in enumerate(burst.message_ids):
                payload = builders.whatsapp(burst.user, builders.wa_message(burst.user, mid, TEXTS[i % len(TEXTS)]))
                raw = builders.body(payload)
                with meter.conversation(burst.key):
                    burst.statuses.append(senders[burst.design](raw, builders.sign("whatsapp", raw)))
                burst.posted.append(time.time())
                if i + 1 < burst.size:
                    time.sleep(gap_seconds)

        progress(
            f"pipeline: {len(bursts)} bursts ({bursts_per_size} per design and size {SIZES}), "
            f"debounce {debounce_seconds} s, messages {gap_seconds} s apart"
        )
        started = time.monotonic()
        deadline = started + timeout_seconds
        threads = [threading.Thread(target=send, args=(i, b), daemon=True) for i, b in enumerate(bursts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        arns = {"ours": runtime.state_machine_arn, "naive": naive.state_machine_arn}
        while time.monotonic() < deadline:
            answered = {e["recipient"] for e in runtime.outbox.entries()}
            if answered >= {b.user for b in bursts} and not _running(runtime, arns):
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        executions = _executions(runtime, arns, meter)
        counted = sum(n for (caller, _), n in runtime.emulator.calls.items() if caller not in NOT_PIPELINE)
        return PipelineRun(
            debounce_seconds,
            max_wait_seconds,
            gap_seconds,
            bursts,
            meter,
            executions,
            runtime.outbox.entries(),
            elapsed,
            counted,
        )
    finally:
        runtime.stop_executions()
        runtime.stop()


def _running(runtime: LocalRuntime, arns: dict[str, str]) -> bool:
    with runtime.emulator.running_as("bench"):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        return any(
            sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"] for arn in arns.values()
        )


def _executions(runtime: LocalRuntime, arns: dict[str, str], meter: Meter) -> list[Execution]:
    """Every execution of both state machines, with its StateEntered events counted from its history."""
    found: list[Execution] = []
    with runtime.emulator.running_as("bench"):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        for design, arn in arns.items():
            listed = sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]
            for execution in listed:
                events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
                kinds = Counter(e["type"] for e in events)
                stop = execution.get("stopDate") or events[-1]["timestamp"]
                found.append(
                    Execution(
                        design=design,
                        conversation=meter.execution_conversations.get(execution["executionArn"]),
                        status=execution["status"],
                        transitions=sum(n for kind, n in kinds.items() if kind.endswith("StateEntered")),
                        waits=kinds["WaitStateEntered"],
                        seconds=(stop - execution["startDate"]).total_seconds(),
                        states=dict(
                            Counter(
                                e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
                            )
                        ),
                    )
                )
    return found


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def median(values: list[float]) -> float:
    """Median; NaN for no values."""
    return statistics.median(values) if values else float("nan")
