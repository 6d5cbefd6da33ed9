"""Express as a first-class mode: one definition, both workflow types, and duplicates tested rather than assumed away.

Express runs an execution at least once and does not deduplicate StartExecution by name; the local runtime emulates
both (debouncer.local.emulator). Every duplicate case here ends the same way: exactly one reply holding every message
of the burst, the turn recorded as delivered, and nothing on the dead-letter queue.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from debouncer.adapters.dynamodb import turn_sk
from debouncer.adapters.stepfunctions import StepFunctionsTimer
from debouncer.domain.errors import PermanentError, ReplyLeaseHeldError, RetryableError
from debouncer.domain.ports import OutboundMessage, TextLimit
from debouncer.domain.splitting import split_text
from debouncer.local.runtime import REGION, LocalRuntime
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for


def _user() -> str:
    return "1555" + uuid.uuid4().hex[:8]


def _burst(runtime: LocalRuntime, user: str, count: int, text: str = "message {i} of the burst") -> list[str]:
    """Post `count` messages of one user; their ids, in order."""
    ids = [f"wamid.{user}.{i}" for i in range(count)]
    for i, mid in enumerate(ids):
        status, body = post(
            runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, mid, text.format(i=i)))
        )
        assert status == 200, body
    return ids


def _key(runtime: LocalRuntime, user: str) -> str:
    """The conversation key of a user, as its executions carry it."""
    keys = {e["input"]["conversation_key"] for e in runtime.executions()}
    [key] = [k for k in keys if k.endswith(f"#{user}")]
    return key


def _first_burst(runtime: LocalRuntime, key: str) -> int:
    """The conversation's first burst number, as its executions carry it (the clock's, at the first message)."""
    return min(int(e["input"]["burst"]) for e in runtime.executions() if e["input"]["conversation_key"] == key)


def _turn(runtime: LocalRuntime, key: str, burst: int | None = None) -> dict[str, Any]:
    burst = _first_burst(runtime, key) if burst is None else burst
    with runtime.emulator.running_as("operator"):
        response = boto3.client("dynamodb", region_name=REGION).get_item(
            TableName=runtime.table_name, Key={"pk": {"S": key}, "sk": {"S": turn_sk(burst)}}, ConsistentRead=True
        )
    item: dict[str, Any] = response.get("Item", {})
    return item


def _answered_once(runtime: LocalRuntime, user: str, ids: list[str]) -> dict[str, Any]:
    """What every case must end with: one reply with every message, a delivered turn, an empty DLQ."""
    wait_for(lambda: replies_to(runtime, user))
    wait_for(lambda: executions_settled(runtime), timeout=30)
    replies = replies_to(runtime, user)
    assert len(replies) == 1, replies
    assert replies[0]["message_ids"] == ids
    turn = _turn(runtime, _key(runtime, user))
    assert [json.loads(m["S"])["message_id"] for m in turn["messages"]["L"]] == ids
    assert "delivered_at" in turn and "reply_lease" not in turn
    assert runtime.dead_letters() == []
    return turn


def _record_replies(
    runtime: LocalRuntime, on_error: Callable[[Exception], object] = lambda _: None
) -> list[tuple[dict[str, Any], dict[str, Any] | Exception]]:
    """Wrap the reply function: every (event, result or the exception it raised) of its invocations, in order."""
    calls: list[tuple[dict[str, Any], dict[str, Any] | Exception]] = []
    original = runtime.emulator.functions["reply"]

    def reply(event: dict[str, Any], context: Any) -> Any:
        try:
            result = original(event, context)
        except Exception as error:
            calls.append((event, error))
            on_error(error)
            raise
        calls.append((event, result))
        return result

    runtime.emulator.functions["reply"] = reply
    return calls


def _meet_in_process(runtime: LocalRuntime) -> None:
    """Two runs of an execution meet in process_message: neither claims before the other has read the buffer."""
    both_processing = threading.Barrier(2, timeout=15)
    process = runtime.emulator.functions["process_message"]

    def process_together(event: dict[str, Any], context: Any) -> Any:
        both_processing.wait()
        return process(event, context)

    runtime.emulator.functions["process_message"] = process_together


class WrappedSender:
    """The local outbox sender, with a text limit of our choosing and a hook before each part."""

    def __init__(self, inner: Any, limit: TextLimit, before: Callable[[int], None]) -> None:
        self._inner = inner
        self.text_limit = limit
        self._before = before
        self.attempts = 0

    def send(self, message: OutboundMessage) -> str | None:
        self.attempts += 1
        self._before(self.attempts)
        return self._inner.send(message)  # type: ignore[no-any-return]

    def show_typing(self, message: OutboundMessage) -> None:
        self._inner.show_typing(message)


def _wrap_sender(runtime: LocalRuntime, before: Callable[[int], None], limit: int = 4096) -> WrappedSender:
    senders = runtime.handlers["reply"].repliers.default._senders
    wrapped = WrappedSender(senders["whatsapp"], TextLimit(limit), before)
    senders["whatsapp"] = wrapped
    return wrapped


# --- both modes ------------------------------------------------------------------------------------------------------


@pytest.mark.workflow_types()
def test_a_burst_is_answered_once_in_either_mode(start_runtime: RuntimeFactory, workflow_type: str) -> None:
    runtime = start_runtime()
    user = _user()
    ids = _burst(runtime, user, 4)

    _answered_once(runtime, user, ids)
    with runtime.emulator.running_as("operator"):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        assert sfn.describe_state_machine(stateMachineArn=runtime.state_machine_arn)["type"] == workflow_type
    [execution] = runtime.executions()
    assert execution["status"] == "SUCCEEDED"
    assert (":express:" in execution["arn"]) == (workflow_type == "EXPRESS")


@pytest.mark.workflow_types()
def test_an_execution_started_twice_for_one_burst_answers_once(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="2")
    user = _user()
    ids = _burst(runtime, user, 2)
    key = _key(runtime, user)

    # WHEN the burst's timer starts again while it waits (a retried StartExecution, a redelivered first message)
    with runtime.emulator.running_as("post_message"):
        timer = StepFunctionsTimer(boto3.client("stepfunctions", region_name=REGION), runtime.state_machine_arn)
        timer.start(key, _first_burst(runtime, key), wake_at="2026-01-01T00:00:00Z")  # due at once: reads the buffer

    # THEN Standard deduplicated the start by name; Express ran a second execution, which found the burst claimed
    turn = _answered_once(runtime, user, ids)
    executions = runtime.executions()
    assert len(executions) == (1 if workflow_type == "STANDARD" else 2)
    assert len({e["arn"] for e in executions}) == len(executions)
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    assert turn["claimed_by"]["S"] in {e["arn"] for e in executions}


@pytest.mark.workflow_types()
def test_a_new_execution_for_an_answered_burst_sends_nothing(start_runtime: RuntimeFactory, workflow_type: str) -> None:
    runtime = start_runtime()
    user = _user()
    ids = _burst(runtime, user, 2)
    _answered_once(runtime, user, ids)

    # WHEN the answered burst's timer is started once more
    with runtime.emulator.running_as("post_message"):
        timer = StepFunctionsTimer(boto3.client("stepfunctions", region_name=REGION), runtime.state_machine_arn)
        key = _key(runtime, user)
        timer.start(key, _first_burst(runtime, key), wake_at="2026-01-01T00:00:00Z")

    # THEN Standard refused the reused name (ExecutionAlreadyExists: success); Express's new execution ended quietly
    time.sleep(0.5)
    _answered_once(runtime, user, ids)
    executions = runtime.executions()
    assert len(executions) == (1 if workflow_type == "STANDARD" else 2)
    assert {e["status"] for e in executions} == {"SUCCEEDED"}


@pytest.mark.workflow_types()
def test_a_redelivered_later_message_starts_no_execution(start_runtime: RuntimeFactory, workflow_type: str) -> None:
    runtime = start_runtime()
    user = _user()
    ids = _burst(runtime, user, 3)

    # WHEN the channel redelivers the second message while the burst is open (it never opened the burst, so its
    # first delivery cannot have failed before a timer started: only the opener's redelivery restarts the timer)
    calls = dict(runtime.emulator.calls)
    status, body = post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, ids[1], "again")))

    # THEN it is a duplicate, no StartExecution was made (Express would have started a second execution), one reply
    assert (status, body) == (200, {"accepted": 0, "duplicates": 1})
    starts = sum(n for (_, action), n in runtime.emulator.calls.items() if action == "states:StartExecution")
    assert starts == sum(n for (_, action), n in calls.items() if action == "states:StartExecution") == 1
    _answered_once(runtime, user, ids)
    assert len(runtime.executions()) == 1


@pytest.mark.workflow_types()
@pytest.mark.parametrize(
    "failure",
    [RetryableError("429 from the channel"), RuntimeError("reply crashed")],
    ids=["retryable", "crash"],
)
def test_a_reply_that_failed_midway_resumes_within_its_execution(
    start_runtime: RuntimeFactory, workflow_type: str, failure: Exception
) -> None:
    runtime = start_runtime()
    calls = _record_replies(runtime)

    def fail_second_part_once(attempt: int) -> None:
        if attempt == 2:
            raise failure

    # GIVEN a channel that takes 60 characters a message and fails once on the second part
    _wrap_sender(runtime, fail_second_part_once, limit=60)
    user = _user()
    ids = _burst(runtime, user, 3, text="a message long enough to need a second part, number {i}")

    # THEN the retry kept its lease, skipped the part already sent and sent the rest: every part once, in order
    turn = _answered_once_in_parts(runtime, user)
    parts = split_text(turn["answer"]["S"], TextLimit(60))
    assert len(parts) >= 2
    assert [r["text"] for r in replies_to(runtime, user)] == parts
    assert {tuple(r["message_ids"]) for r in replies_to(runtime, user)} == {tuple(ids)}
    assert turn["parts_sent"]["N"] == str(len(parts))
    assert [isinstance(result, Exception) for _, result in calls] == [True, False]  # one failed attempt, one retry
    assert calls[0][0]["lease"] == calls[1][0]["lease"]  # a retry of the state keeps its lease: it resumes at once
    assert runtime.dead_letters() == []


def _answered_once_in_parts(runtime: LocalRuntime, user: str) -> dict[str, Any]:
    wait_for(lambda: "delivered_at" in _turn_of(runtime, user), timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    turn = _turn_of(runtime, user)
    assert "reply_lease" not in turn
    return turn


def _turn_of(runtime: LocalRuntime, user: str) -> dict[str, Any]:
    return _turn(runtime, _key(runtime, user)) if runtime.executions() else {}


# --- Express: at least once ------------------------------------------------------------------------------------------


@pytest.mark.workflow_types("EXPRESS")
def test_the_same_execution_run_twice_at_once_sends_one_reply(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime()
    # GIVEN two runs that meet in process_message (neither claims before the other has read the buffer) and a reply
    # that holds its lease until the other run has come for it
    _meet_in_process(runtime)
    contended = threading.Event()
    calls = _record_replies(runtime, on_error=lambda error: isinstance(error, ReplyLeaseHeldError) and contended.set())
    _wrap_sender(runtime, lambda _: contended.wait(timeout=15))
    user = _user()
    ids = _burst(runtime, user, 3)
    [execution] = wait_for(runtime.executions)

    # WHEN Express delivers the execution a second time while the first runs (same ARN, same input)
    runtime.duplicate_execution(execution["arn"])

    # THEN one run sent; the other found the lease held, waited, found the reply delivered and succeeded
    turn = _answered_once(runtime, user, ids)
    runs = runtime.executions()
    assert [r["arn"] for r in runs] == [execution["arn"]] * 2
    assert {r["status"] for r in runs} == {"SUCCEEDED"}
    assert contended.is_set()
    sent = [event["lease"] for event, result in calls if isinstance(result, dict) and result["delivered"]]
    waited = {event["lease"] for event, result in calls if isinstance(result, ReplyLeaseHeldError)}
    assert len(sent) == 1 and sent[0] not in waited
    assert turn["claimed_by"]["S"] == execution["arn"]


@pytest.mark.workflow_types("EXPRESS")
def test_a_run_arriving_after_the_reply_was_sent_sends_nothing(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime()
    user = _user()
    ids = _burst(runtime, user, 2)
    _answered_once(runtime, user, ids)
    [execution] = runtime.executions()
    key = _key(runtime, user)

    # WHEN the whole execution runs again, after it answered
    runtime.duplicate_execution(execution["arn"])
    wait_for(lambda: len(runtime.executions()) == 2 and executions_settled(runtime))
    # AND its two tasks are delivered again on their own (Express keeps no state between transitions)
    event = {"conversation_key": key, "burst": execution["input"]["burst"], "execution": execution["arn"]}
    processed = runtime.emulator.invoke("process_message", event)
    replied = runtime.emulator.invoke("reply", {**event, "claimed": processed["claimed"], "lease": "another-run"})

    # THEN the re-run found its own turn answered and delivered: nothing sent, nothing dead-lettered
    assert processed["claimed"] is True
    assert replied == {"delivered": False}
    _answered_once(runtime, user, ids)
    assert {r["status"] for r in runtime.executions()} == {"SUCCEEDED"}


class FailingAI:
    """An AI that refuses every request for good (a rejected key, say), counting the attempts."""

    uses_history = False

    def __init__(self) -> None:
        self.attempts = 0

    def answer(self, request: Any) -> str:
        self.attempts += 1
        raise PermanentError("401 from the AI: invalid key")


def _fail_for_good(runtime: LocalRuntime) -> WrappedSender:
    def refuse(_: int) -> None:
        raise PermanentError("131047: re-engagement window closed")

    return _wrap_sender(runtime, refuse)


def _dead_lettered_once(runtime: LocalRuntime, user: str, reason: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    """What a permanent failure run twice must end with: one DLQ record with its reason, no reply, a failed turn.

    `seen`: DLQ records already received (receiving takes them off the queue).
    """
    wait_for(lambda: len(runtime.executions()) == 2 and executions_settled(runtime), timeout=30)
    [record] = seen + runtime.dead_letters()
    assert reason in record["cause"]
    assert replies_to(runtime, user) == []
    turn = _turn(runtime, _key(runtime, user))
    assert "failed_at" in turn and "reply_lease" not in turn
    assert sorted(r["status"] for r in runtime.executions()) == ["FAILED", "SUCCEEDED"]
    return turn


@pytest.mark.workflow_types("EXPRESS")
@pytest.mark.parametrize("together", [False, True], ids=["after", "concurrently"])
def test_a_permanent_channel_failure_run_twice_is_sent_and_dead_lettered_once(
    start_runtime: RuntimeFactory, workflow_type: str, together: bool
) -> None:
    runtime = start_runtime()
    refusing = _fail_for_good(runtime)
    if together:
        _meet_in_process(runtime)
    user = _user()
    _burst(runtime, user, 2)
    [execution] = wait_for(runtime.executions)
    seen: list[dict[str, Any]] = []
    if not together:
        seen = wait_for(runtime.dead_letters, timeout=15)

    # WHEN Express runs the execution again, after its first run failed for good or alongside it
    started = time.monotonic()
    runtime.duplicate_execution(execution["arn"])

    # THEN the channel was tried once and the burst dead-lettered once; the other run did not wait out the lease
    _dead_lettered_once(runtime, user, "131047", seen)
    assert refusing.attempts == 1
    assert time.monotonic() - started < 30


@pytest.mark.workflow_types("EXPRESS")
@pytest.mark.parametrize("fallback", ["", "Sorry, I cannot answer right now."], ids=["no-fallback", "fallback"])
def test_a_permanent_ai_failure_run_twice_at_once_is_dead_lettered_once(
    start_runtime: RuntimeFactory, workflow_type: str, fallback: str
) -> None:
    runtime = start_runtime(AI_FALLBACK_MESSAGE=fallback)
    processor = runtime.handlers["process_message"].processors.default
    processor._ai = ai = FailingAI()
    _meet_in_process(runtime)
    user = _user()
    ids = _burst(runtime, user, 2)
    [execution] = wait_for(runtime.executions)

    # WHEN both runs of the execution ask the AI, and both are refused
    runtime.duplicate_execution(execution["arn"])

    # THEN one run dead-letters the burst (after sending the fallback, once, when there is one); the other ends quietly
    wait_for(lambda: len(runtime.executions()) == 2 and executions_settled(runtime), timeout=30)
    [record] = runtime.dead_letters()
    assert "invalid key" in record["cause"]
    assert ai.attempts in (1, 2)  # the second run asks too unless the first had already failed the turn
    assert sorted(r["status"] for r in runtime.executions()) == ["FAILED", "SUCCEEDED"]
    replies = replies_to(runtime, user)
    assert [r["text"] for r in replies] == ([fallback] if fallback else [])
    assert all(r["message_ids"] == ids for r in replies)


@pytest.mark.workflow_types("EXPRESS")
def test_a_fallback_the_channel_refuses_run_twice_at_once_is_dead_lettered_once(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime(AI_FALLBACK_MESSAGE="Sorry, I cannot answer right now.")
    runtime.handlers["process_message"].processors.default._ai = FailingAI()
    refusing = _fail_for_good(runtime)
    _meet_in_process(runtime)
    user = _user()
    _burst(runtime, user, 2)
    [execution] = wait_for(runtime.executions)

    # WHEN both runs meet an AI that fails for good and a channel that refuses the fallback
    runtime.duplicate_execution(execution["arn"])

    # THEN the fallback was tried once and the burst is on the DLQ once, with the channel's reason: neither run
    # dead-letters it again for the AI once a send failed the turn for good
    _dead_lettered_once(runtime, user, "131047", [])
    assert refusing.attempts == 1


@pytest.mark.workflow_types()
def test_a_crash_after_recording_the_fallback_still_dead_letters_the_burst_once(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    fallback = "Sorry, I cannot answer right now."
    runtime = start_runtime(AI_FALLBACK_MESSAGE=fallback)
    processor = runtime.handlers["process_message"].processors.default
    processor._ai = FailingAI()
    buffer = processor._buffer
    record_answer = buffer.record_answer
    crashes: list[str] = []

    def record_then_crash(*args: Any, **kwargs: Any) -> bool:
        recorded = record_answer(*args, **kwargs)
        if not crashes:
            crashes.append("after record_answer")
            raise RuntimeError("process_message died before returning")
        return recorded

    # GIVEN process_message dying right after it recorded the fallback (its retry finds the answer already there)
    buffer.record_answer = record_then_crash
    user = _user()
    ids = _burst(runtime, user, 2)

    # THEN the retry still says the AI failed: the fallback is sent once and the burst is on the DLQ once
    letters = wait_for(runtime.dead_letters, timeout=20)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    assert crashes
    [record] = letters + runtime.dead_letters()
    assert record["error"] == "PermanentError" and "invalid key" in record["cause"]
    replies = replies_to(runtime, user)
    assert [(r["text"], r["message_ids"]) for r in replies] == [(fallback, ids)]


@pytest.mark.workflow_types("EXPRESS")
def test_every_execution_run_twice_still_answers_each_burst_once(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime(EXPRESS_DUPLICATE_RATE="1")
    users = [_user() for _ in range(4)]
    sent: dict[str, list[str]] = {}

    def converse(user: str) -> None:
        sent[user] = _burst(runtime, user, 3)

    threads = [threading.Thread(target=converse, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    wait_for(lambda: len(runtime.executions()) == 2 * len(users), timeout=10)
    for user in users:
        _answered_once(runtime, user, sent[user])
    assert {r["status"] for r in runtime.executions()} == {"SUCCEEDED"}


@pytest.mark.workflow_types("EXPRESS")
def test_an_express_execution_past_its_time_limit_times_out(start_runtime: RuntimeFactory, workflow_type: str) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="30", MAX_WAIT_SECONDS="60")
    runtime.emulator.express_time_limit = 1.0  # Express's 5 minutes, scaled down
    user = _user()
    _burst(runtime, user, 1)

    # THEN the execution ends TIMED_OUT, with no Catch to run: why the settings refuse windows that cannot fit
    wait_for(lambda: runtime.executions()[0]["status"] == "TIMED_OUT", timeout=10)
    assert replies_to(runtime, user) == []


@pytest.mark.workflow_types("EXPRESS")
def test_our_functions_cannot_use_what_aws_lacks_for_express(start_runtime: RuntimeFactory, workflow_type: str) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="30", MAX_WAIT_SECONDS="60")
    _burst(runtime, _user(), 1)
    [execution] = wait_for(runtime.executions)
    sfn = boto3.client("stepfunctions", region_name=REGION)

    with runtime.emulator.running_as("post_message"), pytest.raises(ClientError, match="not supported by EXPRESS"):
        sfn.describe_execution(executionArn=execution["arn"])
    with runtime.emulator.running_as("reply"), pytest.raises(ClientError, match="not supported by EXPRESS"):
        sfn.list_executions(stateMachineArn=runtime.state_machine_arn)
    # The operator (tests, bench) still looks into the emulator.
    with runtime.emulator.running_as("operator"):
        assert sfn.describe_execution(executionArn=execution["arn"])["status"] == "RUNNING"


# --- the 5-minute bound ----------------------------------------------------------------------------------------------


def test_the_runtime_refuses_an_express_window_that_cannot_fit_five_minutes() -> None:
    before = dict(os.environ)
    runtime = LocalRuntime({"WORKFLOW_TYPE": "EXPRESS", "MAX_WAIT_SECONDS": "250"}, name=f"t-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ValidationError, match="EXPRESS"):
        runtime.start()
    assert dict(os.environ) == before


def test_the_runtime_refuses_an_unknown_workflow_type() -> None:
    with pytest.raises(ValueError, match="WORKFLOW_TYPE"):
        LocalRuntime({"WORKFLOW_TYPE": "FAST"}, name=f"t-{uuid.uuid4().hex[:8]}").start()
