"""The grid of candidate settings, every candidate simulated per group, and the smallest window that is good enough."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from debouncer.tuning.cost import cost_per_million
from debouncer.tuning.gaps import gaps, thought_gap
from debouncer.tuning.grid import DEBOUNCE_RANGE, MAX_WAIT_RANGE
from debouncer.tuning.outcome import Outcome, next_message_at, outcome
from debouncer.tuning.simulation import Candidate, Policy, inbound, simulate
from debouncer.tuning.trace import Group, TimedMessage, groups

# Without a break in the data (too few gaps), a pause this long still means the person was writing on.
FALLBACK_THOUGHT_GAP = 30.0

Progress = Callable[[int, int], None]


def grid(debounce: Sequence[int], max_wait: Sequence[int]) -> list[Candidate]:
    """Every valid pair (max wait at least the window), smallest window first."""
    return [
        Candidate(d, w)
        for d in sorted(set(debounce))
        for w in sorted(set(max_wait))
        if w >= d and DEBOUNCE_RANGE[0] <= d <= DEBOUNCE_RANGE[1] and MAX_WAIT_RANGE[0] <= w <= MAX_WAIT_RANGE[1]
    ]


@dataclass(frozen=True)
class GroupResult:
    """One group's candidates and the recommendation (None: no candidate met the bound)."""

    group: Group
    conversations: int
    gaps: tuple[float, ...]
    thought_gap: float
    thought_gap_found: bool  # False: given by --thought-gap, or the data had no break
    outcomes: tuple[Outcome, ...]
    recommended: Outcome | None


def choose(outcomes: Sequence[Outcome], max_early: float) -> Outcome | None:
    """The smallest window (then the smallest max wait) whose early share is within `max_early`, answering all."""
    good = [o for o in outcomes if o.early_share <= max_early and o.unanswered == 0]
    return min(good, key=lambda o: (o.candidate.debounce_seconds, o.candidate.max_wait_seconds), default=None)


def tune(
    trace: Sequence[TimedMessage],
    candidates: Sequence[Candidate],
    policy: Policy,
    *,
    max_early: float,
    fixed_thought_gap: float | None = None,
    ai_price: float = 0.0,
    progress: Progress | None = None,
) -> list[GroupResult]:
    """Simulate every candidate on every group of the trace and choose for each."""
    split = groups(list(trace))
    total, done = len(split) * len(candidates), 0
    results = []
    for group, messages in split.items():
        found = gaps(messages)
        measured = thought_gap(found)
        gap = fixed_thought_gap or measured or FALLBACK_THOUGHT_GAP
        inbound_messages = inbound(messages)
        following = next_message_at(messages)
        outcomes = []
        for candidate in candidates:
            run = simulate(candidate, policy, inbound_messages, messages)
            cost = cost_per_million(run, len(messages), policy, ai_price)
            outcomes.append(outcome(run, messages, following, gap, cost))
            done += 1
            if progress is not None:
                progress(done, total)
        results.append(
            GroupResult(
                group=group,
                conversations=len({m.conversation for m in messages}),
                gaps=tuple(found),
                thought_gap=gap,
                thought_gap_found=fixed_thought_gap is None and measured is not None,
                outcomes=tuple(outcomes),
                recommended=choose(outcomes, max_early),
            )
        )
    return results
