"""The conversation keeps moving while the AI thinks: stale answers superseded, edits and deletes applied to a waiting
burst, a human's echo pausing the bot. Handlers on the emulator, the state machine executed, both workflow types.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import boto3
import pytest

from debouncer.adapters.ai_echo import EchoAI
from debouncer.domain.ports import AIRequest
from debouncer.local.runtime import REGION, LocalRuntime
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for

pytestmark = pytest.mark.workflow_types()


class GatedAI(EchoAI):
    """The echo AI, holding its first answer until released: the person writes again while the AI is thinking."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[list[str]] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def answer(self, request: AIRequest) -> str:
        with self._lock:
            self.requests.append([m.message_id for m in request.messages])
            first = len(self.requests) == 1
        if first:
            self.release.wait(20)
        return super().answer(request)


def _user() -> str:
    return "1555" + uuid.uuid4().hex[:8]


def _wa(runtime: LocalRuntime, user: str, mid: str, text: str) -> dict[str, Any]:
    status, body = post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, mid, text)))
    assert status == 200, body
    return body


def _settled(runtime: LocalRuntime, recipient: str, count: int) -> list[dict[str, Any]]:
    wait_for(lambda: len(replies_to(runtime, recipient)) >= count, timeout=30)
    wait_for(lambda: executions_settled(runtime), timeout=40)
    return replies_to(runtime, recipient)


def _turns(runtime: LocalRuntime, recipient: str) -> list[dict[str, Any]]:
    with runtime.emulator.running_as("operator"):
        items = boto3.client("dynamodb", region_name=REGION).scan(TableName=runtime.table_name)["Items"]
    turns = [i for i in items if i["pk"]["S"].endswith(f"#{recipient}") and i["sk"]["S"].startswith("turn#")]
    return sorted(turns, key=lambda i: i["sk"]["S"])


def _gated(runtime: LocalRuntime) -> GatedAI:
    ai = GatedAI()
    runtime.handlers["process_message"].processors.default._ai = ai
    return ai


@pytest.mark.parametrize("redelivered", [False, True], ids=["once", "redelivered"])
def test_a_message_arriving_while_the_ai_answers_supersedes_the_answer_before_it_leaves(
    start_runtime: RuntimeFactory, workflow_type: str, redelivered: bool
) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="2", MAX_WAIT_SECONDS="20")
    ai = _gated(runtime)
    user = _user()

    # GIVEN a burst whose AI is still thinking
    _wa(runtime, user, f"wamid.{user}.1", "do you ship to Canada?")
    wait_for(lambda: ai.requests, timeout=15)

    # WHEN the person writes again before any part of that answer left, and the AI then answers the first burst
    _wa(runtime, user, f"wamid.{user}.2", "and to the US?")
    if redelivered:
        _wa(runtime, user, f"wamid.{user}.1", "do you ship to Canada?")
        _wa(runtime, user, f"wamid.{user}.2", "and to the US?")
    ai.release.set()

    # THEN the stale answer never leaves: one reply, to both bursts' messages in order, from one AI turn
    [reply] = _settled(runtime, user, 1)
    time.sleep(1)
    assert replies_to(runtime, user) == [reply]
    assert reply["message_ids"] == [f"wamid.{user}.1", f"wamid.{user}.2"]
    assert "Canada" in reply["text"] and "the US" in reply["text"]
    assert ai.requests[-1] == [f"wamid.{user}.1", f"wamid.{user}.2"]
    # AND the superseded turn stays in history, marked, and names the turn that answered it
    first, second = _turns(runtime, user)
    assert "superseded_at" in first and first["superseded_by"]["N"] == second["burst"]["N"]
    assert [int(b["N"]) for b in second["carried"]["L"]] == [int(first["burst"]["N"])]
    assert "delivered_at" in second


def test_a_burst_claimed_while_the_earlier_answer_is_still_thinking_carries_it(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="1", MAX_WAIT_SECONDS="20")
    ai = _gated(runtime)
    user = _user()
    _wa(runtime, user, f"wamid.{user}.1", "first")
    wait_for(lambda: ai.requests, timeout=15)

    # WHEN the next burst falls due while the first AI call still runs
    _wa(runtime, user, f"wamid.{user}.2", "second")
    wait_for(lambda: len(ai.requests) == 2, timeout=15)
    ai.release.set()

    # THEN its claim took the first burst over: one AI turn with both, one reply; the first answer is dropped
    assert ai.requests[1] == [f"wamid.{user}.1", f"wamid.{user}.2"]
    [reply] = _settled(runtime, user, 1)
    time.sleep(1.5)
    assert replies_to(runtime, user) == [reply]
    assert reply["message_ids"] == [f"wamid.{user}.1", f"wamid.{user}.2"]


def test_with_superseding_off_both_answers_are_sent(start_runtime: RuntimeFactory, workflow_type: str) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="2", MAX_WAIT_SECONDS="20", SUPERSEDE_STALE_ANSWERS="false")
    ai = _gated(runtime)
    user = _user()
    _wa(runtime, user, f"wamid.{user}.1", "first")
    wait_for(lambda: ai.requests, timeout=15)
    _wa(runtime, user, f"wamid.{user}.2", "second")
    ai.release.set()
    replies = _settled(runtime, user, 2)
    assert [r["message_ids"] for r in replies] == [[f"wamid.{user}.1"], [f"wamid.{user}.2"]]


def test_an_answer_whose_first_part_left_stands(start_runtime: RuntimeFactory, workflow_type: str) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="1", MAX_WAIT_SECONDS="20")
    user = _user()
    _wa(runtime, user, f"wamid.{user}.1", "first")
    _settled(runtime, user, 1)
    # A message after the answer left opens a burst of its own, answered on its own
    _wa(runtime, user, f"wamid.{user}.2", "second")
    replies = _settled(runtime, user, 2)
    assert [r["message_ids"] for r in replies] == [[f"wamid.{user}.1"], [f"wamid.{user}.2"]]


def test_a_telegram_edit_inside_the_window_changes_what_the_ai_sees(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="2", MAX_WAIT_SECONDS="20")
    chat = int(time.time() * 1000) % 10**9
    original = int(time.time()) - 5
    status, _ = post(runtime, "telegram", builders.telegram(chat, 1, 41, "do you ship to Canda?", ts=original))
    assert status == 200
    edit = builders.telegram_edit(chat, 2, 41, "do you ship to Canada?", ts=original)
    for _ in range(2):  # redelivered: applied once, the same
        status, body = post(runtime, "telegram", edit)
        assert (status, body.get("changes")) == (200, 1)

    [reply] = _settled(runtime, str(chat), 1)
    assert "Canada" in reply["text"] and "Canda" not in reply["text"]

    # An edit of a message already answered changes nothing (and is still a 200)
    status, body = post(runtime, "telegram", builders.telegram_edit(chat, 3, 41, "never mind", ts=original))
    assert (status, body.get("changes")) == (200, None)
    time.sleep(3)
    assert replies_to(runtime, str(chat)) == [reply]


def test_an_instagram_unsend_removes_the_message_and_a_burst_deleted_empty_gets_no_reply(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="2", MAX_WAIT_SECONDS="20")
    user, lonely = "17" + uuid.uuid4().hex[:10], "17" + uuid.uuid4().hex[:10]
    post(runtime, "instagram", builders.instagram(user, f"mid.{user}.1", "oops wrong chat"))
    post(runtime, "instagram", builders.instagram(user, f"mid.{user}.2", "hi, is it in stock?"))
    post(runtime, "instagram", builders.instagram(lonely, f"mid.{lonely}.1", "sent by mistake"))
    for _ in range(2):
        status, body = post(runtime, "instagram", builders.instagram_unsend(user, f"mid.{user}.1"))
        assert (status, body.get("changes")) == (200, 1)
    post(runtime, "instagram", builders.instagram_unsend(lonely, f"mid.{lonely}.1"))

    [reply] = _settled(runtime, user, 1)
    assert reply["message_ids"] == [f"mid.{user}.2"]
    assert "wrong chat" not in reply["text"]
    assert replies_to(runtime, lonely) == []
    # AND a redelivery of the deleted message is not answered later
    post(runtime, "instagram", builders.instagram(user, f"mid.{user}.1", "oops wrong chat"))
    time.sleep(4)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    assert replies_to(runtime, user) == [reply]


def test_a_human_answering_in_the_inbox_pauses_the_bot_and_our_own_echo_does_not(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="1", MAX_WAIT_SECONDS="20", HANDOFF_SECONDS="600")
    user = "17" + uuid.uuid4().hex[:10]
    post(runtime, "instagram", builders.instagram(user, f"mid.{user}.1", "hello?"))
    [reply] = _settled(runtime, user, 1)

    # GIVEN the echo of the product's own reply: not a human
    status, body = post(runtime, "instagram", builders.instagram_echo(user, reply["message_id"], reply["text"]))
    assert (status, body.get("handoffs")) == (200, None)
    post(runtime, "instagram", builders.instagram(user, f"mid.{user}.2", "still there?"))
    _settled(runtime, user, 2)

    # WHEN a person answers from the Instagram inbox (an echo the product did not send)
    status, body = post(runtime, "instagram", builders.instagram_echo(user, f"mid.human.{user}", "Hi, Ana here!"))
    assert (status, body.get("handoffs")) == (200, 1)

    # THEN what the person writes next is kept, not answered
    post(runtime, "instagram", builders.instagram(user, f"mid.{user}.3", "thanks Ana"))
    time.sleep(3)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    assert len(replies_to(runtime, user)) == 2
    held = _turns(runtime, user)[-1]
    assert held["withheld_reason"]["S"] == "paused"
    assert [h["S"] for h in held["held"]["L"]] == [f"mid.{user}.3"]


def test_a_whatsapp_business_app_echo_withholds_an_answer_still_being_written(
    start_runtime: RuntimeFactory, workflow_type: str
) -> None:
    runtime = start_runtime(DEBOUNCE_SECONDS="1", MAX_WAIT_SECONDS="20")
    ai = _gated(runtime)
    user = _user()
    _wa(runtime, user, f"wamid.{user}.1", "can someone call me?")
    wait_for(lambda: ai.requests, timeout=15)

    # WHEN a person answers from the WhatsApp Business app while the AI is still writing
    status, body = post(runtime, "whatsapp", builders.whatsapp_smb_echo(user, f"wamid.echo.{user}", "Calling you now"))
    assert (status, body.get("handoffs")) == (200, 1)
    ai.release.set()

    # THEN the bot's answer never leaves, and the turn says why
    wait_for(lambda: "withheld_at" in _turns(runtime, user)[-1], timeout=20)
    wait_for(lambda: executions_settled(runtime), timeout=30)
    assert replies_to(runtime, user) == []
    assert _turns(runtime, user)[-1]["withheld_reason"]["S"] == "paused"
