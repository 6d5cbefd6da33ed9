"""Step Functions workflow types, and the arithmetic of fitting one burst's execution into Express's 5 minutes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

WorkflowType = Literal["STANDARD", "EXPRESS"]
WORKFLOW_TYPES: tuple[WorkflowType, ...] = ("STANDARD", "EXPRESS")

# The EXPRESS figures of statemachines/workflow_types.json (the Lambda package has neither that file nor the
# definition; tests recompute every figure from them and from the rendered definition).
EXPRESS_MAX_SECONDS = 300
# Worst case of every Retry delay of statemachines/debounce.asl.json.tftpl as rendered for EXPRESS.
EXPRESS_RETRY_BUDGET_SECONDS = 88
# Deadlines rounded up to whole seconds, and the quick calls no Lambda timeout bounds (GetItem, SendMessage).
EXPRESS_OVERHEAD_SECONDS = 5
# Retries of a Process or Reply attempt that timed out (template value timeout_retry_max_attempts): each runs the
# function's full length again, so Express has none.
EXPRESS_TIMEOUT_RETRIES = 0

# A reply lease outlives the one reply attempt that took (or renewed) it by this much: a live holder never loses it
# (its expiry is a whole second, and hosts' clocks differ a little), and a dead one's lapses soon after.
REPLY_LEASE_MARGIN_SECONDS = 5
# The WaitForReplyLease state's Seconds: how often a run waiting on another run's lease tries Reply again.
REPLY_LEASE_POLL_SECONDS = 5
# How long a waiting run can wait beyond one reply timeout: the margin, the second after expiry from which the lease
# can be taken, and one poll (workflow_types.json's reply_lease_wait_extra_seconds).
REPLY_LEASE_WAIT_EXTRA_SECONDS = REPLY_LEASE_MARGIN_SECONDS + 1 + REPLY_LEASE_POLL_SECONDS


def reply_lease_seconds(reply_timeout_seconds: int) -> int:
    """How long a reply lease lasts: one reply attempt (the reply function's timeout) and the margin."""
    return reply_timeout_seconds + REPLY_LEASE_MARGIN_SECONDS


def express_seconds_needed(max_wait_seconds: int, process_timeout_seconds: int, reply_timeout_seconds: int) -> int:
    """Longest one Express execution can run.

    The whole window; every full-length attempt of each function (the first, and each retry after a timeout); the
    wait for another run's reply lease (one lease, so one reply timeout, plus the extra); every Retry delay; overhead.
    An attempt that fails otherwise is taken to fail fast: process_message gives up on the AI before its deadline.
    """
    full_length = (process_timeout_seconds + reply_timeout_seconds) * (1 + EXPRESS_TIMEOUT_RETRIES)
    lease_wait = reply_timeout_seconds + REPLY_LEASE_WAIT_EXTRA_SECONDS
    return max_wait_seconds + full_length + lease_wait + EXPRESS_RETRY_BUDGET_SECONDS + EXPRESS_OVERHEAD_SECONDS


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
