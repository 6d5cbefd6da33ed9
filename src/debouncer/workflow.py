"""Step Functions workflow types, and the arithmetic of fitting one burst's execution into Express's 5 minutes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

WorkflowType = Literal["STANDARD", "EXPRESS"]
WORKFLOW_TYPES: tuple[WorkflowType, ...] = ("STANDARD", "EXPRESS")

EXPRESS_MAX_SECONDS = 300
# Worst case of every Retry delay of statemachines/debounce.asl.json as rendered for EXPRESS
# (statemachines/workflow_types.json); the Lambda package has neither file, and a test recomputes it from them.
EXPRESS_RETRY_BUDGET_SECONDS = 136
# Deadlines rounded up to whole seconds, and the quick calls no Lambda timeout bounds (GetItem, SendMessage).
EXPRESS_OVERHEAD_SECONDS = 5


def express_seconds_needed(max_wait_seconds: int, process_timeout_seconds: int, reply_timeout_seconds: int) -> int:
    """Longest one execution can run: the whole window, one full-length attempt of each function, every backoff."""
    return (
        max_wait_seconds
        + process_timeout_seconds
        + reply_timeout_seconds
        + EXPRESS_RETRY_BUDGET_SECONDS
        + EXPRESS_OVERHEAD_SECONDS
    )


def retry_budget_seconds(definition: Mapping[str, Any]) -> float:
    """Sum of the longest delay every retrier of every state can add (jitter only shortens them).

    Step Functions counts attempts per retrier, so errors alternating between retriers can use all of them.
    """
    total = 0.0
    for state in definition["States"].values():
        for retrier in state.get("Retry", []):
            interval = float(retrier.get("IntervalSeconds", 1))
            rate = float(retrier.get("BackoffRate", 2.0))
            cap = retrier.get("MaxDelaySeconds")
            for attempt in range(int(retrier.get("MaxAttempts", 3))):
                delay = interval * rate**attempt
                total += delay if cap is None else min(delay, float(cap))
    return total
