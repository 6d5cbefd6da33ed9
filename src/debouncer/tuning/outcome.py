"""What one candidate did to the person: AI calls, answers that came too early, and how long answers took."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from debouncer.tuning.simulation import Candidate, Run
from debouncer.tuning.trace import TimedMessage, conversations


@dataclass(frozen=True)
class Outcome:
    """One candidate's figures over one group's trace."""

    candidate: Candidate
    messages: int
    answers: int
    ai_calls: int
    early_sent: int  # premature answers that left: the person read an answer to half a thought
    early_superseded: int  # premature answers replaced before they left: an AI call wasted, the answer later
    unanswered: int
    latencies: tuple[float, ...]  # per answer: from the first message it answers to when it left
    cost_per_million: float

    @property
    def ai_calls_per_100(self) -> float:
        """AI calls per 100 messages (superseded answers cost their call too)."""
        return 100 * self.ai_calls / self.messages if self.messages else 0.0

    @property
    def early(self) -> int:
        """Bursts answered too early, whether their answer left or was superseded."""
        return self.early_sent + self.early_superseded

    @property
    def early_share(self) -> float:
        """Bursts answered too early, as a share of the bursts answered (AI calls)."""
        return self.early / self.ai_calls if self.ai_calls else 0.0

    @property
    def p50(self) -> float:
        """Median wait from a burst's first message to its answer."""
        return percentile(self.latencies, 0.50)

    @property
    def p95(self) -> float:
        """95th percentile of that wait."""
        return percentile(self.latencies, 0.95)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def next_message_at(trace: Sequence[TimedMessage]) -> list[float | None]:
    """For each message (by trace position), when the same conversation's next message came (None: it is the last)."""
    position = {id(m): i for i, m in enumerate(trace)}
    following: list[float | None] = [None] * len(trace)
    for ordered in conversations(trace).values():
        for a, b in pairwise(ordered):
            following[position[id(a)]] = b.at
    return following


def outcome(
    run: Run, trace: Sequence[TimedMessage], following: Sequence[float | None], thought_gap: float, cost: float
) -> Outcome:
    """Score one run. A burst (one AI call) is answered too early when the person's next message in that conversation,
    after the last message the call answers, came within the thought gap of that last message: the window closed
    while they were still writing. Its answer either left (the person read an answer to half a thought) or was
    superseded by that next message (the call was wasted, and the person's answer came an AI call later); both count.
    A call superseded by a message that starts a new thought (past the thought gap) is not early."""

    def premature(messages: tuple[int, ...]) -> bool:
        last = max(messages, key=lambda i: (trace[i].at, i))
        next_at = following[last]
        return next_at is not None and next_at - trace[last].at <= thought_gap

    sent: dict[tuple[int, ...], int] = {}
    latencies = []
    answered: set[int] = set()
    for answer in run.answers:
        key = tuple(sorted(answer.messages))
        sent[key] = sent.get(key, 0) + 1
        answered.update(answer.messages)
        latencies.append(answer.sent_at - min(trace[i].at for i in answer.messages))
    early_sent = early_superseded = 0
    for call in run.calls:
        key = tuple(sorted(call))
        left = sent.get(key, 0) > 0
        if left:
            sent[key] -= 1
        if premature(call):
            if left:
                early_sent += 1
            else:
                early_superseded += 1
    return Outcome(
        candidate=run.candidate,
        messages=len(trace),
        answers=len(run.answers),
        ai_calls=run.ai_calls,
        early_sent=early_sent,
        early_superseded=early_superseded,
        unanswered=len(trace) - len(answered),
        latencies=tuple(latencies),
        cost_per_million=cost,
    )
