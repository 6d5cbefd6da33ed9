"""The AWS bill of a simulated run, per million messages, at the list prices of debouncer.pricing.

Counted from what the simulation did: every webhook request (API Gateway, a Lambda request), every execution's state
transitions (Standard workflows bill each one) and its direct buffer reads, the process_message and reply
invocations, process_message's duration while the AI thinks (at the Terraform default memory, arm64), and the
DynamoDB writes of the appends and claims. Short function durations other than the AI's wait are left out, as are
the AI provider's own charges unless --ai-price says what one call costs.
"""

from __future__ import annotations

from debouncer import pricing
from debouncer.tuning.simulation import Policy, Run

PROCESS_MEMORY_GB = 512 / 1024  # variables.tf lambda_memory_size.process_message default
# Write units: one append per message (a small item); a claim is a transaction (twice the units) of the buffer, the
# turn, the directory entry and one dedupe record per message; then the answer and the delivery, one each.
APPEND_WRU = 1
CLAIM_ITEMS_WRU = 2 * 3
DEDUPE_WRU = 2
ANSWER_AND_DELIVERY_WRU = 4
# Read units: the state machine's consistent read of the buffer, and the claim's and the reply's reads.
CLAIM_AND_REPLY_RRU = 4


def cost_per_million(run: Run, messages: int, policy: Policy, ai_price: float = 0.0) -> float:
    """Dollars per million messages arriving like the trace's, under this run's candidate."""
    if messages == 0:
        return 0.0
    writes = messages * (APPEND_WRU + DEDUPE_WRU) + run.ai_calls * (CLAIM_ITEMS_WRU + ANSWER_AND_DELIVERY_WRU)
    reads = run.buffer_reads + run.ai_calls * CLAIM_AND_REPLY_RRU
    dollars = (
        messages * pricing.API_GATEWAY_HTTP_REQUEST.each
        + run.lambda_invocations * pricing.LAMBDA_REQUEST.each
        + run.ai_calls * policy.ai_seconds * PROCESS_MEMORY_GB * pricing.LAMBDA_GB_SECOND["arm64"].each
        + run.transitions * pricing.STANDARD_STATE_TRANSITION.each
        + writes * pricing.DYNAMODB_WRITE_REQUEST_UNIT.each
        + reads * pricing.DYNAMODB_READ_REQUEST_UNIT.each
        + run.ai_calls * ai_price
    )
    return dollars * 1_000_000 / messages
