"""A discrete-event run of the product's pipeline on a virtual clock: the real Ingest, Processor and Replier use cases
over the in-memory buffer, with the state machine's route (statemachines/debounce.asl.json.tftpl) as the timer."""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from debouncer.domain.errors import BurstNotDueError
from debouncer.domain.models import InboundMessage
from debouncer.domain.ports import AIRequest, OutboundMessage, TextLimit
from debouncer.tuning.memory import MemoryBuffer, cached_epoch_of
from debouncer.tuning.trace import TimedMessage
from debouncer.usecases.ingest import Ingest
from debouncer.usecases.processing import Processor
from debouncer.usecases.replying import Replier

CHANNEL = "generic"
ACCOUNT = "tune"


@dataclass(frozen=True)
class Candidate:
    """One point of the grid: the two settings being tuned."""

    debounce_seconds: int
    max_wait_seconds: int


@dataclass(frozen=True)
class Policy:
    """The settings held fixed across the grid, as the deployment (or the tenant) has them, and the AI's latency."""

    max_messages: int = 50
    max_buffer_bytes: int = 192 * 1024
    flush_keywords: tuple[str, ...] = ()
    supersede: bool = True
    ai_seconds: float = 3.0


@dataclass(frozen=True)
class Answer:
    """One answer that left: when, and the messages (indices into the trace) it answered."""

    conversation: str
    sent_at: float
    messages: tuple[int, ...]


@dataclass
class Run:
    """What one candidate did with the trace."""

    candidate: Candidate
    answers: list[Answer] = field(default_factory=list)
    calls: list[tuple[int, ...]] = field(default_factory=list)  # the messages each AI call was asked to answer
    executions: int = 0
    transitions: int = 0
    lambda_invocations: int = 0
    buffer_reads: int = 0

    @property
    def ai_calls(self) -> int:
        """Every AI call, the superseded answers' included."""
        return len(self.calls)


def inbound(trace: Sequence[TimedMessage]) -> list[InboundMessage]:
    """The trace as the messages Ingest takes, built once per trace: ids are positions, text only a flush keyword (or
    filler standing for a known size, so max_buffer_bytes counts as it would)."""
    messages = []
    for index, timed in enumerate(trace):
        text = timed.keyword
        if text is None and timed.size > 0:
            text = "." * min(timed.size, 16_384)
        messages.append(
            InboundMessage(
                channel=CHANNEL,
                account_id=ACCOUNT,
                conversation_key=timed.conversation,
                sender_id=ACCOUNT,
                recipient_id=timed.conversation,
                message_id=str(index),
                timestamp_ms=max(0, round(timed.at * 1000)),
                text=text,
            )
        )
    return messages


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _AI:
    """Answers at once: its latency is the simulation's (Policy.ai_seconds between the claim and the reply)."""

    uses_history = False

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def answer(self, request: AIRequest) -> str:
        self.calls.append(tuple(int(m.message_id) for m in request.messages))
        return "ok"


class _Channel:
    """Records when each answer leaves, and for which messages."""

    text_limit = TextLimit(4096)

    def __init__(self, clock: _Clock) -> None:
        self._clock = clock
        self.sent: list[Answer] = []

    def send(self, message: OutboundMessage) -> str | None:
        self.sent.append(Answer(message.recipient_id, self._clock.now, tuple(int(i) for i in message.message_ids)))
        return None

    def show_typing(self, message: OutboundMessage) -> None:
        return None


class Simulation:
    """One candidate over one trace: events in time order, ties in the order they were scheduled."""

    def __init__(self, candidate: Candidate, policy: Policy) -> None:
        self.candidate = candidate
        self._policy = policy
        self._clock = _Clock()
        self._buffer = MemoryBuffer(
            debounce_seconds=candidate.debounce_seconds, max_wait_seconds=candidate.max_wait_seconds
        )
        self._ai = _AI()
        self._channel = _Channel(self._clock)
        self._ingest = Ingest(
            self._buffer,
            self,
            max_messages=policy.max_messages,
            max_buffer_bytes=policy.max_buffer_bytes,
            flush_keywords=policy.flush_keywords,
            clock=self._clock,
        )
        self._processor = Processor(
            self._buffer, self._ai, system_prompt="", history_turns=0, supersede=policy.supersede, clock=self._clock
        )
        self._replier = Replier(self._buffer, {CHANNEL: self._channel}, supersede=policy.supersede, clock=self._clock)
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._started: set[tuple[str, int, bool]] = set()
        self._run = Run(candidate)

    def run(self, messages: Sequence[InboundMessage], arrivals: Sequence[float]) -> Run:
        """Post every message at its arrival time and let every execution finish."""
        for message, at in zip(messages, arrivals, strict=True):
            self._at(at, partial(self._post, message))
        # The use cases log each superseded answer: thousands of lines about conversations that never happened.
        previous = logging.root.manager.disable
        logging.disable(logging.INFO)
        try:
            while self._events:
                at, _, event = heapq.heappop(self._events)
                self._clock.now = at
                event()
        finally:
            logging.disable(previous)
        self._run.answers = self._channel.sent
        self._run.calls = self._ai.calls
        return self._run

    def _at(self, at: float, event: Callable[[], None]) -> None:
        heapq.heappush(self._events, (at, next(self._order), event))

    def _post(self, message: InboundMessage) -> None:
        self._run.lambda_invocations += 1  # the webhook
        self._ingest.accept([message])

    # Timer: one Standard execution per (conversation, burst, flush) name; a second start of the same name is a no-op.
    def start(self, conversation_key: str, burst: int, *, wake_at: str, flush: bool = False) -> None:
        """Start the burst's execution: WaitUntilDue until `wake_at`, then read and route."""
        name = (conversation_key, burst, flush)
        if name in self._started:
            return
        self._started.add(name)
        self._run.executions += 1
        self._run.transitions += 1  # WaitUntilDue
        wake = max(self._clock.now, cached_epoch_of(wake_at))
        self._at(wake, lambda: self._read(conversation_key, burst, flush))

    def _read(self, conversation_key: str, burst: int, flush: bool) -> None:
        """ReadBuffer then Route, as the ASL decides: whole seconds on both sides ("now" is EnteredTime cut to the
        second); flush first, then claimed-or-moved-on, quiet reached, cap reached, the nearer of the two."""
        self._run.transitions += 2
        self._run.buffer_reads += 1
        now = math.floor(self._clock.now)
        if flush:
            self._process(conversation_key, burst, flush=True)
            return
        open_burst, quiet, cap = self._buffer.open_burst(conversation_key)
        if quiet is None or cap is None or open_burst != burst:
            self._run.transitions += 1  # BurstAlreadyClaimed
            return
        quiet_at, cap_at = cached_epoch_of(quiet), cached_epoch_of(cap)
        if quiet_at <= now or cap_at <= now:
            self._process(conversation_key, burst)
        elif cap_at <= quiet_at:
            self._run.transitions += 1  # WaitForMaxWait
            self._at(cap_at, lambda: self._process(conversation_key, burst))
        else:
            self._run.transitions += 1  # WaitForQuiet, then straight to Process
            self._at(quiet_at, lambda: self._process(conversation_key, burst))

    def _process(self, conversation_key: str, burst: int, *, flush: bool = False) -> None:
        """Process claims now (or finds the burst not due: back to ReadBuffer); Reply runs once the AI has answered
        (ai_seconds later)."""
        self._run.transitions += 1
        self._run.lambda_invocations += 1
        claimer = f"{conversation_key}/{burst}/{self._clock.now}"
        try:
            result = self._processor.process(conversation_key, burst, claimer, only_if_due=not flush)
        except BurstNotDueError:
            self._read(conversation_key, burst, flush)
            return
        latency = self._policy.ai_seconds if result["claimed"] else 0.0
        self._at(self._clock.now + latency, lambda: self._reply(conversation_key, burst, claimer, result["claimed"]))

    def _reply(self, conversation_key: str, burst: int, token: str, claimed: bool) -> None:
        self._run.transitions += 1
        self._run.lambda_invocations += 1
        self._replier.reply(conversation_key, burst, token, claimed=claimed)


def simulate(
    candidate: Candidate, policy: Policy, messages: Sequence[InboundMessage], trace: Sequence[TimedMessage]
) -> Run:
    """Run the trace (`messages` is inbound(trace)) through the pipeline with one candidate's settings."""
    return Simulation(candidate, policy).run(messages, [m.at for m in trace])
