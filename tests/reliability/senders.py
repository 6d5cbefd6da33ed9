"""Sixteen sender threads posting the workload through the API Gateway v2 event path, redelivering like a channel.

A conversation's bursts go out one after the other, a quiet gap apart; its late duplicates follow once the burst
has had time to be answered. A 5xx is redelivered with backoff until accepted (WhatsApp and Telegram redeliver on
any non-2xx), within a bounded number of attempts; a 4xx is never redelivered (it would never be accepted).
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


@dataclass(order=True)
class _Job:
    due: float
    order: int
    conversation: Conversation = field(compare=False)
    burst: int = field(compare=False)
    late: bool = field(compare=False, default=False)


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

    def _schedule(self, conversation: Conversation, burst: int, due: float, *, late: bool = False) -> None:
        with self._ready:
            heapq.heappush(self._jobs, _Job(due, next(self._order), conversation, burst, late))
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
        if job.late:
            for message in conversation.late_duplicates[job.burst]:
                self._deliver(Delivery(message, duplicate=True), rng)
            return
        deliveries = conversation.deliveries[job.burst]
        for i, delivery in enumerate(deliveries):
            self._deliver(delivery, rng)
            if i + 1 < len(deliveries):
                time.sleep(rng.uniform(*self._pacing.in_burst))
        now = time.monotonic()
        if conversation.late_duplicates[job.burst]:
            self._schedule(conversation, job.burst, now + self._pacing.late_after, late=True)
        if job.burst + 1 < len(conversation.bursts):
            self._schedule(conversation, job.burst + 1, now + rng.uniform(*self._pacing.between_bursts))

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
        try:
            with self._posting_for(message.conversation):
                status, _, body = self._runtime.http(
                    "POST", f"/webhook/{channel}", body=message.body, headers=message.headers
                )
        except Exception as e:  # the handler crashed: API Gateway would answer 500 and the channel redeliver
            status, body = 500, f"{type(e).__name__}: {e}".encode()
        with self._lock:
            self.report.posts += 1
            self.report.statuses[status] += 1
            if status not in (200, 503):
                self.report.unexpected.append(f"{message.message_id}: HTTP {status} {body[:200]!r}")
        return status
