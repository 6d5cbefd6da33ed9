"""debouncer tune's sanity requirement: with gaps of at most G seconds inside bursts and at least 10 G between them,
the recommended window lies between G and 2.5 G."""

from __future__ import annotations

import random

import pytest

from debouncer.tuning.grid import DEFAULT_DEBOUNCE, DEFAULT_MAX_WAIT
from debouncer.tuning.recommend import grid, tune
from debouncer.tuning.simulation import Policy
from debouncer.tuning.trace import TimedMessage


def bursty_trace(g: float, seed: int, conversations: int = 8, bursts: int = 6) -> list[TimedMessage]:
    """Bursts of 2-6 messages, gaps within a burst in [G/2, G], gaps between bursts in [10 G, 30 G]."""
    rng = random.Random(seed)
    trace = []
    for c in range(conversations):
        at = 1_800_000_000 + rng.uniform(0, 60)
        for _ in range(bursts):
            for i in range(rng.randint(2, 6)):
                if i:
                    at += rng.uniform(g / 2, g)
                trace.append(TimedMessage(f"conversation-{c}", at))
            at += rng.uniform(10 * g, 30 * g)
    return trace


@pytest.mark.parametrize("g", [2, 4, 8])
def test_the_recommendation_lies_between_the_longest_pause_within_a_burst_and_two_and_a_half_times_it(g: int) -> None:
    # GIVEN bursts whose inner gaps are at most G and outer gaps at least 10 G
    trace = bursty_trace(g, seed=g)

    # WHEN every default candidate is replayed through the pipeline
    [result] = tune(trace, grid(DEFAULT_DEBOUNCE, DEFAULT_MAX_WAIT), Policy(ai_seconds=2), max_early=0.10)

    # THEN the thought gap falls in the break, and the smallest good window is between G and 2.5 G
    assert g < result.thought_gap < 10 * g
    assert result.recommended is not None
    assert g <= result.recommended.candidate.debounce_seconds <= 2.5 * g
    assert result.recommended.early_share <= 0.10
