"""`debouncer redrive` inside the local runtime: a dead-lettered burst is answered once after the failure is fixed,
whatever the redrive meets (a second run, a crash between its steps, a stale record, a dry run), on both workflow
types (Express: with every execution run twice)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from debouncer.adapters.dynamodb import turn_sk
from debouncer.cli import main
from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import AIRequest, OutboundMessage, TextLimit
from debouncer.domain.splitting import split_text
from debouncer.local.runtime import REGION, LocalRuntime
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for

ANSWER = "Here is your answer, at last."
FALLBACK = "Sorry, I cannot answer right now."


class RecoveringAI:
    """An AI that refuses every request for good (a rejected key, say) until `recover()`, then answers."""

    uses_history = False

    def __init__(self) -> None:
        self.down = True
        self.asked = 0

    def answer(self, request: AIRequest) -> str:
        self.asked += 1
        if self.down:
            raise PermanentError("401 from the AI: invalid key")
        return ANSWER

    def recover(self) -> None:
        self.down = False


def _start(start_runtime: RuntimeFactory, workflow_type: str, **environment: str) -> tuple[LocalRuntime, RecoveringAI]:
    # On Express every execution runs twice, the redrive's too: its turn's lease still lets one reply leave.
    duplicates = "1" if workflow_type == "EXPRESS" else "0"
    runtime = start_runtime(EXPRESS_DUPLICATE_RATE=duplicates, **environment)
    ai = RecoveringAI()
    runtime.handlers["process_message"].processors.default._ai = ai
    return runtime, ai


def _say(runtime: LocalRuntime, count: int = 2) -> tuple[str, list[str]]:
    """A user's burst of `count` messages: the user and the message ids."""
    user = "1555" + uuid.uuid4().hex[:8]
    ids = [f"wamid.{user}.{i}" for i in range(count)]
    for i, mid in enumerate(ids):
        status, body = post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, mid, f"part {i}")))
        assert status == 200, body
    return user, ids


def _dead_lettered(runtime: LocalRuntime) -> dict[str, Any]:
    """The one DLQ record, once the executions have ended (the record stays on the queue)."""
    wait_for(runtime.peek_dead_letters, timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    [record] = runtime.peek_dead_letters()
    return record


def _turn(runtime: LocalRuntime, record: dict[str, Any]) -> dict[str, Any]:
    with runtime.emulator.running_as("operator"):
        response = boto3.client("dynamodb", region_name=REGION).get_item(
            TableName=runtime.table_name,
            Key={"pk": {"S": record["conversation_key"]}, "sk": {"S": turn_sk(int(record["burst"]))}},
            ConsistentRead=True,
        )
    item: dict[str, Any] = response["Item"]
    return item


def _answered_once(runtime: LocalRuntime, user: str, ids: list[str], text: str = ANSWER) -> None:
    wait_for(lambda: replies_to(runtime, user), timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    assert [(r["text"], r["message_ids"]) for r in replies_to(runtime, user)] == [(text, ids)]


def _fail_while(runtime: LocalRuntime, action: str, failing: list[bool]) -> None:
    """The operator's calls of `action` are throttled while failing[0]: a redrive stopped at that step."""

    def fault(caller: str, called: str) -> tuple[int, dict[str, str], str] | None:
        if caller == "operator" and called == action and failing[0]:
            return 400, {}, '{"__type": "ThrottlingException", "message": "Rate exceeded"}'
        return None

    runtime.emulator.faults.append(fault)


@pytest.mark.workflow_types()
def test_a_burst_the_ai_refused_is_answered_once_by_a_redrive_after_the_ai_recovers(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    # GIVEN a burst dead-lettered because the AI refused it for good (no fallback): nothing was sent
    runtime, ai = _start(start_runtime, workflow_type)
    user, ids = _say(runtime)
    record = _dead_lettered(runtime)
    assert record["error"] == "PermanentError" and replies_to(runtime, user) == []
    assert "failed_at" in _turn(runtime, record)
    ai.recover()

    # WHEN a dry run looks first: it reports the redrive and changes nothing
    executions = len(runtime.executions())
    [planned] = runtime.redrive(dry_run=True)
    assert (planned["action"], planned["deleted"]) == ("redriven", False)
    assert runtime.peek_dead_letters() == [record]
    assert len(runtime.executions()) == executions and "failed_at" in _turn(runtime, record)

    # AND the redrive runs
    [outcome] = runtime.redrive()

    # THEN the burst is answered once, by an execution of its own, and its record is gone
    assert (outcome["action"], outcome["deleted"], outcome["burst"]) == ("redriven", True, int(record["burst"]))
    assert record["conversation_key"] not in json.dumps(outcome), "the outcome names the conversation by pseudonym"
    _answered_once(runtime, user, ids)
    assert runtime.peek_dead_letters() == []
    assert any(e["name"].endswith("-redrive-1") for e in runtime.executions())
    assert all(e["status"] == "SUCCEEDED" for e in runtime.executions() if "-redrive-" in e["name"])
    turn = _turn(runtime, record)
    assert "delivered_at" in turn and turn["redrives"]["N"] == "1"
    # Claimed by the redrive's execution: on Express by one run of it, whose id the redrive could not know
    stem, claimer = turn["redrive_for"]["S"], turn["claimed_by"]["S"]
    assert claimer.startswith(stem + ":") if workflow_type == "EXPRESS" else claimer == stem

    # AND a second redrive finds nothing to do
    assert runtime.redrive() == []
    wait_for(lambda: executions_settled(runtime), timeout=30)
    assert len(replies_to(runtime, user)) == 1


def test_a_stale_record_of_a_delivered_turn_is_deleted_without_a_reply(start_runtime: RuntimeFactory) -> None:
    # GIVEN a burst answered normally, and a record of it on the DLQ all the same (a stale one)
    runtime, ai = _start(start_runtime, "STANDARD")
    ai.recover()
    user, ids = _say(runtime)
    _answered_once(runtime, user, ids)
    [execution] = runtime.executions()
    stale = {
        "conversation_key": execution["input"]["conversation_key"],
        "burst": execution["input"]["burst"],
        "error": "States.Timeout",
        "cause": "stale",
        "execution": execution["arn"],
    }
    with runtime.emulator.running_as("operator"):
        boto3.client("sqs", region_name=REGION).send_message(QueueUrl=runtime.queue_url, MessageBody=json.dumps(stale))

    # WHEN the redrive runs
    [outcome] = runtime.redrive()

    # THEN the record is deleted as answered, and nothing else is sent or started
    assert (outcome["action"], outcome["deleted"]) == ("answered", True)
    assert runtime.peek_dead_letters() == [] and len(runtime.executions()) == 1
    assert len(replies_to(runtime, user)) == 1 and ai.asked == 1


def test_a_delivered_fallback_counts_as_the_answer(start_runtime: RuntimeFactory) -> None:
    # GIVEN a burst the AI refused, answered with the fallback message and dead-lettered with the AI's error
    runtime, ai = _start(start_runtime, "STANDARD", AI_FALLBACK_MESSAGE=FALLBACK)
    user, ids = _say(runtime)
    record = _dead_lettered(runtime)
    ai.recover()

    # WHEN the redrive runs
    [outcome] = runtime.redrive()

    # THEN the fallback stays the burst's one reply: the record is deleted and the AI is not asked again
    assert (outcome["action"], outcome["deleted"]) == ("fallback_answered", True)
    assert runtime.peek_dead_letters() == [] and ai.asked == 1
    assert [(r["text"], r["message_ids"]) for r in replies_to(runtime, user)] == [(FALLBACK, ids)]
    assert "delivered_at" in _turn(runtime, record)


@pytest.mark.workflow_types()
def test_a_redrive_stopped_before_it_started_its_execution_is_finished_by_the_next(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime, ai = _start(start_runtime, workflow_type)
    user, ids = _say(runtime)
    record = _dead_lettered(runtime)
    ai.recover()
    outage = [True]
    _fail_while(runtime, "states:StartExecution", outage)

    # WHEN a redrive reopens the turn, then cannot start its execution
    [first] = runtime.redrive()

    # THEN the record stays on the queue, and the turn waits for that execution
    assert (first["action"], first["deleted"]) == ("kept", False)
    assert runtime.peek_dead_letters() == [record]
    turn = _turn(runtime, record)
    assert "failed_at" not in turn and turn["redrives"]["N"] == "1"

    # AND the next redrive starts it: one reply, the record gone
    outage[0] = False
    [second] = runtime.redrive()
    assert (second["action"], second["deleted"]) == ("resumed", True)
    _answered_once(runtime, user, ids)
    assert runtime.peek_dead_letters() == []


@pytest.mark.workflow_types("EXPRESS")  # on Standard, starting the execution again is a no-op by its name
def test_a_redrive_stopped_before_it_deleted_the_record_is_finished_by_the_next(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime, ai = _start(start_runtime, workflow_type)
    user, ids = _say(runtime)
    _dead_lettered(runtime)
    ai.recover()
    outage = [True]
    _fail_while(runtime, "sqs:DeleteMessage", outage)

    # WHEN a redrive starts the execution, then cannot delete the record
    [first] = runtime.redrive()
    assert (first["action"], first["deleted"]) == ("redriven", False)
    outage[0] = False

    # THEN the next redrive (on Express: another execution of that name, which finds the turn taken) deletes it, and
    # the burst is still answered once
    [second] = runtime.redrive()
    assert second["action"] in ("resumed", "answered") and second["deleted"]
    _answered_once(runtime, user, ids)
    assert runtime.peek_dead_letters() == []


@pytest.mark.workflow_types("EXPRESS")  # where the execution's id depends on the workflow type the CLI reads
def test_the_cli_redrives_a_deployment_named_by_its_terraform_outputs(
    start_runtime: RuntimeFactory, workflow_type: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a dead-lettered burst, and the stack's resources as `terraform output -json` names them (no workflow
    # type: the command reads it from the state machine, and so knows what its execution's id looks like)
    runtime, ai = _start(start_runtime, workflow_type)
    user, ids = _say(runtime)
    _dead_lettered(runtime)
    ai.recover()
    outputs = {
        "dead_letter_queue_url": {"value": runtime.queue_url, "type": "string", "sensitive": False},
        "table_name": {"value": runtime.table_name, "type": "string", "sensitive": False},
        "state_machine_arn": {"value": runtime.state_machine_arn, "type": "string", "sensitive": False},
    }
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))

    # WHEN `debouncer redrive --terraform-outputs FILE` runs (its AWS calls are the emulator's, as the operator's)
    with runtime.emulator.running_as("operator"):
        status = main(["redrive", "--terraform-outputs", str(tmp_path / "outputs.json")])

    # THEN it exits 0, having redriven the burst: one reply, an empty queue
    printed = capsys.readouterr()
    assert status == 0, printed
    # (The handlers run in this process: their metrics lines are in stdout too.)
    lines = [line for line in printed.out.splitlines() if not line.startswith("{")]
    assert lines[0].startswith("redriven ") and lines[1] == "1 record(s): 1 redriven", lines
    _answered_once(runtime, user, ids)
    assert runtime.peek_dead_letters() == []


class RefusingSecondPart:
    """The local outbox sender, with a short text limit, refusing the second part for good while `refusing`."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.text_limit = TextLimit(20)
        self.refusing = True

    def send(self, message: OutboundMessage) -> str | None:
        if self.refusing and message.text != split_text(ANSWER, self.text_limit)[0]:
            raise PermanentError("131047: re-engagement window closed")
        sent: str | None = self._inner.send(message)
        return sent

    def show_typing(self, message: OutboundMessage) -> None:
        self._inner.show_typing(message)


def test_an_answer_the_channel_refused_midway_is_finished_not_asked_again(start_runtime: RuntimeFactory) -> None:
    # GIVEN an answer in two parts: the first sent, the second refused for good, so the burst was dead-lettered
    runtime, ai = _start(start_runtime, "STANDARD")
    ai.recover()
    senders = runtime.handlers["reply"].repliers.default._senders
    senders["whatsapp"] = channel = RefusingSecondPart(senders["whatsapp"])
    user, ids = _say(runtime)
    record = _dead_lettered(runtime)
    first, second = split_text(ANSWER, channel.text_limit)
    assert [r["text"] for r in replies_to(runtime, user)] == [first]
    assert _turn(runtime, record)["parts_sent"]["N"] == "1"

    # WHEN the channel takes messages again and the redrive runs
    channel.refusing = False
    [outcome] = runtime.redrive()

    # THEN only the missing part leaves, from the answer recorded: the AI is not asked again
    assert (outcome["action"], outcome["deleted"]) == ("redriven", True)
    wait_for(lambda: len(replies_to(runtime, user)) == 2, timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    assert [(r["text"], r["message_ids"]) for r in replies_to(runtime, user)] == [(first, ids), (second, ids)]
    assert ai.asked == 1 and runtime.peek_dead_letters() == []
