"""The state machine executed in moto with the real handlers: bursts, flushes, duplicates and faults."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import boto3
import pytest

from debouncer.adapters.ai_echo import EchoAI
from debouncer.domain.ports import AIRequest
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for

# Every case, on a Standard and on an Express state machine.
pytestmark = pytest.mark.workflow_types()


def _user() -> str:
    return "1555" + uuid.uuid4().hex[:8]


def _send_text(runtime: Any, user: str, mid: str, text: str) -> int:
    status, _ = post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, mid, text)))
    return status


def test_burst_is_answered_once_with_every_message_in_order(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    user = _user()
    for i in range(4):
        assert _send_text(runtime, user, f"wamid.{user}.{i}", f"part {i}") == 200

    replies = wait_for(lambda: replies_to(runtime, user))
    wait_for(lambda: executions_settled(runtime))

    assert len(replies_to(runtime, user)) == 1
    assert replies[0]["message_ids"] == [f"wamid.{user}.{i}" for i in range(4)]
    assert [line for line in replies[0]["text"].splitlines()[1:]] == [f"part {i}" for i in range(4)]


def test_crash_after_claim_is_retried_without_losing_or_duplicating(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    processor = runtime.handlers["process_message"].processors.default
    crashes: list[int] = []

    class CrashOnceAI(EchoAI):
        def answer(self, request: AIRequest) -> str:
            if not crashes:
                crashes.append(1)
                raise RuntimeError("simulated crash after the claim")
            return super().answer(request)

    processor._ai = CrashOnceAI()
    user = _user()
    for i in range(3):
        _send_text(runtime, user, f"wamid.{user}.{i}", f"m{i}")

    wait_for(lambda: replies_to(runtime, user))
    wait_for(lambda: executions_settled(runtime))

    assert crashes == [1]
    replies = replies_to(runtime, user)
    assert len(replies) == 1
    assert replies[0]["message_ids"] == [f"wamid.{user}.{i}" for i in range(3)]
    assert runtime.dead_letters() == []


def test_start_execution_failure_is_healed_by_the_channels_redelivery(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    throttled: list[str] = []
    outage = [True]

    def throttle_start(caller: str, action: str) -> tuple[int, dict[str, str], str] | None:
        if action == "states:StartExecution" and outage[0]:
            throttled.append(action)
            return 400, {}, '{"__type": "ThrottlingException", "message": "Rate exceeded"}'
        return None

    runtime.emulator.faults.append(throttle_start)
    user = _user()
    payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}", "hello"))

    status, body = post(runtime, "whatsapp", payload)  # buffered, but the timer could not start
    assert status == 503, body  # our failure, retryable: the channel redelivers
    outage[0] = False
    status, body = post(runtime, "whatsapp", payload)  # the redelivery
    assert (status, body) == (200, {"accepted": 0, "duplicates": 1})

    wait_for(lambda: replies_to(runtime, user))
    wait_for(lambda: executions_settled(runtime))
    assert throttled
    assert [r["message_ids"] for r in replies_to(runtime, user)] == [[f"wamid.{user}"]]


def test_concurrent_posts_to_one_conversation_each_message_in_exactly_one_reply(
    start_runtime: RuntimeFactory,
) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="2", MAX_MESSAGES="30")
    user = _user()
    ids = [f"wamid.{user}.{i:03d}" for i in range(96)]

    def sender(chunk: list[str]) -> None:
        for mid in chunk:
            assert _send_text(runtime, user, mid, mid) == 200

    threads = [threading.Thread(target=sender, args=(ids[i::16],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def all_answered() -> bool:
        return sum(len(r["message_ids"]) for r in replies_to(runtime, user)) >= len(ids)

    wait_for(all_answered, timeout=60)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    answered = [mid for reply in replies_to(runtime, user) for mid in reply["message_ids"]]
    assert sorted(answered) == sorted(ids)  # nothing lost, nothing answered twice


def test_max_messages_flushes_without_waiting_for_quiet(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="30", MAX_WAIT_SECONDS="60", MAX_MESSAGES="3")
    user = _user()
    for i in range(3):
        _send_text(runtime, user, f"wamid.{user}.{i}", f"m{i}")

    replies = wait_for(lambda: replies_to(runtime, user), timeout=15)
    assert replies[0]["message_ids"] == [f"wamid.{user}.{i}" for i in range(3)]
    # The next message opens a new burst; the first burst's waiting execution ends without answering.
    _send_text(runtime, user, f"wamid.{user}.3", "after the flush")
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    with runtime.emulator.running_as("operator"):
        names = [e["name"] for e in sfn.list_executions(stateMachineArn=runtime.state_machine_arn)["executions"]]
    # Names are <conversation hash>-<burst>[-flush]; burst numbers start from the clock and only grow.
    first, second = sorted({int(name.removesuffix("-flush").rsplit("-", 1)[1]) for name in names})
    assert any(name.endswith(f"-{first}-flush") for name in names)
    assert any(name.endswith(f"-{second}") for name in names)


def test_flush_keyword_answers_at_once(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="30", MAX_WAIT_SECONDS="60", FLUSH_KEYWORDS="send,done")
    user = _user()
    _send_text(runtime, user, f"wamid.{user}.0", "book friday")
    _send_text(runtime, user, f"wamid.{user}.1", "Send")

    replies = wait_for(lambda: replies_to(runtime, user), timeout=15)
    assert replies[0]["message_ids"] == [f"wamid.{user}.0", f"wamid.{user}.1"]


def test_redelivery_after_the_burst_was_answered_gets_no_second_reply(start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime()
    user = _user()
    payload = builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}", "once"))
    post(runtime, "whatsapp", payload)
    wait_for(lambda: replies_to(runtime, user))
    wait_for(lambda: executions_settled(runtime))

    status, _ = post(runtime, "whatsapp", payload)  # WhatsApp redelivers for days
    assert status == 200
    wait_for(lambda: executions_settled(runtime))
    assert len(replies_to(runtime, user)) == 1
