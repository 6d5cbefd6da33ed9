"""The gaps between a person's messages, and the thought gap: the natural break between "still writing" and "a new
thought" in the data's own gap histogram."""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import pairwise

from debouncer.tuning.trace import TimedMessage, conversations

# Gaps shorter than this count as this long: two messages of one channel notification arrive together, and log(0)
# has no place on the histogram.
SHORTEST_GAP = 0.05


def gaps(messages: Iterable[TimedMessage]) -> list[float]:
    """Every gap between consecutive messages of the same conversation, in seconds."""
    found: list[float] = []
    for ordered in conversations(messages).values():
        found += [max(SHORTEST_GAP, b.at - a.at) for a, b in pairwise(ordered)]
    return found


def thought_gap(found: list[float]) -> float | None:
    """Where the gaps split into two classes on a log scale (Otsu's split: the least spread within the two classes),
    as the geometric middle between the longest short gap and the shortest long one. None with fewer than two
    distinct gaps (no break to find)."""
    logs = sorted(math.log(g) for g in found)
    if len(logs) < 2 or logs[0] == logs[-1]:
        return None
    n = len(logs)
    prefix = [0.0]
    squares = [0.0]
    for value in logs:
        prefix.append(prefix[-1] + value)
        squares.append(squares[-1] + value * value)

    def spread(lo: int, hi: int) -> float:
        count = hi - lo
        total = prefix[hi] - prefix[lo]
        return squares[hi] - squares[lo] - total * total / count

    best_cut, best = 1, math.inf
    for cut in range(1, n):
        if logs[cut] == logs[cut - 1]:
            continue  # equal gaps stay on one side
        within = spread(0, cut) + spread(cut, n)
        if within < best:
            best_cut, best = cut, within
    return math.exp((logs[best_cut - 1] + logs[best_cut]) / 2)
