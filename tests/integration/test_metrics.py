"""The metrics each function emits as CloudWatch EMF lines on stdout, captured from the real handlers."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest

from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import AIRequest, OutboundMessage
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for


def emf_counts(stdout: str) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Each metric's total over the EMF lines in `stdout`, and the lines themselves."""
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]
    totals: Counter[str] = Counter()
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                totals[metric["Name"]] += int(sum(line[metric["Name"]]))
    return totals, lines


def test_each_function_emits_its_counts(start_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the local pipeline with metrics on, an AI that fails for one user and a channel that refuses another
    runtime = start_runtime(POWERTOOLS_METRICS_DISABLED="false", POWERTOOLS_METRICS_NAMESPACE="test-namespace")
    ok, ai_down, blocked = ("1555" + uuid.uuid4().hex[:8] for _ in range(3))
    processor = runtime.handlers["process_message"].processors.default
    answer = processor._ai.answer

    def flaky_answer(request: AIRequest) -> str:
        if request.messages[0].sender_id == ai_down:
            raise PermanentError("model refused")
        text: str = answer(request)
        return text

    processor._ai.answer = flaky_answer
    sender = runtime.handlers["reply"].repliers.default._senders["whatsapp"]
    send = sender.send

    def refusing_send(message: OutboundMessage) -> None:
        if message.recipient_id == blocked:
            raise PermanentError("whatsapp: 131026 undeliverable")
        send(message)

    sender.send = refusing_send
    capsys.readouterr()

    # WHEN each user writes, the first twice (a redelivery), then everything settles
    first = builders.whatsapp(ok, builders.wa_message(ok, f"wamid.{ok}", "hello"))
    for user, payload in [
        (ok, first),
        (ok, first),
        (ai_down, builders.whatsapp(ai_down, builders.wa_message(ai_down, f"wamid.{ai_down}", "hi"))),
        (blocked, builders.whatsapp(blocked, builders.wa_message(blocked, f"wamid.{blocked}", "hey"))),
    ]:
        assert post(runtime, "whatsapp", payload)[0] == 200, user
    wait_for(lambda: replies_to(runtime, ok))
    letters: list[dict[str, Any]] = []  # dead_letters() leaves what it received in flight: gather across polls

    def two_dead_letters() -> bool:
        letters.extend(runtime.dead_letters())
        return len(letters) == 2

    wait_for(two_dead_letters)
    wait_for(lambda: executions_settled(runtime))

    # THEN stdout carries the six counts, in the configured namespace, per channel for the webhook's
    totals, lines = emf_counts(capsys.readouterr().out)
    assert totals == {
        "MessagesAccepted": 3,
        "DuplicatesAbsorbed": 1,
        "BurstsClaimed": 3,
        "AIFailures": 1,
        "RepliesDelivered": 1,
        "ReplyFailures": 1,
    }
    assert {d["Namespace"] for line in lines for d in line["_aws"]["CloudWatchMetrics"]} == {"test-namespace"}
    assert all(line["channel"] == "whatsapp" for line in lines if "MessagesAccepted" in line)
    for user in (ok, ai_down, blocked):
        assert all(user not in json.dumps(line) for line in lines)


def test_metrics_can_be_turned_off(start_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]) -> None:
    runtime = start_runtime(POWERTOOLS_METRICS_DISABLED="true")
    user = "1555" + uuid.uuid4().hex[:8]
    capsys.readouterr()
    payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}", "hi"))
    assert post(runtime, "whatsapp", payload)[0] == 200
    wait_for(lambda: replies_to(runtime, user))
    wait_for(lambda: executions_settled(runtime))
    assert emf_counts(capsys.readouterr().out) == (Counter(), [])
