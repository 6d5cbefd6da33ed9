"""Builders for channel payloads in their real shapes (docs/channels.md), with ids unique per test."""

from __future__ import annotations

import json
import time
from typing import Any

from debouncer.domain.models import InboundMessage
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


# --- edits, deletes and echoes (models.MessageChange, models.BusinessEcho) -------------------------------------------
# Each builds what the channel really sends (channels.md §1.3b, §2.3.3, §3.2; tests/fixtures/payloads). A change names
# the changed message by the id its own builder above was given; sign and post it like any other payload.


def telegram_topic_message(
    chat_id: int, thread_id: int, update_id: int, message_id: int, text: str, ts: int | None = None, *, user_id: int = 1
) -> dict[str, Any]:
    """A Telegram Update with a text message from `user_id` in forum topic `thread_id` of supergroup `chat_id`.

    Its conversation is the topic (key telegram#<bot>#<chat_id>/<thread_id>); `chat_id` is negative, as Telegram's are.
    """
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "message_thread_id": thread_id,
            "is_topic_message": True,
            "from": {"id": user_id, "is_bot": False, "first_name": "Ana"},
            "chat": {"id": chat_id, "title": "Support", "type": "supergroup", "is_forum": True},
            "date": ts or int(time.time()),
            "text": text,
        },
    }


def telegram_edit(
    chat_id: int,
    update_id: int,
    message_id: int,
    text: str,
    ts: int | None = None,
    *,
    edit_ts: int | None = None,
    thread_id: int | None = None,
    user_id: int | None = None,
) -> dict[str, Any]:
    """A Telegram `edited_message` Update: message `message_id` of chat `chat_id` now reads `text`.

    `ts` is the original message's date, `edit_ts` when it was edited (default: now). Without `thread_id` it edits a
    message of `telegram(chat_id, ...)` (a private chat); with it, one of `telegram_topic_message(chat_id, thread_id,
    ...)` (`user_id` defaults to the chat id in a private chat and to that builder's default in a topic).
    """
    now = int(time.time())
    edited: dict[str, Any] = {
        "message_id": message_id,
        "from": {"id": user_id or chat_id, "is_bot": False, "first_name": "Ana"},
        "chat": {"id": chat_id, "first_name": "Ana", "type": "private"},
        "date": ts or now,
        "edit_date": edit_ts or now,
        "text": text,
    }
    if thread_id is not None:
        edited["from"]["id"] = user_id or 1
        edited["chat"] = {"id": chat_id, "title": "Support", "type": "supergroup", "is_forum": True}
        edited |= {"message_thread_id": thread_id, "is_topic_message": True}
    return {"update_id": update_id, "edited_message": edited}


def _instagram_event(event: dict[str, Any], ts_ms: int | None) -> dict[str, Any]:
    ts_ms = ts_ms or int(time.time() * 1000)
    return {
        "object": "instagram",
        "entry": [{"id": IG_ACCOUNT, "time": ts_ms, "messaging": [event | {"timestamp": ts_ms}]}],
    }


def instagram_edit(sender: str, mid: str, text: str, ts_ms: int | None = None, *, num_edit: int = 1) -> dict[str, Any]:
    """An Instagram `message_edit` event: `sender`'s DM `mid` (see `instagram`) now reads `text` (edit num_edit)."""
    edit = {"mid": mid, "text": text, "num_edit": num_edit}
    return _instagram_event({"sender": {"id": sender}, "recipient": {"id": IG_ACCOUNT}, "message_edit": edit}, ts_ms)


def instagram_unsend(sender: str, mid: str, ts_ms: int | None = None) -> dict[str, Any]:
    """An Instagram message event with `is_deleted`: `sender` unsent their DM `mid` (see `instagram`)."""
    message = {"mid": mid, "is_deleted": True}
    return _instagram_event({"sender": {"id": sender}, "recipient": {"id": IG_ACCOUNT}, "message": message}, ts_ms)


def instagram_echo(
    recipient: str, mid: str, text: str, ts_ms: int | None = None, *, flagged: bool = True
) -> dict[str, Any]:
    """An Instagram echo: our account (IG_ACCOUNT) sent `text` to `recipient` as message `mid`.

    Instagram echoes the product's own replies and what a human types in the Instagram inbox alike; the product tells
    them apart by whether it sent `mid`. `flagged=False` leaves out `is_echo` (the sender id alone marks an echo).
    """
    message: dict[str, Any] = {"mid": mid, "text": text}
    if flagged:
        message["is_echo"] = True
    return _instagram_event({"sender": {"id": IG_ACCOUNT}, "recipient": {"id": recipient}, "message": message}, ts_ms)


def wa_edit(
    user: str, mid: str, original_mid: str, text: str, ts: int | None = None, *, caption_of: str | None = None
) -> dict[str, Any]:
    """One WhatsApp `messages[]` entry of type edit (own id `mid`): `user`'s message `original_mid` now reads `text`.

    With `caption_of` ("image", "video" or "document") `text` is the new caption of that media message. Post it with
    `whatsapp(user, wa_edit(...))`.
    """
    new: dict[str, Any] = {"type": "text", "text": {"body": text}}
    if caption_of is not None:
        mime_type = {"image": "image/jpeg", "video": "video/mp4", "document": "application/pdf"}[caption_of]
        new = {"type": caption_of, caption_of: {"id": f"{mid}.media", "mime_type": mime_type, "caption": text}}
    edit = {"original_message_id": original_mid, "message": new}
    return {"from": user, "id": mid, "timestamp": str(ts or int(time.time())), "type": "edit", "edit": edit}


def wa_revoke(user: str, mid: str, original_mid: str, ts: int | None = None) -> dict[str, Any]:
    """One WhatsApp `messages[]` entry of type revoke (its own id `mid`): `user` deleted `original_mid` for everyone."""
    revoke = {"original_message_id": original_mid}
    return {"from": user, "id": mid, "timestamp": str(ts or int(time.time())), "type": "revoke", "revoke": revoke}


def whatsapp_smb_echo(user: str, mid: str, text: str, ts: int | None = None) -> dict[str, Any]:
    """A WhatsApp `smb_message_echoes` notification: a person sent `text` to `user` from the WhatsApp Business app.

    The Cloud API never echoes its own sends, so this is always a human answering (coexistence numbers only).
    """
    echo = {
        "from": "15550783881",
        "to": user,
        "id": mid,
        "timestamp": str(ts or int(time.time())),
        "type": "text",
        "text": {"body": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "message_echoes": [echo],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "smb_message_echoes", "value": value}]}],
    }


def generic_edit(conversation_id: str, message_id: str, text: str, ts: int | None = None) -> dict[str, Any]:
    """The generic channel's edit body: message `message_id` of the conversation now reads `text`."""
    return generic(conversation_id, message_id, text, ts) | {"type": "edit"}


def generic_delete(conversation_id: str, message_id: str, ts: int | None = None) -> dict[str, Any]:
    """The generic channel's delete body: the person deleted their message `message_id`."""
    payload: dict[str, Any] = {"type": "delete", "conversation_id": conversation_id, "message_id": message_id}
    if ts is not None:
        payload["timestamp"] = ts
    return payload


def generic_agent_reply(
    conversation_id: str, message_id: str, text: str | None = None, ts: int | None = None
) -> dict[str, Any]:
    """The generic channel's agent_reply body: a human agent answered the conversation with message `message_id`.

    `text` (what the agent wrote) is optional and not kept: only that a human answered matters to the debouncer.
    """
    payload: dict[str, Any] = {"type": "agent_reply", "conversation_id": conversation_id, "message_id": message_id}
    if text is not None:
        payload["text"] = text
    if ts is not None:
        payload["timestamp"] = ts
    return payload
