"""The metrics each function emits as CloudWatch EMF lines on stdout, captured from the real handlers."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import AIRequest, OutboundMessage
from debouncer.local.runtime import PROJECT_ROOT, LocalRuntime
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
    _whatsapp_refuses(runtime, blocked)
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

    # THEN stdout carries the counts, in the configured namespace, per channel for the webhook's
    totals, lines = emf_counts(capsys.readouterr().out)
    assert {name: total for name, total in totals.items() if name not in ("AILatency", "ReplyLateness")} == {
        "MessagesAccepted": 3,
        "DuplicatesAbsorbed": 1,
        "BurstsClaimed": 3,
        "AIFailures": 1,
        "RepliesDelivered": 1,
        "ReplyFailures": 1,
        "BurstSize": 2,  # the answered bursts' (the AI's failure leaves no result to take it from)
        "DeadLettered": 2,
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


def _whatsapp_refuses(runtime: LocalRuntime, recipient: str) -> None:
    """The local WhatsApp sender refuses this recipient for good (131026), as the Cloud API does an undeliverable."""
    sender = runtime.handlers["reply"].repliers.default._senders["whatsapp"]
    send = sender.send

    def refusing_send(message: OutboundMessage) -> None:
        if message.recipient_id == recipient:
            raise PermanentError("whatsapp: 131026 undeliverable")
        send(message)

    sender.send = refusing_send


def emf_units(lines: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each metric's units over the EMF lines."""
    units: dict[str, set[str]] = {}
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                units.setdefault(metric["Name"], set()).add(metric["Unit"])
    return units


def test_flushes_burst_sizes_latencies_supersedes_and_dead_letters_are_measured(
    start_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the pipeline with metrics on, a 3 s debounce within a 12 s max wait (room to supersede: the follow-up
    # written while the AI thinks is due well within the first message's cap), small early-flush
    # limits, an AI that fails for one user and posts the person's next message for another while it thinks, and a
    # channel that refuses a third
    runtime = start_runtime(
        POWERTOOLS_METRICS_DISABLED="false",
        DEBOUNCE_SECONDS="3",
        MAX_WAIT_SECONDS="12",
        MAX_MESSAGES="12",
        MAX_BUFFER_BYTES="4096",
        FLUSH_KEYWORDS="send",
    )
    keyword, counted, large, capped, video, moved, ai_down, blocked = ("1555" + uuid.uuid4().hex[:8] for _ in range(8))
    processor = runtime.handlers["process_message"].processors.default
    answer = processor._ai.answer
    thinking, written = threading.Event(), threading.Event()

    def ai(request: AIRequest) -> str:
        user = request.messages[0].sender_id
        if user == ai_down:
            raise PermanentError("model refused")
        if user == moved and len(request.messages) == 1:
            # The person writes again while the AI thinks: this answer is superseded before it leaves.
            thinking.set()
            written.wait(10)
        text: str = answer(request)
        return text

    processor._ai.answer = ai
    _whatsapp_refuses(runtime, blocked)
    capsys.readouterr()

    # WHEN each user writes: a flush keyword, max_messages in one POST, a message over max_buffer_bytes, a video, a
    # message the AI cannot answer, one the channel refuses, one the AI's wait supersedes; and one who writes every
    # second past the max wait
    def wa(user: str, n: int, text: str = "hi") -> dict[str, Any]:
        return builders.wa_message(user, f"wamid.{user}.{n}", text)

    video_message = {**wa(video, 1), "type": "video", "video": {"id": "4490709327384033", "mime_type": "video/mp4"}}
    del video_message["text"]
    for payload in [
        builders.whatsapp(keyword, wa(keyword, 1), wa(keyword, 2, "send")),
        builders.whatsapp(counted, *(wa(counted, n) for n in range(12))),
        builders.whatsapp(large, wa(large, 1, "x" * 4200)),
        builders.whatsapp(video, video_message),
        builders.whatsapp(ai_down, wa(ai_down, 1)),
        builders.whatsapp(blocked, wa(blocked, 1)),
        builders.whatsapp(moved, wa(moved, 1)),
    ]:
        assert post(runtime, "whatsapp", payload)[0] == 200

    def write_while_thinking() -> None:
        if thinking.wait(20):
            assert post(runtime, "whatsapp", builders.whatsapp(moved, wa(moved, 2, "also")))[0] == 200
            written.set()

    writer = threading.Thread(target=write_while_thinking)
    writer.start()
    # The quiet deadline keeps moving until the cap claims it: a message every 1.5 s on the clock, not 1.5 s after the
    # last answer, so a stalled machine's slow answers do not open a 3 s gap; fewer than max_messages in 12 s.
    began = time.monotonic()
    for n in range(12):
        time.sleep(max(0.0, began + 1.5 * n - time.monotonic()))
        if replies_to(runtime, capped):
            break
        assert post(runtime, "whatsapp", builders.whatsapp(capped, wa(capped, n)))[0] == 200
    writer.join()
    assert written.is_set()
    for user in (keyword, counted, large, video, capped, moved):
        wait_for(lambda user=user: replies_to(runtime, user), timeout=30)  # type: ignore[misc]
    letters: list[dict[str, Any]] = []

    def two_dead_letters() -> bool:
        letters.extend(runtime.dead_letters())
        return len(letters) == 2

    wait_for(two_dead_letters, timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)

    # THEN each new metric is emitted with its unit, by the function the contract names
    totals, lines = emf_counts(capsys.readouterr().out)
    units = emf_units(lines)
    for name, unit in {
        "FlushesKeyword": "Count",
        "FlushesMaxMessages": "Count",
        "FlushesMaxBytes": "Count",
        "BurstSize": "Count",
        "MediaItems": "Count",
        "AILatency": "Milliseconds",
        "FlushesMaxWait": "Count",
        "DeadLettered": "Count",
        "ReplyLateness": "Seconds",
        "Supersedes": "Count",
    }.items():
        assert units.get(name) == {unit}, (name, units.get(name))
    # AND every metric seen has the unit and dimensions of the contract the dashboard is built from
    contract = json.loads((PROJECT_ROOT / "schemas" / "metrics.json").read_text())["functions"]
    for function in contract.values():
        for line in lines:
            for directive in line["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    if metric["Name"] in function["metrics"] and metric["Name"] != "DeadLettered":
                        assert metric["Unit"] == function["metrics"][metric["Name"]]["unit"], metric
                        assert sorted(directive["Dimensions"][0]) == sorted(function["dimensions"]), metric
    assert totals["FlushesKeyword"] == 1 and totals["FlushesMaxMessages"] == 1 and totals["FlushesMaxBytes"] == 1
    assert totals["MediaItems"] == 1 and totals["FlushesMaxWait"] == 1 and totals["Supersedes"] == 1
    assert totals["DeadLettered"] == 2  # the AI's failure (process_message) and the channel's refusal (reply)
    sizes = sorted(v for line in lines if "BurstSize" in line for v in _values(line["BurstSize"]))
    assert {12, 2} <= set(sizes)  # max_messages, and the superseded message with the one after it
    latencies = [v for line in lines if "ReplyLateness" in line for v in _values(line["ReplyLateness"])]
    assert latencies and all(v >= 0 for v in latencies)
    for name in ("AILatency", "ReplyLateness"):
        dimensions = [d["Dimensions"] for line in lines if name in line for d in line["_aws"]["CloudWatchMetrics"]]
        assert dimensions and all(d == [["service"]] for d in dimensions), (name, dimensions)


def _values(value: float | list[float]) -> list[float]:
    return value if isinstance(value, list) else [value]
