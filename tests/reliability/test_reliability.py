"""Reliability under load and faults (docs/architecture.md): hundreds of conversations, 16 concurrent senders,
duplicates, reordering, follow-ups written while the AI answers (superseding that answer), and a fault at every step.
Whatever happens, no accepted message is lost, each is answered exactly once (by its final turn: the one that carries
the turns superseded for it), no superseded answer leaves, every burst keeps the user's order, every permanent
failure is on the DLQ with its reason, and no message waits past max wait plus the AI's time.

The whole pipeline runs: the real handlers, the real state machine on the emulator, the real channel senders
against local fakes of the channel APIs, and the OpenAI-compatible provider against a local fake AI.
Faults are injected at those boundaries only: the fakes' answers and the emulator's fault hooks.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from typing import Any

import pytest

from debouncer.local.runtime import LocalRuntime
from tests.conftest import RuntimeFactory
from tests.reliability import fakes
from tests.reliability.faults import AwsPlan, Injector
from tests.reliability.oracle import Collector, Evidence, Expectations, check, latencies
from tests.reliability.profiles import EXPRESS_DUPLICATE_RATE, WORKFLOW_TYPES, Profile, profile, seed
from tests.reliability.senders import Senders, SendReport
from tests.reliability.workload import Workload, build

pytestmark = pytest.mark.slow

# Short windows keep a run short; a 2 s debounce still outlasts the gaps between one burst's posts on a busy machine.
# An answer can only be superseded inside its oldest message's max wait, by messages whose burst is due by then: a
# follow-up lands a debounce after the claim at the earliest, and is due a debounce later, so max wait must leave
# room past twice the debounce (plus the first burst's span and the emulator's lag) for superseding to happen at all.
WINDOWS = {"DEBOUNCE_SECONDS": "2", "MAX_WAIT_SECONDS": "8"}
MAX_WAIT_SECONDS = float(WINDOWS["MAX_WAIT_SECONDS"])
AI_TIMEOUT_SECONDS = 1.0
# The load test's AI is never slow: its timeout only bounds the answer the fake holds while a follow-up lands.
LOAD_AI_TIMEOUT_SECONDS = 10.0
# How long the fake AI holds an answer while the person's follow-up is posted: under the faults test's AI timeout, so
# a held answer is never taken for a slow AI.
HOLD_SECONDS = {"load": 2.0, "faults": 0.7}
# The end-to-end starvation bound's slack: whole-second deadlines (up to 2 s), a waiting burst's timer that looks
# again only at the quiet deadline it last read (up to a debounce after a carried max wait), one retry of a random
# state machine fault (up to 2 s), and the emulator's lag on a busy two-core machine (runs that kept pace replied
# up to 22 s after a message, with max wait 8). The oracle checks the bound exactly on the turn items.
STARVATION_SLACK_SECONDS = 20.0
# Past this 90th percentile of webhook POST times the emulator did not keep pace with the load (under 0.9 s in the
# runs that did; 2-5 s when other work shares the machine, every AWS call waiting its turn under the emulator's one
# lock), and replies lag by 30-60 s whatever the core does: the end-to-end bound is then left unchecked, and the
# summary says so. The exact bound, on the turn items, is always checked.
LAGGING_POST_SECONDS = 1.0


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
    expect: Expectations

    def summary(self, label: str, extra: dict[str, Any]) -> str:
        """One line worth printing for every run, failed or not."""
        counts = self.workload.counts()
        statuses = dict(sorted(self.report.statuses.items()))
        turns = self.evidence.turns
        delivered = sum(1 for s in self.evidence.sends if s.delivered)
        superseded = [t for t in turns if t.superseded]
        # An answer recorded on a superseded turn is an AI call whose answer was dropped (a retry that finds its turn
        # superseded asks the AI nothing).
        dropped = sum(1 for t in superseded if t.answer is not None)
        waited = sorted(latencies(self.workload, self.evidence, self.expect.delay_exempt).values())
        wait = f"max {waited[-1]:.1f} s p95 {_pct(waited, 0.95):.1f} s" if waited else "none"
        if not self.expect.slack_seconds:
            wait += " (not checked: the emulator lagged)"
        posts = _post_seconds(self.report, self.expect)
        return (
            f"{label} seed={self.workload.seed}: {counts}; posts={self.report.posts} statuses={statuses} "
            f"redeliveries={self.report.redeliveries} post p50 {_pct(posts, 0.5):.2f} s p90 {_pct(posts, 0.9):.2f} s "
            f"follow_ups={dict(self.report.follow_ups)}; "
            f"turns={sum(1 for t in turns if t.tokens)} superseded={len(superseded)} (AI answers dropped {dropped}, "
            f"carrying turns {sum(1 for t in turns if t.carried and not t.superseded)}, "
            f"withheld {sum(1 for t in turns if t.withheld)}) "
            f"sends={len(self.evidence.sends)} delivered={delivered} dlq={len(self.evidence.dead_letters)} "
            f"executions={dict(self.evidence.executions)} aws_calls={self.aws_calls}; {extra}; "
            f"wait for reply ({len(waited)} messages) {wait}; "
            f"send {self.report.seconds:.1f} s, settle {self.settle_seconds:.1f} s"
        )


def _run(
    runtime: LocalRuntime,
    workload: Workload,
    chosen: Profile,
    apis: fakes.ChannelApis,
    ai: fakes.OpenAICompatibleFake,
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
    ai.listener = senders  # follow-ups go out when the AI is asked about the burst before them
    report = senders.run(chosen.send_seconds)
    if _pct(_post_seconds(report, expect), 0.9) > LAGGING_POST_SECONDS:
        # A lagging emulator answers late: a follow-up that lands after its answer started, or past the max wait,
        # legitimately supersedes nothing, so superseding need only be exercised, not be as frequent.
        expect = replace(expect, slack_seconds=0.0, min_superseded=min(expect.min_superseded, 1))
    collector = Collector(runtime)
    started = time.monotonic()
    settled = collector.settle(set(report.accepted), chosen.settle_seconds, lambda: len(apis.sends))
    settle_seconds = time.monotonic() - started
    turns, buffered, carried = collector.table()
    evidence = Evidence(
        turns,
        buffered,
        collector.dead_letters(),
        list(apis.sends),
        collector.execution_statuses(),
        buffered_carried=carried,
        accepted_at=dict(report.accepted),
    )
    problems = check(workload, set(report.accepted), evidence, expect)
    problems += [f"webhook: {u}" for u in report.unexpected] + [f"channel API: {u}" for u in apis.unexpected]
    if report.never_accepted:
        problems.append(f"never accepted after {len(report.never_accepted)} redeliveries: {report.never_accepted[:5]}")
    if not settled:
        problems.insert(0, f"not settled within {chosen.settle_seconds:.0f} s")
    aws_calls = sum(n for (caller, _), n in runtime.emulator.calls.items() if caller != "operator")
    return Outcome(workload, report, evidence, problems, settled, settle_seconds, aws_calls, expect)


def _post_seconds(report: SendReport, expect: Expectations) -> list[float]:
    """How long the webhook took to answer, sorted: conversations no AWS fault met only (a throttled write's retries
    take longer)."""
    return sorted(seconds for conversation, seconds in report.post_seconds if conversation not in expect.delay_exempt)


def _pct(values: list[float], share: float) -> float:
    """The value `share` of the way up a sorted list (0 for none)."""
    return values[int(share * (len(values) - 1))] if values else 0.0


def _superseding(workload: Workload, hold_seconds: float) -> dict[str, Any]:
    """What a run expects of superseding: a floor on superseded turns, and the starvation bound's terms.

    An eighth of the follow-ups: a run keeping pace supersedes about as many answers as it has follow-ups (a burst
    that lands during an answer supersedes it too), a busy machine a quarter of that (a follow-up that lands after the
    answer started, or past the max wait, legitimately supersedes nothing); with superseding off, none. A run whose
    emulator lagged (LAGGING_POST_SECONDS) need only supersede once.
    """
    follow_ups = workload.counts()["follow_ups"]
    return {
        "min_superseded": max(3, follow_ups // 8),
        "max_wait_seconds": MAX_WAIT_SECONDS,
        "ai_seconds": hold_seconds,
        "slack_seconds": STARVATION_SLACK_SECONDS,
    }


def _verdict(outcome: Outcome, label: str, extra: dict[str, Any], request: pytest.FixtureRequest) -> None:
    summary = outcome.summary(label, extra)
    request.node.user_properties.append(("reliability", summary))
    if outcome.problems:
        shown = "\n  ".join(outcome.problems[:40])
        more = f"\n  ... and {len(outcome.problems) - 40} more" if len(outcome.problems) > 40 else ""
        pytest.fail(f"{summary}\nreplay with RELIABILITY_SEED={outcome.workload.seed}\n  {shown}{more}", pytrace=False)


@pytest.mark.parametrize("workflow_type", WORKFLOW_TYPES)
def test_load_with_duplicates_and_reordering_loses_nothing_and_answers_each_burst_once(
    start_runtime: RuntimeFactory, workflow_type: str, seed_round: int, request: pytest.FixtureRequest
) -> None:
    # GIVEN hundreds of conversations on the four channels, 10 % of messages redelivered (some after their burst
    # was answered) and 10 % arriving out of order, and MAX_MESSAGES low enough that long bursts flush early
    # and follow-ups written while the AI answers the burst before them (it holds its answer until they land)
    chosen = profile()
    workload = build(seed(0, seed_round), chosen.shape)
    with fakes.serving() as server, fakes.serving() as ai_server:
        apis = fakes.ChannelApis(server, workload)
        ai = fakes.OpenAICompatibleFake(ai_server, fakes.AIPlan(hold_seconds=HOLD_SECONDS["load"]))
        runtime = start_runtime(
            **WINDOWS,
            MAX_MESSAGES="15",
            WORKFLOW_TYPE=workflow_type,
            # Express runs at least once: some executions run twice, and still no burst is answered twice.
            EXPRESS_DUPLICATE_RATE=EXPRESS_DUPLICATE_RATE if workflow_type == "EXPRESS" else "0",
            **apis.environment(),
            **ai.environment(LOAD_AI_TIMEOUT_SECONDS),
        )

        # WHEN 16 threads post it all through the webhook
        expect = Expectations(**_superseding(workload, HOLD_SECONDS["load"]))
        outcome = _run(runtime, workload, chosen, apis, ai, expect)

    # THEN every accepted message is answered exactly once (by its final turn), in order, within max wait plus the
    # AI's time; answers were superseded, and none of them left; nothing reached the DLQ
    counts = workload.counts()
    assert (
        counts["conversations"] >= chosen.shape.conversations and counts["duplicates_late"] and counts["out_of_order"]
    ), counts
    flushes = sum(1 for e in runtime.executions() if e["name"].endswith("-flush"))
    dropped = sum(len(t.dropped) for t in outcome.evidence.turns)
    if not flushes or not dropped:
        outcome.problems.append(
            f"not exercised: {flushes} early flushes, {dropped} late duplicates dropped at claim (as the turn items' "
            "dropped_duplicates record them)"
        )
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
    ai = fakes.AIPlan(
        slow_once=set(some(0.10)) - ai_down,
        always_slow=ai_down,
        sleep_seconds=AI_TIMEOUT_SECONDS + 0.6,
        hold_seconds=HOLD_SECONDS["faults"],
    )
    # Retries after an injected fault legitimately delay a reply past the bound: only conversations that met none
    # are held to it (the state machine's random faults hit anyone, at most one retry in a row: inside the slack).
    faulted = set(permanent) | ai_down | ai.slow_once | set(scripted) | aws.crash_after_claim
    for planned in (aws.start_throttled, aws.append_throttled, aws.claim_conflicts, aws.reply_throttled):
        faulted |= set(planned)
    expect = Expectations(
        permanent_channel=frozenset(permanent),
        ai_down=frozenset(ai_down),
        delay_exempt=frozenset(faulted),
        **_superseding(workload, HOLD_SECONDS["faults"]),
    )
    return aws, fakes.ChannelPlan(scripted=scripted, permanent=permanent), ai, expect


@pytest.mark.parametrize("workflow_type", WORKFLOW_TYPES)
def test_faults_at_every_step_lose_nothing_and_dead_letter_every_permanent_failure(
    start_runtime: RuntimeFactory, workflow_type: str, seed_round: int, request: pytest.FixtureRequest
) -> None:
    # GIVEN the same kind of load, and a fault at every step: StartExecution throttled and buffer writes throttled
    # (the webhook answers 503, the channel redelivers), claims cancelled in storms, process_message crashing right
    # after its claim, the AI timing out (once, or for good: fallback + DLQ), the reply's lease write throttled,
    # channel APIs answering 5xx or 429 with retry-after before accepting, or refusing for good (DLQ), and the
    # state machine's own reads, Lambda invokes and DLQ sends throttled now and then; and follow-ups written while
    # the AI answers, meeting all of it (duplicated runs, crashes, retries) while they supersede that answer
    chosen = profile()
    run_seed = seed(1, seed_round)
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
        outcome = _run(runtime, workload, chosen, apis, ai, expect, injector)

    # THEN nothing is lost or answered twice (each message by its final turn), no superseded answer left, order
    # holds, exactly the planned permanent failures are on the DLQ with their reasons, and conversations no fault
    # met waited no longer than max wait plus the AI's time; and every kind of fault, and superseding, did happen
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
    # Superseded turns in conversations that met a planned fault (crashes, cancelled claims, throttled leases, channel
    # errors, a slow or dead AI): the invariants held for those too.
    index_of = {c.key: c.index for c in workload.conversations}
    faulted = sum(1 for t in outcome.evidence.turns if t.superseded and index_of[t.key] in expect.delay_exempt)
    extra = {"superseded_under_faults": faulted, "injected": dict(sorted(injected.items()))}
    _verdict(outcome, f"faults[{chosen.name}/{workflow_type}]", extra, request)
