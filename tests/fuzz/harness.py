"""The fuzz target: one LocalRuntime driven through API Gateway v2 events, and the checks every property shares."""

from __future__ import annotations

import base64
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

import boto3
from hypothesis import settings
from moto.dynamodb.models import dynamodb_backends
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from debouncer.adapters.dynamodb import BUFFER_SK
from debouncer.channels import generic, instagram, telegram, whatsapp
from debouncer.domain.models import Inbound, InboundMessage
from debouncer.local.runtime import ACCOUNT, REGION, LocalRuntime

# Every AWS call that writes: a rejected request must make none of them.
WRITE_ACTIONS = frozenset(
    {
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:TransactWriteItems",
        "states:StartExecution",
        "sqs:SendMessage",
    }
)


def examples(share: float) -> settings:
    """The loaded profile with `share` of its examples: more for cheap rejections, fewer where each one writes."""
    return settings(max_examples=max(10, round(settings.default.max_examples * share)))


@dataclass(frozen=True)
class Reply:
    """One HTTP answer as API Gateway would return it."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.headers.get('Content-Type')!r}, {self.body[:300]!r})"


@dataclass(frozen=True)
class Stored:
    """What exists so far: table items, state machine executions, and the writes post_message has made."""

    items: int
    executions: int
    webhook_writes: int


class Target:
    """Sends requests to the real post_message handler and checks what they left behind."""

    def __init__(self, runtime: LocalRuntime, telegram_bot_id: str = "bot") -> None:
        self.runtime = runtime
        self._numbers = itertools.count(1)
        self._bot_id = telegram_bot_id
        self._starts_reaped = 0
        self._reaped_at = time.monotonic()
        with runtime.emulator.running_as("operator"):
            self._dynamodb = boto3.client("dynamodb", region_name=REGION)
            self._sfn = boto3.client("stepfunctions", region_name=REGION)

    def unique(self) -> int:
        """A number no other example of this module uses: ids derived from it never collide."""
        return next(self._numbers)

    def request(
        self, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None, query: str = ""
    ) -> Reply:
        """One request through the API Gateway v2 event path."""
        status, response_headers, raw = self.runtime.http(method, path, body=body, headers=headers, query=query)
        self._reap()
        return Reply(status, response_headers, raw)

    def invoke(self, event: dict[str, Any]) -> Reply:
        """A hand-built API Gateway v2 event, for what runtime.http never sends (a body flagged base64 by hand)."""
        response = self.runtime.emulator.invoke("post_message", event)
        payload = response.get("body") or ""
        raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        self._reap()
        return Reply(int(response["statusCode"]), dict(response.get("headers") or {}), raw)

    def _reap(self) -> None:
        # Every accepted example leaves an execution waiting out the debounce, with two threads: a soak run would
        # pile up thousands, and any still waiting after DEBOUNCE_SECONDS would wake and write while examples count.
        starts = self.runtime.emulator.calls[("post_message", "states:StartExecution")]
        if starts - self._starts_reaped >= 100 or time.monotonic() - self._reaped_at > 30:
            self.stop_executions()
            self._starts_reaped, self._reaped_at = starts, time.monotonic()

    def stored(self) -> Stored:
        """Counted in the emulator's own state, under its lock, plus post_message's write calls.

        Read directly rather than by Scan and ListExecutions, whose cost grows with every accepted example.
        """
        emulator = self.runtime.emulator
        with emulator.lock:
            items = len(dynamodb_backends[ACCOUNT][REGION].get_table(self.runtime.table_name))
            machine = stepfunctions_parser_backends[ACCOUNT][REGION].describe_state_machine(
                self.runtime.state_machine_arn
            )
            executions = len(machine.executions)
        calls = dict(emulator.calls)
        writes = sum(n for (caller, action), n in calls.items() if caller == "post_message" and action in WRITE_ACTIONS)
        return Stored(items, executions, writes)

    def check(self, reply: Reply, before: Stored) -> None:
        """Never a 5xx (channels redeliver those); a 4xx carries a JSON error and left nothing behind."""
        assert 200 <= reply.status < 500, reply
        if reply.status >= 400:
            assert reply.headers.get("Content-Type", "").startswith("application/json"), reply
            error = reply.json()
            assert isinstance(error, dict), reply
            assert isinstance(error.get("error"), str), reply
            assert error["error"].strip(), reply
            assert self.stored() == before, reply

    def assert_buffered(self, channel: str, raw: bytes, reply: Reply) -> list[InboundMessage]:
        """A 2xx to a POST: every message the payload carries is counted in the answer and sits in its buffer."""
        messages = self.normalize(channel, json.loads(raw))
        answer = reply.json()
        # "changes" and "handoffs" appear only when edits, deletes or a human's echo were taken in.
        assert {"accepted", "duplicates"} <= set(answer) <= {"accepted", "duplicates", "changes", "handoffs"}, reply
        assert answer["accepted"] + answer["duplicates"] == len(messages), (reply, [m.message_id for m in messages])
        with self.runtime.emulator.running_as("operator"):
            for message in messages:
                item = self._dynamodb.get_item(
                    TableName=self.runtime.table_name,
                    Key={"pk": {"S": message.conversation_key}, "sk": {"S": BUFFER_SK}},
                    ConsistentRead=True,
                ).get("Item", {})
                where = (message.conversation_key[:200], message.message_id[:200])
                assert message.message_id in item.get("ids", {}).get("SS", []), where
        return messages

    def normalize(self, channel: str, payload: dict[str, Any]) -> list[InboundMessage]:
        """The messages the webhook reads from `payload` (the normalizers are unit-tested on their own); edits,
        deletes and echoes are not buffered messages."""
        items: list[Inbound]
        if channel == "whatsapp":
            items = whatsapp.normalize(payload)
        elif channel == "instagram":
            items = instagram.normalize(payload)
        elif channel == "telegram":
            items = telegram.normalize(payload, bot_id=self._bot_id)
        else:
            items = generic.normalize(payload, now_ms=0)
        return [item for item in items if isinstance(item, InboundMessage)]

    def stop_executions(self) -> None:
        """Stop every running execution, every page of them (each accepted example opened a burst)."""
        with self.runtime.emulator.running_as("operator"):
            pages = self._sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.runtime.state_machine_arn, statusFilter="RUNNING"
            )
            arns = [e["executionArn"] for page in pages for e in page["executions"]]
            for arn in arns:
                try:
                    self._sfn.stop_execution(executionArn=arn)
                except Exception:  # noqa: S112 - moto cannot stop an execution still starting; it ends with the emulator
                    continue
