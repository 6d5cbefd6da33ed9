"""Builders for channel payloads in their real shapes (reference/channels.md), with ids unique per test."""

from __future__ import annotations

import json
import time
from typing import Any

from debouncer.models import InboundMessage
from tests.payloads import signed_headers

PHONE_NUMBER_ID = "106540352242922"
IG_ACCOUNT = "17841400000000001"


def body(payload: dict[str, Any]) -> bytes:
    """Serialize once; the signature is over exactly these bytes."""
    return json.dumps(payload, separators=(",", ":")).encode()


def sign(channel: str, raw: bytes) -> dict[str, str]:
    """Headers a channel sends with this body, signed with the local development secrets."""
    return signed_headers(channel, raw)


def wa_message(user: str, mid: str, text: str, ts: int | None = None) -> dict[str, Any]:
    """One WhatsApp `messages[]` entry of type text."""
    return {"from": user, "id": mid, "timestamp": str(ts or int(time.time())), "type": "text", "text": {"body": text}}


def whatsapp(user: str, *messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A WhatsApp Cloud API webhook notification carrying `messages` (and optional statuses)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": "Test User"}, "wa_id": user}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def telegram(chat_id: int, update_id: int, message_id: int, text: str, ts: int | None = None) -> dict[str, Any]:
    """A Telegram Update with a private-chat text message."""
    user = {"id": chat_id, "is_bot": False, "first_name": "Ana"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": user,
            "chat": {"id": chat_id, "first_name": "Ana", "type": "private"},
            "date": ts or int(time.time()),
            "text": text,
        },
    }


def instagram(sender: str, mid: str, text: str, ts_ms: int | None = None) -> dict[str, Any]:
    """An Instagram messaging webhook with one text DM."""
    ts_ms = ts_ms or int(time.time() * 1000)
    return {
        "object": "instagram",
        "entry": [
            {
                "id": IG_ACCOUNT,
                "time": ts_ms,
                "messaging": [
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": IG_ACCOUNT},
                        "timestamp": ts_ms,
                        "message": {"mid": mid, "text": text},
                    }
                ],
            }
        ],
    }


def generic(conversation_id: str, message_id: str, text: str, ts: int | None = None) -> dict[str, Any]:
    """The generic channel's body."""
    payload: dict[str, Any] = {"conversation_id": conversation_id, "message_id": message_id, "text": text}
    if ts is not None:
        payload["timestamp"] = ts
    return payload


def inbound(message_id: str, text: str | None = "x", *, timestamp_ms: int = 0, **fields: Any) -> InboundMessage:
    """An already normalized message of one test conversation, for the logic that takes them (burst, prompt, AI)."""
    return InboundMessage(
        channel="whatsapp",
        account_id="1",
        conversation_key="whatsapp#1#2",
        sender_id="2",
        recipient_id="2",
        message_id=message_id,
        timestamp_ms=timestamp_ms,
        text=text,
        **fields,
    )
