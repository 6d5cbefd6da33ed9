"""Sixteen sender threads posting the workload through the API Gateway v2 event path, redelivering like a channel.

A conversation's bursts go out one after the other, a quiet gap apart; its late duplicates follow once the burst
has had time to be answered. A follow-up burst (Conversation.follow_ups) goes out instead the moment the fake AI is
first asked about the burst before it (`ai_asked`), on a thread of its own, while the AI holds its answer: the
person writes again while the answer is being written. Should the AI never be asked, it goes out after
Pacing.follow_up_fallback like any other burst.

A 5xx is redelivered with backoff until accepted (WhatsApp and Telegram redeliver on any non-2xx), within a bounded
number of attempts; a 4xx is never redelivered (it would never be accepted).
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from debouncer.local.runtime import LocalRuntime
from tests.reliability.workload import Conversation, Delivery, Message, Workload

MAX_DELIVERIES = 25


@dataclass(frozen=True)
class Pacing:
    """Time between posts: inside a burst (well under the debounce), between bursts (over it), before late dups."""

    in_burst: tuple[float, float] = (0.0, 0.1)
    between_bursts: tuple[float, float] = (2.5, 4.0)
    late_after: float = 8.0
    ramp: float = 15.0
    follow_up_fallback: float = 20.0


@dataclass
class SendReport:
    """What the senders saw: statuses, first acceptance of each message, and anything a channel would not expect."""

    statuses: Counter[int] = field(default_factory=Counter)
    accepted: dict[str, float] = field(default_factory=dict)  # message id -> when first answered 200
    never_accepted: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    redeliveries: int = 0
    posts: int = 0
    seconds: float = 0.0
    follow_ups: Counter[str] = field(default_factory=Counter)  # "during_ai" | "fallback"
    # How long each webhook POST took, by conversation: how far the emulator (every AWS call under one lock) keeps
    # pace with the load.
    post_seconds: list[tuple[int, float]] = field(default_factory=list)


@dataclass(order=True)
class _Job:
    due: float
    order: int
    conversation: Conversation = field(compare=False)
    burst: int = field(compare=False)
    late: bool = field(compare=False, default=False)
    follow_up: bool = field(compare=False, default=False)


@dataclass
class _FollowUp:
    """A follow-up burst waiting for the AI to be asked about the burst before it (by that burst's last token)."""

    conversation: Conversation
    burst: int
    trigger: tuple[int, int]
    landed: threading.Event = field(default_factory=threading.Event)
    started: bool = False


class Senders:
    """Runs the workload to the end (or to the deadline) on `threads` threads."""

    def __init__(
        self,
        runtime: LocalRuntime,
        workload: Workload,
        *,
        threads: int = 16,
        pacing: Pacing | None = None,
        posting_for: Callable[[int], AbstractContextManager[None]] | None = None,
    ) -> None:
        self._runtime = runtime
        self._workload = workload
        self._threads = threads
        self._pacing = pacing or Pacing()
        self._posting_for = posting_for or (lambda conversation: nullcontext())
        self._jobs: list[_Job] = []
        self._ready = threading.Condition()
        self._outstanding = 0
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._follow_ups: dict[int, _FollowUp] = {}  # conversation -> the follow-up waiting for its trigger
        self.report = SendReport()

    def run(self, deadline_seconds: float) -> SendReport:
        """Post everything; returns when every job is done, or fails the run at the deadline."""
        rng = random.Random(self._workload.seed)
        started = time.monotonic()
        self._deadline = started + deadline_seconds
        for conversation in self._workload.conversations:
            self._schedule(conversation, 0, started + rng.uniform(0, self._pacing.ramp))
        workers = [threading.Thread(target=self._work, name=f"sender-{i}", daemon=True) for i in range(self._threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=max(0.0, self._deadline - time.monotonic()) + 5)
        self.report.seconds = time.monotonic() - started
        with self._ready:
            if self._outstanding:
                self.report.unexpected.append(
                    f"{self._outstanding} jobs unfinished at the {deadline_seconds:.0f} s limit"
                )
        return self.report

    def _schedule(
        self, conversation: Conversation, burst: int, due: float, *, late: bool = False, follow_up: bool = False
    ) -> None:
        with self._ready:
            heapq.heappush(self._jobs, _Job(due, next(self._order), conversation, burst, late, follow_up))
            self._outstanding += 1
            self._ready.notify()

    def _next(self) -> _Job | None:
        with self._ready:
            while True:
                now = time.monotonic()
                if self._outstanding == 0 or now >= self._deadline:
                    self._ready.notify_all()
                    return None
                if self._jobs and self._jobs[0].due <= now:
                    return heapq.heappop(self._jobs)
                wait = (self._jobs[0].due - now) if self._jobs else 0.5
                self._ready.wait(timeout=min(wait, 0.5))

    def _done(self) -> None:
        with self._ready:
            self._outstanding -= 1
            self._ready.notify_all()

    def _work(self) -> None:
        while (job := self._next()) is not None:
            try:
                self._run(job)
            finally:
                self._done()

    def _run(self, job: _Job) -> None:
        conversation, rng = job.conversation, random.Random(f"{self._workload.seed}/{job.order}")
        if job.follow_up:
            # The fallback of a follow-up: nothing to do if the AI's request already sent it on its way.
            with self._lock:
                pending = self._follow_ups.get(conversation.index)
                if pending is None or pending.burst != job.burst or pending.started:
                    return
                pending.started = True
                del self._follow_ups[conversation.index]
                self.report.follow_ups["fallback"] += 1
        if job.late:
            for message in conversation.late_duplicates[job.burst]:
                self._deliver(Delivery(message, duplicate=True), rng)
            return
        following = job.burst + 1
        if following in conversation.follow_ups:
            # Registered before the burst goes out: the AI may be asked about its last message before the others
            # are posted (reordered, or a delivery in redelivery backoff).
            last = max(m.seq for m in conversation.bursts[job.burst])
            with self._lock:
                self._follow_ups[conversation.index] = _FollowUp(conversation, following, (conversation.index, last))
            self._schedule(conversation, following, time.monotonic() + self._pacing.follow_up_fallback, follow_up=True)
        deliveries = conversation.deliveries[job.burst]
        for i, delivery in enumerate(deliveries):
            self._deliver(delivery, rng)
            if i + 1 < len(deliveries):
                time.sleep(rng.uniform(*self._pacing.in_burst))
        now = time.monotonic()
        if conversation.late_duplicates[job.burst]:
            self._schedule(conversation, job.burst, now + self._pacing.late_after, late=True)
        if following < len(conversation.bursts) and following not in conversation.follow_ups:
            self._schedule(conversation, following, now + rng.uniform(*self._pacing.between_bursts))

    def ai_asked(self, tokens: list[tuple[int, int]]) -> threading.Event | None:
        """The fake AI was asked about these messages: post the follow-up they trigger now, on a thread of its own.

        Returns an event set once that follow-up has been posted (None when the request triggers nothing): the AI
        holds its answer until then, so the follow-up is waiting when the answer is ready.
        """
        if not tokens:
            return None
        with self._lock:
            pending = self._follow_ups.get(tokens[0][0])
            if pending is None or pending.started or pending.trigger not in tokens:
                return None
            pending.started = True
            del self._follow_ups[tokens[0][0]]
            self.report.follow_ups["during_ai"] += 1
            with self._ready:  # counted before its fallback job can end: the run waits for this thread too
                self._outstanding += 1
        job = _Job(time.monotonic(), next(self._order), pending.conversation, pending.burst)

        def post() -> None:
            try:
                self._run(job)
            finally:
                pending.landed.set()
                self._done()

        threading.Thread(target=post, name=f"follow-up-{job.conversation.index}", daemon=True).start()
        return pending.landed

    def _deliver(self, delivery: Delivery, rng: random.Random) -> None:
        message = delivery.message
        for attempt in range(MAX_DELIVERIES):
            status = self._post(message)
            if status == 200:
                with self._lock:
                    self.report.accepted.setdefault(message.message_id, time.time())
                return
            if status < 500 or time.monotonic() >= self._deadline:
                break
            with self._lock:
                self.report.redeliveries += 1
            # A channel's redelivery backoff, compressed: 0.1 s doubling, capped at 2 s, with jitter.
            time.sleep(rng.uniform(0.5, 1.0) * min(2.0, 0.1 * 2**attempt))
        with self._lock:
            self.report.never_accepted.append(message.message_id)

    def _post(self, message: Message) -> int:
        channel = self._workload.conversations[message.conversation].channel
        started = time.monotonic()
        try:
            with self._posting_for(message.conversation):
                status, _, body = self._runtime.http(
                    "POST", f"/webhook/{channel}", body=message.body, headers=message.headers
                )
        except Exception as e:  # the handler crashed: API Gateway would answer 500 and the channel redeliver
            status, body = 500, f"{type(e).__name__}: {e}".encode()
        with self._lock:
            self.report.posts += 1
            self.report.post_seconds.append((message.conversation, time.monotonic() - started))
            self.report.statuses[status] += 1
            if status not in (200, 503):
                self.report.unexpected.append(f"{message.message_id}: HTTP {status} {body[:200]!r}")
        return status
