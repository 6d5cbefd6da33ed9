"""Counts AWS calls per message (first of a burst vs later ones) and measures reply lateness, on the local runtime.

Run with `make bench` (python -m bench.pipeline_counts from the repo root).
Counts come from every botocore request the code emits (the emulator records them by
caller); lateness is the outbox time minus the ideal deadline min(last + debounce, first + max_wait).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable

from tests import builders

from debouncer.local.runtime import LocalRuntime

DEBOUNCE, MAX_WAIT = 2, 10
BURSTS, BURST_SIZE, GAP = 12, 4, 0.3
READS = {"dynamodb:GetItem", "dynamodb:Query"}
WRITES = {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:TransactWriteItems", "dynamodb:DeleteItem"}


def post(runtime: LocalRuntime, user: str, mid: str) -> None:
    raw = builders.body(builders.whatsapp(user, builders.wa_message(user, mid, mid)))
    status, _, body = runtime.http("POST", "/webhook/whatsapp", body=raw, headers=builders.sign("whatsapp", raw))
    assert status == 200, body


def count_calls(runtime: LocalRuntime, action: Callable[[], None]) -> Counter[tuple[str, str]]:
    before = Counter(runtime.emulator.calls)
    action()
    # Only the webhook's own calls: the previous burst's processing may run meanwhile.
    return Counter({k: v for k, v in (Counter(runtime.emulator.calls) - before).items() if k[0] == "post_message"})


def main() -> None:
    runtime = LocalRuntime({"DEBOUNCE_SECONDS": str(DEBOUNCE), "MAX_WAIT_SECONDS": str(MAX_WAIT)}).start()
    first: Counter[tuple[str, str]] = Counter()
    later: Counter[tuple[str, str]] = Counter()
    last_post: dict[str, float] = {}
    users = [f"1555{uuid.uuid4().hex[:8]}" for _ in range(BURSTS)]

    def burst(user: str) -> None:
        for i in range(BURST_SIZE):
            counts = count_calls(runtime, lambda i=i: post(runtime, user, f"wamid.{user}.{i}"))
            (first if i == 0 else later).update(counts)
            last_post[user] = time.time()
            time.sleep(GAP)

    # Sequential bursts so per-message counts are not mixed up between concurrent posts.
    for user in users:
        burst(user)
    deadline = time.time() + 60
    while time.time() < deadline and len({e["recipient"] for e in runtime.outbox.entries()}) < BURSTS:
        time.sleep(0.1)
    time.sleep(DEBOUNCE + 1)
    entries = runtime.outbox.entries()
    per_burst = Counter(
        {k: v for k, v in runtime.emulator.calls.items() if k[0] in ("process_message", "reply", "state_machine")}
    )
    runtime.stop_executions()
    runtime.stop()

    def per(counter: Counter[tuple[str, str]], n: int, actions: set[str] | None = None, service: str = "") -> float:
        total = sum(
            v for (_, a), v in counter.items() if (actions and a in actions) or (service and a.startswith(service))
        )
        return total / n

    n_first, n_later = BURSTS, BURSTS * (BURST_SIZE - 1)
    lateness = [e["sent_at"] - (last_post[e["recipient"]] + DEBOUNCE) for e in entries]
    rows = [
        ("DynamoDB writes / first message of a burst", per(first, n_first, WRITES), "calls"),
        ("DynamoDB writes / later message", per(later, n_later, WRITES), "calls"),
        ("Step Functions API calls / first message", per(first, n_first, service="states:"), "calls"),
        ("Step Functions API calls / later message", per(later, n_later, service="states:"), "calls"),
        ("DynamoDB reads / burst (state machine + Lambdas)", per(per_burst, BURSTS, READS), "calls"),
        ("DynamoDB writes / burst (claim, answer, delivery)", per(per_burst, BURSTS, WRITES), "calls"),
        ("Lambda invokes / burst", per(per_burst, BURSTS, {"lambda:InvokeFunction"}), "calls"),
        ("replies / burst", len(entries) / BURSTS, "replies"),
        ("reply lateness vs ideal deadline, p50", statistics.median(lateness), "s"),
        ("reply lateness vs ideal deadline, max", max(lateness), "s"),
    ]
    print(
        f"\nchat-debouncer pipeline figures ({BURSTS} bursts x {BURST_SIZE} messages, {GAP}s apart, "
        f"debounce {DEBOUNCE}s, local runtime on moto)\n"
    )
    width = max(len(r[0]) for r in rows)
    for name, value, unit in rows:
        print(f"  {name:<{width}}  {value:8.2f} {unit}")
    print()


if __name__ == "__main__":
    main()
