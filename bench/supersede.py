"""Double texting: what superseding a stale answer costs in AI calls, and what the person gets for it (issue 13).

Each conversation sends a burst of two WhatsApp messages; once the AI has started answering it (a slow echo AI
with a fixed think time, swapped into process_message the way the tests swap theirs), the person writes once more,
part-way through the think time. The same workload, with the same seeded timings, runs on a fresh local runtime
once with SUPERSEDE_STALE_ANSWERS=true and once with false. Per mode:
- AI calls, counted by the AI itself, and the turn items that carry `superseded_at` (read from the emulator's
  table): each is an AI call whose answer was dropped;
- replies sent per conversation, and whether every message was answered exactly once (superseding on promises one
  reply answering all three messages; off, two replies);
- how many messages the AI read (a superseding call reads the first burst again);
- the time from the person's last message to the reply answering it, and from the first message to the first reply.
Figures are ratios and percentiles within one run; no absolute timing is asserted.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from tests import builders

from bench.pipeline import median, percentile
from bench.report import Report, Row, Target
from debouncer.adapters.ai_echo import EchoAI
from debouncer.domain.models import conversation_key
from debouncer.domain.ports import AIRequest
from debouncer.local.runtime import REGION, LocalRuntime

FIRST_BURST = ("do you ship to Canada?", "it's a gift for my sister")
SECOND = "and to the US?"
MODES = (True, False)


@dataclass(frozen=True)
class AICall:
    """One call the AI answered: for which conversation, which messages, when it started and ended."""

    conversation: str
    message_ids: tuple[str, ...]
    started: float
    ended: float


class SlowEchoAI(EchoAI):
    """The echo AI after a fixed think time; records every call and signals each conversation's first one."""

    def __init__(self, think_seconds: float) -> None:
        super().__init__()
        self.think_seconds = think_seconds
        self.calls: list[AICall] = []
        self._started: dict[str, threading.Event] = defaultdict(threading.Event)
        self._lock = threading.Lock()

    def started(self, conversation: str) -> threading.Event:
        """Set once the AI has begun answering this conversation."""
        with self._lock:
            return self._started[conversation]

    def answer(self, request: AIRequest) -> str:
        """Think, then echo; the call is recorded when it ends."""
        conversation = request.messages[0].conversation_key
        began = time.time()
        self.started(conversation).set()
        time.sleep(self.think_seconds)
        text = super().answer(request)
        with self._lock:
            self.calls.append(AICall(conversation, tuple(m.message_id for m in request.messages), began, time.time()))
        return text


@dataclass
class Conversation:
    """One person double texting: a burst of two, then one more while the AI answers it."""

    user: str
    delay_seconds: float  # how far into the AI's think time the person writes again
    first_posted: float | None = None
    last_posted: float | None = None
    statuses: list[int] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The conversation key the webhook derives for this user."""
        return conversation_key("whatsapp", builders.PHONE_NUMBER_ID, self.user)

    @property
    def message_ids(self) -> list[str]:
        """Every message the person sends, in order."""
        return [f"wamid.{self.user}.{i}" for i in range(len(FIRST_BURST) + 1)]


@dataclass(frozen=True)
class ModeFigures:
    """What one run (superseding on or off) measured."""

    supersede: bool
    conversations: int
    messages: int
    ai_calls: int
    ai_messages: int  # messages the AI read, summed over its calls
    turns: int
    superseded_turns: int
    replies: int
    one_reply_with_all: int  # conversations answered by one reply holding all their messages, in order
    two_replies: int  # conversations answered by two replies (first burst, then the last message)
    answered_once: int  # conversations whose every message is in exactly one reply
    claimed_while_thinking: int  # the next AI call began before the superseded one ended (superseded at the claim)
    second_while_thinking: int  # conversations whose last message was acknowledged while the AI answered the first
    states_entered: dict[str, int]  # Step Functions state entries, all executions (this runtime runs only this stage)
    last_to_reply_seconds: list[float]
    first_to_reply_seconds: list[float]
    elapsed_seconds: float
    not_settled: int  # conversations still without a reply to their last message at the bound
    not_accepted: int  # webhook answers other than 200

    def per_conversation(self, value: float) -> float:
        """`value` divided by the conversations of the run."""
        return value / self.conversations if self.conversations else float("nan")

    @property
    def transitions(self) -> int:
        """State transitions, as Standard bills them."""
        return sum(self.states_entered.values())

    @property
    def unsent_ai_calls(self) -> int:
        """AI calls whose answer never left (each answer is one part: the local outbox has no length limit)."""
        return self.ai_calls - self.replies

    def as_json(self) -> dict[str, Any]:
        """For build/bench.json."""
        return {
            "supersede_stale_answers": self.supersede,
            "conversations": self.conversations,
            "messages": self.messages,
            "ai_calls": self.ai_calls,
            "ai_calls_per_conversation": self.per_conversation(self.ai_calls),
            "superseded_turns": self.superseded_turns,
            "superseded_per_conversation": self.per_conversation(self.superseded_turns),
            "turns": self.turns,
            "replies": self.replies,
            "replies_per_conversation": self.per_conversation(self.replies),
            "ai_messages_read": self.ai_messages,
            "one_reply_with_all": self.one_reply_with_all,
            "two_replies": self.two_replies,
            "answered_once": self.answered_once,
            "claimed_while_thinking": self.claimed_while_thinking,
            "second_while_thinking": self.second_while_thinking,
            "not_settled": self.not_settled,
            "not_accepted": self.not_accepted,
            "states_entered": self.states_entered,
            "transitions_per_conversation": self.per_conversation(self.transitions),
            "last_message_to_reply_seconds": self.last_to_reply_seconds,
            "first_message_to_first_reply_seconds": self.first_to_reply_seconds,
            "elapsed_seconds": self.elapsed_seconds,
        }


@dataclass(frozen=True)
class SupersedeRun:
    """Both modes, and the settings they ran with."""

    conversations: int
    think_seconds: float
    debounce_seconds: int
    max_wait_seconds: int
    gap_seconds: float
    stagger_seconds: float
    on: ModeFigures
    off: ModeFigures


def run(
    *,
    conversations: int = 40,
    think_seconds: float = 2.0,
    debounce_seconds: int = 2,
    max_wait_seconds: int = 60,
    gap_seconds: float = 0.3,
    stagger_seconds: float = 0.2,
    timeout_seconds: float = 60.0,
    seed: int = 13,
    progress: Callable[[str], None] = print,
) -> SupersedeRun:
    """The workload with superseding on, then off; the same seeded timings both times."""
    figures = {
        supersede: _run_mode(
            supersede,
            conversations=conversations,
            think_seconds=think_seconds,
            debounce_seconds=debounce_seconds,
            max_wait_seconds=max_wait_seconds,
            gap_seconds=gap_seconds,
            stagger_seconds=stagger_seconds,
            timeout_seconds=timeout_seconds,
            seed=seed,
            progress=progress,
        )
        for supersede in MODES
    }
    return SupersedeRun(
        conversations,
        think_seconds,
        debounce_seconds,
        max_wait_seconds,
        gap_seconds,
        stagger_seconds,
        figures[True],
        figures[False],
    )


def _run_mode(
    supersede: bool,
    *,
    conversations: int,
    think_seconds: float,
    debounce_seconds: int,
    max_wait_seconds: int,
    gap_seconds: float,
    stagger_seconds: float,
    timeout_seconds: float,
    seed: int,
    progress: Callable[[str], None],
) -> ModeFigures:
    environment = {
        "DEBOUNCE_SECONDS": str(debounce_seconds),
        "MAX_WAIT_SECONDS": str(max_wait_seconds),
        "WORKFLOW_TYPE": "STANDARD",
        "SUPERSEDE_STALE_ANSWERS": "true" if supersede else "false",
        # The functions' EMF lines would go to stdout, which carries the table; nothing here reads them.
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    runtime = LocalRuntime(environment, name=f"bench-supersede-{uuid.uuid4().hex[:6]}").start()
    try:
        ai = SlowEchoAI(think_seconds)
        runtime.handlers["process_message"].processors.default._ai = ai
        rng = random.Random(seed)
        # The second message is sent 10-40 % into the think time: while the AI answers, before any part left.
        people = [
            Conversation(f"1556{uuid.uuid4().hex[:8]}", rng.uniform(0.1, 0.4) * think_seconds)
            for _ in range(conversations)
        ]

        def post(person: Conversation, index: int, text: str) -> float:
            mid = person.message_ids[index]
            raw = builders.body(builders.whatsapp(person.user, builders.wa_message(person.user, mid, text)))
            status = runtime.http("POST", "/webhook/whatsapp", body=raw, headers=builders.sign("whatsapp", raw))[0]
            person.statuses.append(status)
            return time.time()

        def converse(index: int, person: Conversation) -> None:
            time.sleep(index * stagger_seconds)
            for i, text in enumerate(FIRST_BURST):
                acknowledged = post(person, i, text)
                if person.first_posted is None:
                    person.first_posted = acknowledged
                if i + 1 < len(FIRST_BURST):
                    time.sleep(gap_seconds)
            if not ai.started(person.key).wait(timeout_seconds):
                return
            time.sleep(person.delay_seconds)
            person.last_posted = post(person, len(FIRST_BURST), SECOND)

        label = "on" if supersede else "off"
        started = time.monotonic()
        deadline = started + timeout_seconds
        threads = [threading.Thread(target=converse, args=(i, p), daemon=True) for i, p in enumerate(people)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        while time.monotonic() < deadline:
            sent = runtime.outbox.entries()
            if all(_reply_to_last(sent, p) is not None for p in people) and runtime.executions_settled():
                break
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        figures = _figures(supersede, runtime, ai, people, elapsed)
        progress(
            f"supersede: {label:<3} {conversations} conversations in {elapsed:.0f} s: {figures.ai_calls} AI calls, "
            f"{figures.superseded_turns} superseded, {figures.replies} replies"
        )
        return figures
    finally:
        runtime.stop_executions()
        runtime.stop()


def _reply_to_last(outbox: list[dict[str, Any]], person: Conversation) -> dict[str, Any] | None:
    last = person.message_ids[-1]
    return next((e for e in outbox if e["recipient"] == person.user and last in e["message_ids"]), None)


def _turns(runtime: LocalRuntime) -> dict[str, list[dict[str, Any]]]:
    """Every turn item in the table, by conversation key (as tests/integration/test_conversation_moves.py reads)."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with runtime.emulator.running_as("bench"):
        pages = (
            boto3.client("dynamodb", region_name=REGION).get_paginator("scan").paginate(TableName=runtime.table_name)
        )
        for item in (i for page in pages for i in page.get("Items", [])):
            if item["sk"]["S"].startswith("turn#"):
                found[item["pk"]["S"]].append(item)
    return found


def _states(runtime: LocalRuntime) -> Counter[str]:
    """States entered by every execution of the state machine (Standard: read from each execution's history)."""
    entered: Counter[str] = Counter()
    with runtime.emulator.running_as("bench"):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        listed = sfn.get_paginator("list_executions").paginate(stateMachineArn=runtime.state_machine_arn)
        for execution in (e for page in listed for e in page["executions"]):
            events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
            entered.update(e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e)
    return entered


def _figures(
    supersede: bool, runtime: LocalRuntime, ai: SlowEchoAI, people: list[Conversation], elapsed: float
) -> ModeFigures:
    # One snapshot of each, so every figure describes the same moment (a run cut at its bound may still be replying).
    outbox = runtime.outbox.entries()
    turns = _turns(runtime)
    states = _states(runtime)
    calls: dict[str, list[AICall]] = defaultdict(list)
    for call in sorted(ai.calls, key=lambda c: c.started):
        calls[call.conversation].append(call)
    ours = {p.key for p in people}
    one_with_all = two = once = while_thinking = second_during = not_settled = 0
    last_to_reply: list[float] = []
    first_to_reply: list[float] = []
    for person in people:
        replies = sorted((e for e in outbox if e["recipient"] == person.user), key=lambda e: e["sent_at"])
        answered = [mid for e in replies for mid in e["message_ids"]]
        once += sorted(answered) == sorted(person.message_ids)
        one_with_all += len(replies) == 1 and replies[0]["message_ids"] == person.message_ids
        two += len(replies) == 2
        mine = calls[person.key]
        if len(mine) >= 2 and mine[1].started < mine[0].ended:
            while_thinking += 1
        if mine and person.last_posted is not None and mine[0].started <= person.last_posted <= mine[0].ended:
            second_during += 1
        last = _reply_to_last(outbox, person)
        if last is None or person.last_posted is None:
            not_settled += 1
        else:
            last_to_reply.append(last["sent_at"] - person.last_posted)
        if replies and person.first_posted is not None:
            first_to_reply.append(replies[0]["sent_at"] - person.first_posted)
    mine_turns = [t for key, items in turns.items() if key in ours for t in items]
    return ModeFigures(
        supersede=supersede,
        conversations=len(people),
        messages=sum(len(p.statuses) for p in people),
        ai_calls=sum(len(c) for key, c in calls.items() if key in ours),
        ai_messages=sum(len(c.message_ids) for key, cs in calls.items() if key in ours for c in cs),
        turns=len(mine_turns),
        superseded_turns=sum(1 for t in mine_turns if "superseded_at" in t),
        replies=sum(1 for e in outbox if e["recipient"] in {p.user for p in people}),
        one_reply_with_all=one_with_all,
        two_replies=two,
        answered_once=once,
        claimed_while_thinking=while_thinking,
        second_while_thinking=second_during,
        states_entered=dict(states),
        last_to_reply_seconds=last_to_reply,
        first_to_reply_seconds=first_to_reply,
        elapsed_seconds=elapsed,
        not_settled=not_settled,
        not_accepted=sum(1 for p in people for status in p.statuses if status != 200),
    )


def add_to(report: Report, measured: SupersedeRun) -> None:
    """The stage's rows, its target (the issue's promise) and its notes."""
    on, off = measured.on, measured.off
    n = measured.conversations
    written = len(FIRST_BURST) + 1
    section = f"double texting, {n} conversations, {measured.think_seconds:g} s AI: SUPERSEDE_STALE_ANSWERS on vs off"
    rows = [
        ("AI calls per conversation, superseding on", "calls/conv", on.per_conversation(on.ai_calls)),
        ("AI calls per conversation, superseding off", "calls/conv", off.per_conversation(off.ai_calls)),
        ("  of which superseded (answer dropped), on", "calls/conv", on.per_conversation(on.superseded_turns)),
        ("  of which superseded, off", "calls/conv", off.per_conversation(off.superseded_turns)),
        ("AI calls, on / off", "x", _ratio(on.ai_calls, off.ai_calls)),
        ("AI calls per reply sent, on", "calls/reply", _ratio(on.ai_calls, on.replies)),
        ("AI calls per reply sent, off", "calls/reply", _ratio(off.ai_calls, off.replies)),
        (
            f"messages the AI read per conversation ({written} written), on",
            "msgs/conv",
            on.per_conversation(on.ai_messages),
        ),
        (
            f"messages the AI read per conversation ({written} written), off",
            "msgs/conv",
            off.per_conversation(off.ai_messages),
        ),
        ("replies sent per conversation, on", "replies/conv", on.per_conversation(on.replies)),
        ("replies sent per conversation, off", "replies/conv", off.per_conversation(off.replies)),
        ("Step Functions state transitions per conversation, on", "transitions", on.per_conversation(on.transitions)),
        (
            "Step Functions state transitions per conversation, off",
            "transitions",
            off.per_conversation(off.transitions),
        ),
        ("last message to the reply answering it, p50, on", "s", median(on.last_to_reply_seconds)),
        ("last message to the reply answering it, p50, off", "s", median(off.last_to_reply_seconds)),
        ("last message to the reply answering it, p95, on", "s", percentile(on.last_to_reply_seconds, 95)),
        ("last message to the reply answering it, p95, off", "s", percentile(off.last_to_reply_seconds, 95)),
        ("first message to the first reply, p50, on", "s", median(on.first_to_reply_seconds)),
        ("first message to the first reply, p50, off", "s", median(off.first_to_reply_seconds)),
    ]
    # Measured on Standard only: the Express column says so ("-") rather than repeating the figure.
    report.rows += [Row(section, figure, unit, value, same_in_express=False) for figure, unit, value in rows]
    report.targets.append(
        Target(
            "SUPERSEDE_STALE_ANSWERS on: a person who writes again while the AI answers gets one reply answering"
            f" everything (off: two); every message answered exactly once ({n} conversations)",
            f"on: {on.one_reply_with_all}/{n} one reply with all {written} messages in order,"
            f" {on.answered_once}/{n} answered once, {on.superseded_turns} superseded AI calls; off:"
            f" {off.two_replies}/{n} two replies, {off.answered_once}/{n} answered once",
            on.one_reply_with_all == n and on.answered_once == n and off.two_replies == n and off.answered_once == n,
        )
    )
    states = {
        label: ", ".join(f"{name} {count / n:.2f}" for name, count in sorted(m.states_entered.items()))
        for label, m in (("on", on), ("off", off))
    }
    report.notes.append(
        f"Double texting (bench/supersede.py): {n} WhatsApp conversations started {measured.stagger_seconds:g} s apart"
        f" on a fresh local runtime per mode (Standard, debounce {measured.debounce_seconds} s, max wait"
        f" {measured.max_wait_seconds} s), each a burst of {len(FIRST_BURST)} messages {measured.gap_seconds:g} s"
        f" apart; once process_message's AI (an echo AI answering after {measured.think_seconds:g} s, swapped in as"
        " the tests swap theirs) starts on that burst, the person writes once more, 10-40 % into the think time"
        " (seeded: the same delays in both modes). AI calls: counted by that AI. Superseded: turn items carrying"
        " superseded_at, scanned from the emulator's table; each is an AI call whose answer was dropped (cross-check,"
        f" AI calls minus replies sent: on {on.unsent_ai_calls}, off {off.unsent_ai_calls}). The superseding call"
        " reads the first burst again: more messages read for one coherent answer instead of two. Superseding AI"
        f" calls that began while the stale one still ran (taken over at the claim): {on.claimed_while_thinking};"
        " the others began after it ended. Times: from the webhook's acknowledgement of the message to the outbox's"
        " sent_at; the first reply comes later with superseding on, because the first burst's answer is dropped."
        " Last message acknowledged before the first burst's AI call ended: on"
        f" {on.second_while_thinking}/{n}, off {off.second_while_thinking}/{n} (the acknowledgement follows the"
        " write, so under load a message can be stored in time and acknowledged after; the replies say whether it"
        f" was). States entered per conversation: on {states['on']}; off {states['off']}. Wall time per mode:"
        f" on {on.elapsed_seconds:.0f} s, off {off.elapsed_seconds:.0f} s; webhook answers not 200: on"
        f" {on.not_accepted}, off {off.not_accepted}; conversations without a reply to their last message at the"
        f" bound: on {on.not_settled}, off {off.not_settled}."
    )
    report.data["supersede"] = {
        "settings": {
            "conversations": n,
            "think_seconds": measured.think_seconds,
            "debounce_seconds": measured.debounce_seconds,
            "max_wait_seconds": measured.max_wait_seconds,
            "gap_seconds": measured.gap_seconds,
            "stagger_seconds": measured.stagger_seconds,
        },
        "on": on.as_json(),
        "off": off.as_json(),
    }


def _ratio(value: float, over: float) -> float:
    return value / over if over else float("nan")
