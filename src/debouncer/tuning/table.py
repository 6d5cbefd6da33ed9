"""Timings from a deployed table's history, read-only: the claimed turns, and the bursts still open.

Where the timing lives: each turn item (sk `turn#<burst>`) and each conversation's buffer item hold `arrivals`, the
epoch seconds at which each of their messages reached the webhook (numbers only, kept for `debouncer explain`), next
to `messages`, the messages themselves as JSON documents with their text. The Scan projects only the key and
`arrivals`, so no text leaves DynamoDB. Two cases read `messages` as well: items written before arrival times were
recorded (no `arrivals`, or 0 for a message), whose timing is then the message's `timestamp_ms` (the channel's
time: whole seconds on WhatsApp and Telegram); and a run given flush keywords, which must know which messages are
one. DynamoDB cannot project a field out of a document, so there the text does leave the table: each document is
parsed and dropped at once, keeping its time, its size and, when the whole text is one of the keywords, that keyword.
Conversation keys (they hold phone numbers and user ids) are replaced by their log pseudonym as they are read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from typing import Any

from debouncer.domain.privacy import conversation_ref
from debouncer.tuning.trace import TimedMessage, TraceError

TenantOf = Callable[[str, str], str | None]
MESSAGES = {"#messages": "messages"}


def read_table(
    client: Any, table_name: str, *, keywords: Collection[str] = (), tenant_of: TenantOf | None = None
) -> list[TimedMessage]:
    """Every stored message's timing. `tenant_of(channel, account)` names the tenant a conversation belongs to."""
    wanted = {k.strip().lower() for k in keywords}
    messages = []
    for item in _items(client, table_name, with_messages=bool(wanted)):
        key = item["pk"]["S"]
        channel, account, _ = [*key.split("#", 2), "", ""][:3]
        reference = conversation_ref(key)
        tenant = tenant_of(channel, account) if tenant_of is not None else None
        arrivals = [float(v["N"]) for v in item.get("arrivals", {}).get("L", [])]
        documents = [v["S"] for v in item.get("messages", {}).get("L", [])]
        if not documents and _holds_untimed(item, arrivals):
            documents = _documents(client, table_name, item)
        for index in range(max(len(arrivals), len(documents))):
            at = arrivals[index] if index < len(arrivals) else 0.0
            document = documents[index] if index < len(documents) else None
            messages.append(_timing(at, document, reference, channel or None, tenant, wanted))
    return messages


def _timing(
    at: float, document: str | None, conversation: str, channel: str | None, tenant: str | None, keywords: set[str]
) -> TimedMessage:
    """The message's time (its arrival, else its channel timestamp) and size; its text, when read, is looked at
    once for a keyword and dropped with the document."""
    if document is None:
        return TimedMessage(conversation=conversation, at=at, tenant=tenant, channel=channel)
    try:
        stored = json.loads(document)
        stamped = int(stored["timestamp_ms"]) / 1000
    except (ValueError, KeyError, TypeError) as e:
        raise TraceError(f"a stored message of conversation {conversation} has no timestamp_ms") from e
    text = str(stored.get("text") or "").strip().lower()
    return TimedMessage(
        conversation=conversation,
        at=at or stamped,
        tenant=tenant,
        channel=channel,
        size=len(document.encode()) + len(str(stored.get("message_id", "")).encode()),
        keyword=text if text in keywords else None,
    )


def _items(client: Any, table_name: str, *, with_messages: bool) -> Iterator[dict[str, Any]]:
    request: dict[str, Any] = {
        "TableName": table_name,
        "FilterExpression": "begins_with(sk, :turn) OR sk = :buffer",
        "ProjectionExpression": "pk, sk, arrivals, msg_count" + (", #messages" if with_messages else ""),
        "ExpressionAttributeValues": {":turn": {"S": "turn#"}, ":buffer": {"S": "buffer"}},
    }
    if with_messages:
        request["ExpressionAttributeNames"] = MESSAGES
    while True:
        page = client.scan(**request)
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if start is None:
            return
        request["ExclusiveStartKey"] = start


def _holds_untimed(item: dict[str, Any], arrivals: list[float]) -> bool:
    """An item with messages whose arrival was not recorded: a turn without `arrivals`, an open buffer without them,
    or a 0 among them (a buffer at rest after its claim holds nothing, and is not read again)."""
    if arrivals:
        return not all(arrivals)
    return item["sk"]["S"] != "buffer" or int(item.get("msg_count", {}).get("N", "0")) > 0


def _documents(client: Any, table_name: str, item: dict[str, Any]) -> list[str]:
    """The messages of an item written before arrival times were recorded (read only for those)."""
    response = client.get_item(
        TableName=table_name,
        Key={"pk": item["pk"], "sk": item["sk"]},
        ProjectionExpression="#messages",
        ExpressionAttributeNames=MESSAGES,
    )
    return [v["S"] for v in response.get("Item", {}).get("messages", {}).get("L", [])]
