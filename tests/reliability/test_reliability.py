"""Reliability under load and faults (DESIGN §2): hundreds of conversations, 16 concurrent senders, duplicates,
reordering, and a fault at every step. Whatever happens, no accepted message is lost, no burst is answered twice,
every burst keeps the user's order, and every permanent failure is on the DLQ with its reason.

The whole pipeline runs: the real handlers, the real state machine on the emulator, the real channel senders
against local fakes of the channel APIs (and, with faults, the OpenAI-compatible provider against a local fake).
Faults are injected at those boundaries only: the fakes' answers and the emulator's fault hooks.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import pytest

from debouncer.local.runtime import LocalRuntime
from tests.conftest import RuntimeFactory
from tests.reliability import fakes
from tests.reliability.faults import AwsPlan, Injector
from tests.reliability.oracle import Collector, Evidence, Expectations, check
from tests.reliability.profiles import EXPRESS_DUPLICATE_RATE, WORKFLOW_TYPES, Profile, profile, seed
from tests.reliability.senders import Senders, SendReport
from tests.reliability.workload import Workload, build

pytestmark = pytest.mark.slow

# Short windows keep a run short; a 2 s debounce still outlasts the gaps between one burst's posts on a busy machine.
WINDOWS = {"DEBOUNCE_SECONDS": "2", "MAX_WAIT_SECONDS": "5"}
AI_TIMEOUT_SECONDS = 1.0


@dataclass
class Outcome:
    """One run: what was sent, what was left behind, and what broke an invariant."""

    workload: Workload
    report: SendReport
    evidence: Evidence
    problems: list[str]
    settled: bool
    settle_seconds: float
    aws_calls: int

    def summary(self, label: str, extra: dict[str, Any]) -> str:
        """One line worth printing for every run, failed or not."""
        counts = self.workload.counts()
        statuses = dict(sorted(self.report.statuses.items()))
        delivered = sum(1 for s in self.evidence.sends if s.delivered)
        return (
            f"{label} seed={self.workload.seed}: {counts}; posts={self.report.posts} statuses={statuses} "
            f"redeliveries={self.report.redeliveries}; turns={sum(1 for t in self.evidence.turns if t.tokens)} "
            f"sends={len(self.evidence.sends)} delivered={delivered} dlq={len(self.evidence.dead_letters)} "
            f"executions={dict(self.evidence.executions)} aws_calls={self.aws_calls}; {extra}; "
            f"send {self.report.seconds:.1f} s, settle {self.settle_seconds:.1f} s"
        )


def _run(
    runtime: LocalRuntime,
    workload: Workload,
    chosen: Profile,
    apis: fakes.ChannelApis,
    expect: Expectations,
    injector: Injector | None = None,
) -> Outcome:
    senders = Senders(
        runtime,
        workload,
        threads=chosen.senders,
        pacing=chosen.pacing,
        posting_for=injector.posting_for if injector else None,
    )
    report = senders.run(chosen.send_seconds)
    collector = Collector(runtime)
    started = time.monotonic()
    settled = collector.settle(set(report.accepted), chosen.settle_seconds, lambda: len(apis.sends))
    settle_seconds = time.monotonic() - started
    turns, buffered = collector.table()
    evidence = Evidence(turns, buffered, collector.dead_letters(), list(apis.sends), collector.execution_statuses())
    problems = check(workload, set(report.accepted), evidence, expect)
    problems += [f"webhook: {u}" for u in report.unexpected] + [f"channel API: {u}" for u in apis.unexpected]
    if report.never_accepted:
        problems.append(f"never accepted after {len(report.never_accepted)} redeliveries: {report.never_accepted[:5]}")
    if not settled:
        problems.insert(0, f"not settled within {chosen.settle_seconds:.0f} s")
    aws_calls = sum(n for (caller, _), n in runtime.emulator.calls.items() if caller != "operator")
    return Outcome(workload, report, evidence, problems, settled, settle_seconds, aws_calls)


def _verdict(outcome: Outcome, label: str, extra: dict[str, Any], request: pytest.FixtureRequest) -> None:
    summary = outcome.summary(label, extra)
    request.node.user_properties.append(("reliability", summary))
    if outcome.problems:
        shown = "\n  ".join(outcome.problems[:40])
        more = f"\n  ... and {len(outcome.problems) - 40} more" if len(outcome.problems) > 40 else ""
        pytest.fail(f"{summary}\nreplay with RELIABILITY_SEED={outcome.workload.seed}\n  {shown}{more}", pytrace=False)


@pytest.mark.parametrize("workflow_type", WORKFLOW_TYPES)
def test_load_with_duplicates_and_reordering_loses_nothing_and_answers_each_burst_once(
    start_runtime: RuntimeFactory, workflow_type: str, request: pytest.FixtureRequest
) -> None:
    # GIVEN hundreds of conversations on the four channels, 10 % of messages redelivered (some after their burst
    # was answered) and 10 % arriving out of order, and MAX_MESSAGES low enough that long bursts flush early
    chosen = profile()
    workload = build(seed(0), chosen.shape)
    with fakes.serving() as server:
        apis = fakes.ChannelApis(server, workload)
        runtime = start_runtime(
            **WINDOWS,
            MAX_MESSAGES="15",
            WORKFLOW_TYPE=workflow_type,
            # Express runs at least once: some executions run twice, and still no burst is answered twice.
            EXPRESS_DUPLICATE_RATE=EXPRESS_DUPLICATE_RATE if workflow_type == "EXPRESS" else "0",
            **apis.environment(),
        )

        # WHEN 16 threads post it all through the webhook
        outcome = _run(runtime, workload, chosen, apis, Expectations())

    # THEN every accepted message is answered exactly once, in order, and nothing reached the DLQ
    counts = workload.counts()
    assert (
        counts["conversations"] >= chosen.shape.conversations and counts["duplicates_late"] and counts["out_of_order"]
    ), counts
    flushes = sum(1 for e in runtime.executions() if e["name"].endswith("-flush"))
    dropped = sum(len(t.dropped) for t in outcome.evidence.turns)
    if not flushes or not dropped:
        outcome.problems.append(f"not exercised: {flushes} early flushes, {dropped} late duplicates dropped at claim")
    _verdict(
        outcome, f"load[{chosen.name}/{workflow_type}]", {"flushes": flushes, "dropped_at_claim": dropped}, request
    )


def _plan(workload: Workload, rng: random.Random) -> tuple[AwsPlan, fakes.ChannelPlan, fakes.AIPlan, Expectations]:
    """Which conversation meets which fault; permanent failures are disjoint, so each has one expected reason."""
    indexes = [c.index for c in workload.conversations]
    by_channel: dict[str, list[int]] = {}
    for conversation in workload.conversations:
        by_channel.setdefault(conversation.channel, []).append(conversation.index)
    # At least two conversations per channel refuse every reply; a few have an AI that never answers in time.
    permanent = {i for group in by_channel.values() for i in rng.sample(group, max(2, len(group) // 40))}
    healthy = [i for i in indexes if i not in permanent]
    ai_down = set(rng.sample(healthy, max(3, len(indexes) // 40)))

    def some(share: float) -> list[int]:
        return [i for i in indexes if rng.random() < share]

    scripted: dict[int, list[str]] = {}
    for i in some(0.10):
        scripted.setdefault(i, []).append("server_error")
    for i in some(0.10):
        scripted.setdefault(i, []).append("rate_limited")
    aws = AwsPlan(
        # Four refusals outlast botocore's four attempts (max_attempts=3 counts retries): the webhook answers 503
        # and the sender redelivers. Reply's lease write likewise fails the invocation, and Step Functions retries.
        start_throttled=dict.fromkeys(some(0.10), 4),
        append_throttled={i: rng.randint(4, 6) for i in some(0.10)},
        # Over ten cancelled claims in a row outlast process_message's own re-reads: Step Functions retries it.
        claim_conflicts={i: rng.randint(1, 14) for i in some(0.10)},
        crash_after_claim=set(some(0.10)),
        reply_throttled={i: rng.randint(4, 6) for i in some(0.08)},
        state_machine_rate=0.02,
    )
    ai = fakes.AIPlan(slow_once=set(some(0.10)) - ai_down, always_slow=ai_down, sleep_seconds=AI_TIMEOUT_SECONDS + 0.6)
    expect = Expectations(permanent_channel=frozenset(permanent), ai_down=frozenset(ai_down))
    return aws, fakes.ChannelPlan(scripted=scripted, permanent=permanent), ai, expect


@pytest.mark.parametrize("workflow_type", WORKFLOW_TYPES)
def test_faults_at_every_step_lose_nothing_and_dead_letter_every_permanent_failure(
    start_runtime: RuntimeFactory, workflow_type: str, request: pytest.FixtureRequest
) -> None:
    # GIVEN the same kind of load, and a fault at every step: StartExecution throttled and buffer writes throttled
    # (the webhook answers 503, the channel redelivers), claims cancelled in storms, process_message crashing right
    # after its claim, the AI timing out (once, or for good: fallback + DLQ), the reply's lease write throttled,
    # channel APIs answering 5xx or 429 with retry-after before accepting, or refusing for good (DLQ), and the
    # state machine's own reads, Lambda invokes and DLQ sends throttled now and then
    chosen = profile()
    run_seed = seed(1)
    workload = build(run_seed, chosen.shape)
    aws_plan, channel_plan, ai_plan, expect = _plan(workload, random.Random(run_seed))
    with fakes.serving() as channel_server, fakes.serving() as ai_server:
        apis = fakes.ChannelApis(channel_server, workload, channel_plan)
        ai = fakes.OpenAICompatibleFake(ai_server, ai_plan)
        runtime = start_runtime(
            **WINDOWS,
            MAX_MESSAGES="95",
            WORKFLOW_TYPE=workflow_type,
            # Express runs at least once: duplicated runs meet every fault too, permanent failures included.
            EXPRESS_DUPLICATE_RATE=EXPRESS_DUPLICATE_RATE if workflow_type == "EXPRESS" else "0",
            **apis.environment(),
            **ai.environment(AI_TIMEOUT_SECONDS),
        )
        injector = Injector(
            runtime.emulator, {c.key: c.index for c in workload.conversations}, aws_plan, run_seed
        ).install()

        # WHEN 16 threads post it all through the webhook
        outcome = _run(runtime, workload, chosen, apis, expect, injector)

    # THEN nothing is lost or answered twice, order holds, and exactly the planned permanent failures are on the
    # DLQ with their reasons; and every kind of fault did happen
    injected = {**injector.injected, **{f"channel {k}": n for k, n in apis.injected.items()}}
    injected.update({f"ai {k}": n for k, n in ai.requests.items()})
    kinds = ["start", "append", "claim", "crash", "reply", "channel server_error", "channel rate_limited"]
    kinds += ["channel permanent", "ai slow"]
    missing = [kind for kind in kinds if not injected.get(kind)]
    if not any(k.startswith("state_machine") for k in injected):
        missing.append("state_machine")
    if not outcome.report.statuses[503]:
        missing.append("webhook 503")
    if missing:
        outcome.problems.append(f"faults never injected: {missing}")
    _verdict(outcome, f"faults[{chosen.name}/{workflow_type}]", {"injected": dict(sorted(injected.items()))}, request)
