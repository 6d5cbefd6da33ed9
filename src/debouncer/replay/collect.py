"""Where replay reads the replies back: the local outbox over HTTP, or the turn records of a deployed stack's table."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from botocore.exceptions import BotoCoreError, ClientError

from debouncer.adapters.dynamodb import _turn
from debouncer.domain.burst import concatenate
from debouncer.domain.models import Channel, conversation_key
from debouncer.replay.fixture import Conversation, ReplayError

HTTP_TIMEOUT = 15.0
# The local server (http.server) queues at most 5 connections it has not accepted yet; beyond that Linux drops
# the SYN and the client retries it a second later, which would shift the timeline. Fifteen fixtures starting
# together would do exactly that, so requests from all fixture threads share a few slots.
IN_FLIGHT = threading.BoundedSemaphore(4)
TURN_PREFIX = "turn#"  # sort keys of turn records: adapters.dynamodb.turn_sk


@dataclass(frozen=True)
class Reply:
    """One answered burst as the channel saw it: where it went, its text, which messages it answers."""

    conversation: Conversation
    text: str
    message_ids: tuple[str, ...]
    sent_at: float | None = None
    parts: int = 1
    delivered: bool = True


class ReplySource(Protocol):
    """Every reply sent so far to the given conversations, oldest first."""

    def replies(self, conversations: Iterable[Conversation], accounts: Mapping[str, set[str]]) -> list[Reply]: ...


def http_request(
    method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """(status, body) of one request; 4xx and 5xx are returned, not raised. The caller checked the URL's scheme."""
    request = urllib.request.Request(url, data=body or None, method=method, headers=dict(headers or {}))  # noqa: S310
    with IN_FLIGHT:
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
                return int(response.status), response.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.read()


def server_settings(endpoint: str) -> dict[str, Any] | None:
    """The local server's settings (GET /local/settings); None for a deployed stack, which does not tell them.

    ReplayError when the endpoint does not answer GET /health with 200.
    """
    try:
        status, raw = http_request("GET", f"{endpoint}/health")
    except OSError as e:
        raise ReplayError(f"cannot reach {endpoint}/health: {e}; is the server running (make run)?") from e
    if status != 200:
        raise ReplayError(f"{endpoint}/health answered {status}")
    try:
        status, raw = http_request("GET", f"{endpoint}/local/settings")
    except OSError as e:
        raise ReplayError(f"cannot reach {endpoint}/local/settings: {e}") from e
    if status == 404:
        return None  # API Gateway: /health tells liveness only, and there is no /local route
    try:
        settings: dict[str, Any] = json.loads(raw)
    except ValueError as e:
        raise ReplayError(f"{endpoint}/local/settings answered {status} without settings: {raw[:200]!r}") from e
    if status != 200 or not isinstance(settings, dict):
        raise ReplayError(f"{endpoint}/local/settings answered {status}: {raw[:200]!r}")
    return settings


class OutboxSource:
    """GET /local/outbox, shared by every fixture thread: one request per refresh interval, however many ask."""

    def __init__(self, endpoint: str, refresh_seconds: float = 0.5) -> None:
        self._url = f"{endpoint}/local/outbox"
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._fetched_at = float("-inf")
        self._entries: list[Reply] = []

    def replies(self, conversations: Iterable[Conversation], accounts: Mapping[str, set[str]]) -> list[Reply]:
        """Outbox entries addressed to the conversations. The local sender never splits: one entry, one reply."""
        wanted = set(conversations)
        return [reply for reply in self._snapshot() if reply.conversation in wanted]

    def _snapshot(self) -> list[Reply]:
        with self._lock:
            if time.monotonic() - self._fetched_at >= self._refresh:
                try:
                    status, raw = http_request("GET", self._url)
                except OSError:
                    return list(self._entries)  # a busy server: the next poll asks again
                if status != 200:
                    raise ReplayError(f"GET {self._url} answered {status}: is this the local server (make run)?")
                self._entries = [_from_outbox(entry) for entry in json.loads(raw)]
                self._fetched_at = time.monotonic()
            return list(self._entries)


def _from_outbox(entry: dict[str, Any]) -> Reply:
    return Reply(
        conversation=Conversation(str(entry.get("channel")), str(entry.get("recipient"))),
        text=str(entry.get("text") or ""),
        message_ids=tuple(str(m) for m in entry.get("message_ids") or ()),
        sent_at=entry.get("sent_at"),
    )


class TableSource:
    """The turn records of a deployed stack: one Query per conversation key, parsed by the DynamoDB adapter.

    A turn counts as a reply once its answer is recorded; its text is the burst as the AI saw it, so the check
    holds whatever the AI provider.
    """

    def __init__(self, client: Any, table_name: str, telegram_bot_id: str) -> None:
        self._client = client
        self._table = table_name
        self._bot_id = telegram_bot_id

    def replies(self, conversations: Iterable[Conversation], accounts: Mapping[str, set[str]]) -> list[Reply]:
        """Answered turns of the conversations, in burst order per conversation."""
        out: list[Reply] = []
        for conversation in conversations:
            owners = set(accounts.get(conversation.channel, set()))
            if conversation.channel == "telegram":
                owners.add(self._bot_id)  # plus the Telegram tenants the events were posted to
            for account in sorted(owners):
                key = conversation_key(cast("Channel", conversation.channel), account, conversation.user)
                out.extend(self._turns(conversation, key))
        return out

    def _turns(self, conversation: Conversation, key: str) -> list[Reply]:
        replies: list[Reply] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :turn)",
            "ExpressionAttributeValues": {":pk": {"S": key}, ":turn": {"S": TURN_PREFIX}},
            "ConsistentRead": True,
        }
        while True:
            try:
                page = self._client.query(**query)
            except (BotoCoreError, ClientError) as e:
                raise ReplayError(f"cannot read table {self._table}: {e}") from e
            for item in page.get("Items", []):
                turn = _turn(key, item)
                if turn.answer is None or not turn.messages:
                    continue  # being answered, or every message was a late redelivery
                replies.append(
                    Reply(
                        conversation=conversation,
                        text=concatenate(turn.messages),
                        message_ids=tuple(m.message_id for m in turn.messages),
                        sent_at=float(item["claimed_at"]["N"]) if "claimed_at" in item else None,
                        parts=turn.parts_sent,
                        delivered=turn.delivered,
                    )
                )
            if "LastEvaluatedKey" not in page:
                return replies
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
