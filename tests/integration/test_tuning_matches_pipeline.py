"""debouncer tune's simulator against the real pipeline: the same trace, posted to the local runtime (handlers on the
emulator, the state machine executed), is cut into the same bursts as the simulation predicts for its settings."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import Counter, defaultdict

import boto3
import pytest

from debouncer.cli import main
from debouncer.local.runtime import REGION
from debouncer.tuning.simulation import Candidate, Policy, inbound, simulate
from debouncer.tuning.table import read_table
from debouncer.tuning.trace import TimedMessage
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, wait_for

DEBOUNCE, MAX_WAIT = 4, 8
# Offsets in seconds (from a start 0.3 s past a whole second) of each conversation's messages. Gaps of 0-4 s stay in a
# burst; in "c" the max wait (due at 10) cuts a burst whose quiet deadline is 14, before the message at 12. Arrivals
# before a deadline are at least 0.7 s before it; a message after a cut comes at least 2.3 s after the claim, and
# after the cut turn's own max wait (so it cannot supersede that answer): the emulator may run a second or two late
# on a busy machine without moving a message across a cut.
PLAN: dict[str, list[float]] = {
    "a": [0, 0, 1, 4, 12, 14],
    "b": [0, 3, 11],
    "c": [1, 4, 7, 9, 12, 14],
}


def test_the_simulator_cuts_a_trace_into_the_bursts_the_pipeline_answers(
    start_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS=str(DEBOUNCE), MAX_WAIT_SECONDS=str(MAX_WAIT))
    run_id = uuid.uuid4().hex[:8]
    schedule = sorted((at, f"{name}-{run_id}", i) for name, offsets in PLAN.items() for i, at in enumerate(offsets))

    # GIVEN a trace posted on schedule, each message's arrival taken as the simulator's timing
    start = math.floor(time.time()) + 1.3
    trace: list[TimedMessage] = []
    ids: list[str] = []
    for at, conversation, i in schedule:
        time.sleep(max(0.0, start + at - time.time()))
        arrived = time.time()
        message_id = f"{conversation}-{i}"
        status, body = post(runtime, "generic", builders.generic(conversation, message_id, f"part {i}"))
        assert status == 200, body
        trace.append(TimedMessage(conversation, arrived))
        ids.append(message_id)

    # WHEN the pipeline has answered everything
    wait_for(lambda: sum(len(e["message_ids"]) for e in runtime.outbox.entries()) >= len(trace), timeout=20)
    wait_for(lambda: executions_settled(runtime), timeout=20)

    # THEN its bursts are the simulator's, message for message
    real: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for entry in runtime.outbox.entries():
        real[entry["recipient"]].add(tuple(sorted(entry["message_ids"])))
    run = simulate(Candidate(DEBOUNCE, MAX_WAIT), Policy(ai_seconds=0), inbound(trace), trace)
    predicted: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for answer in run.answers:
        predicted[answer.conversation].add(tuple(sorted(ids[i] for i in answer.messages)))
    assert dict(real) == dict(predicted)
    assert sum(len(bursts) for bursts in predicted.values()) == 6  # two each, c's cut by its max wait

    # AND the table's history gives the same timings back (pseudonymous conversations, no text), hence the same bursts
    with runtime.emulator.running_as("operator"):
        stored = read_table(boto3.client("dynamodb", region_name=REGION), runtime.table_name)
    assert len(stored) == len(trace)
    assert all(abs(a.at - b.at) < 0.5 for a, b in zip(sorted(stored, key=lambda m: m.at), trace, strict=True))
    assert not any(run_id in m.conversation for m in stored)
    replayed = simulate(Candidate(DEBOUNCE, MAX_WAIT), Policy(ai_seconds=0), inbound(stored), stored)
    assert Counter(len(a.messages) for a in replayed.answers) == Counter(len(a.messages) for a in run.answers)

    # AND `debouncer tune --table` reads the same (tenant items too), and recommends for this setting's own trace
    capsys.readouterr()
    with runtime.emulator.running_as("operator"):
        status = main(["tune", "--table", runtime.table_name, "--region", REGION, "--max-wait", "8", "--json"])
    out = capsys.readouterr().out
    report = json.loads(out[out.index('{\n  "max_early"') :])  # the emulator's metric lines may precede it
    [group] = report["groups"]
    assert (status, group["messages"], group["conversations"]) == (0, len(trace), len(PLAN))
    assert group["recommended"]["too_early_share"] <= 0.10
