"""Turns a pipeline run into per-message and per-burst figures, and those into the cost of a million messages."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import prices
from bench.pipeline import STANDS_FOR, WEBHOOK_FUNCTIONS, Burst, PipelineRun

REPO = Path(__file__).resolve().parents[1]
SERVICES = ("dynamodb", "states", "lambda", "sqs")


@dataclass
class BurstFigures:
    """What one design spent, on average, on bursts of one size."""

    design: str
    size: int
    bursts: int
    messages: int
    calls_per_message: dict[str, float]
    webhook_calls_per_message: float
    actions_per_message: dict[str, float]
    wru_per_message: float
    rru_per_message: float
    transitions_per_burst: float
    states_per_burst: dict[str, float]
    executions_per_burst: float
    execution_seconds: list[float]
    invocations_per_burst: dict[str, float]
    billed_seconds_per_invocation: dict[str, float]
    lateness_seconds: list[float]
    lateness_after_deadline: list[float]
    answered_once: int
    not_answered_once: list[str]
    webhook_ms: list[float] = field(default_factory=list)
    webhook_own_ms: list[float] = field(default_factory=list)

    @property
    def calls_total_per_message(self) -> float:
        """Every AWS API call of the pipeline, per message."""
        return sum(self.calls_per_message.values())


def summarize(run: PipelineRun, design: str, size: int) -> BurstFigures:
    """Average the run's bursts of one design and size."""
    bursts = run.bursts_of(design, size)
    keys = {b.key: b for b in bursts}
    messages = sum(b.size for b in bursts)
    calls = [c for c in run.meter.calls if c.conversation in keys]
    by_service = Counter(c.service for c in calls)
    actions = Counter(c.action for c in calls)
    webhook = WEBHOOK_FUNCTIONS[design]
    executions = [e for e in run.executions if e.conversation in keys]
    states: Counter[str] = Counter()
    for execution in executions:
        states.update(execution.states)
    invocations = [i for i in run.meter.invocations if i.conversation in keys]
    by_function: dict[str, list[float]] = {}
    for invocation in invocations:
        by_function.setdefault(STANDS_FOR.get(invocation.function, invocation.function), []).append(invocation.seconds)
    n = len(bursts)
    return BurstFigures(
        design=design,
        size=size,
        bursts=n,
        messages=messages,
        calls_per_message={s: by_service[s] / messages for s in SERVICES},
        webhook_calls_per_message=sum(1 for c in calls if c.caller == webhook) / messages,
        actions_per_message={a: v / messages for a, v in sorted(actions.items())},
        wru_per_message=sum(c.wru for c in calls) / messages,
        rru_per_message=sum(c.rru for c in calls) / messages,
        transitions_per_burst=sum(e.transitions for e in executions) / n,
        states_per_burst={name: count / n for name, count in sorted(states.items())},
        executions_per_burst=len(executions) / n,
        execution_seconds=[e.seconds for e in executions],
        invocations_per_burst={f: len(v) / n for f, v in sorted(by_function.items())},
        # Lambda bills duration rounded up to the millisecond.
        billed_seconds_per_invocation={
            f: sum(math.ceil(s * 1000) / 1000 for s in v) / len(v) for f, v in by_function.items()
        },
        lateness_seconds=_lateness(run, bursts),
        lateness_after_deadline=_lateness(run, bursts, whole_seconds=True),
        answered_once=_answered_once(run, bursts),
        not_answered_once=_not_answered_once(run, bursts),
        webhook_ms=[i.seconds * 1000 for i in invocations if i.function == webhook],
        webhook_own_ms=[i.own_seconds * 1000 for i in invocations if i.function == webhook],
    )


def _lateness(run: PipelineRun, bursts: list[Burst], *, whole_seconds: bool = False) -> list[float]:
    """Reply time minus the ideal deadline min(last + debounce, first + max_wait), per answered burst.

    With whole_seconds, the deadline is rounded up to the next second, as our design stores it.
    """
    sent_at: dict[str, float] = {}
    for entry in run.outbox:
        sent_at.setdefault(str(entry["recipient"]), float(entry["sent_at"]))
    late = []
    for burst in bursts:
        if burst.user in sent_at and burst.posted:
            ideal = min(burst.posted[-1] + run.debounce_seconds, burst.posted[0] + run.max_wait_seconds)
            if whole_seconds:
                ideal = math.ceil(ideal)
            late.append(sent_at[burst.user] - ideal)
    return late


def _not_answered_once(run: PipelineRun, bursts: list[Burst]) -> list[str]:
    """Each message in no reply or in several: which burst, which message, how many replies, when it was posted."""
    seen: Counter[str] = Counter()
    for entry in run.outbox:
        seen.update(entry.get("message_ids") or [])
    return [
        f"{b.design} burst of {b.size} ({b.user}) message {i}: in {seen[mid]} replies,"
        f" posted {b.posted[i] - b.posted[0] if i < len(b.posted) else float('nan'):.2f} s after the first"
        for b in bursts
        for i, mid in enumerate(b.message_ids)
        if seen[mid] != 1
    ]


def _answered_once(run: PipelineRun, bursts: list[Burst]) -> int:
    """Messages whose id is in exactly one reply."""
    seen: Counter[str] = Counter()
    for entry in run.outbox:
        seen.update(entry.get("message_ids") or [])
    return sum(1 for b in bursts for mid in b.message_ids if seen[mid] == 1)


@dataclass(frozen=True)
class LambdaConfig:
    """Memory of each function (Terraform defaults) and the architecture that sets the GB-second price."""

    memory_mb: dict[str, int]
    architecture: str


def lambda_config(variables: Path = REPO / "variables.tf") -> LambdaConfig:
    """Read the functions' default memory and architecture from the root module's variables.tf."""
    text = variables.read_text()
    block = re.search(r'variable\s+"lambda_memory_size"\s*{(.*?)\n}', text, re.S)
    memory = dict(re.findall(r"(\w+)\s*=\s*optional\(number,\s*(\d+)\)", block.group(1))) if block else {}
    arch = re.search(r'variable\s+"lambda_architecture"\s*{.*?default\s*=\s*"(\w+)"', text, re.S)
    missing = {"post_message", "process_message", "reply"} - memory.keys()
    if missing or arch is None:
        raise RuntimeError(f"variables.tf: no default lambda_memory_size for {sorted(missing)} or lambda_architecture")
    return LambdaConfig({k: int(v) for k, v in memory.items()}, arch.group(1))


@dataclass(frozen=True)
class Cost:
    """Dollars per million messages, by billed component."""

    components: dict[str, float]

    @property
    def total(self) -> float:
        """The sum of every component."""
        return sum(self.components.values())


def cost_per_million(figures: BurstFigures, mode: str, config: LambdaConfig) -> Cost:
    """Every billed component of 1,000,000 messages arriving in bursts like the measured ones, at list prices."""
    messages = 1_000_000
    bursts = messages / figures.size
    gb_second = prices.LAMBDA_GB_SECOND[config.architecture].each
    lambda_seconds = sum(
        per_burst * figures.billed_seconds_per_invocation[f] * config.memory_mb[f] / 1024
        for f, per_burst in figures.invocations_per_burst.items()
    )
    components = {
        "API Gateway": messages * prices.API_GATEWAY_HTTP_REQUEST.each,
        "Lambda requests": bursts * sum(figures.invocations_per_burst.values()) * prices.LAMBDA_REQUEST.each,
        "Lambda duration": bursts * lambda_seconds * gb_second,
        "DynamoDB": messages
        * (
            figures.wru_per_message * prices.DYNAMODB_WRITE_REQUEST_UNIT.each
            + figures.rru_per_message * prices.DYNAMODB_READ_REQUEST_UNIT.each
        ),
        "SQS": messages * figures.calls_per_message["sqs"] * prices.SQS_REQUEST.each,
    }
    if mode == "standard":
        components["Step Functions"] = bursts * figures.transitions_per_burst * prices.STANDARD_STATE_TRANSITION.each
    elif mode == "express":
        billed = [
            math.ceil(s / prices.EXPRESS_DURATION_INCREMENT_S - 1e-9) * prices.EXPRESS_DURATION_INCREMENT_S
            for s in figures.execution_seconds
        ]
        gb_seconds_per_burst = sum(billed) / figures.bursts * prices.EXPRESS_MEMORY_MB / 1024
        components["Step Functions"] = bursts * (
            figures.executions_per_burst * prices.EXPRESS_REQUEST.each
            + gb_seconds_per_burst / 3600 * prices.EXPRESS_GB_HOUR.each
        )
    else:
        raise ValueError(mode)
    return Cost(components)
