"""Instagram Messaging: webhook notification to InboundMessages (channels.md §3)."""

from __future__ import annotations

from typing import Any, Final

from debouncer import schemas
from debouncer.channels import Skip, build_message, ignore, problem
from debouncer.errors import InvalidPayloadError
from debouncer.models import InboundMessage, MediaRef, conversation_key

CHANNEL: Final = "instagram"

# Echoes of our own sends, unsent messages and content Instagram cannot show us are not user turns.
IGNORED_FLAGS = ("is_echo", "is_deleted", "is_unsupported")


def normalize(payload: dict[str, Any], *, on_skip: Skip = ignore) -> list[InboundMessage]:
    """Every inbound DM and postback in one notification; echoes, receipts, reactions and the rest yield [].

    A DM or postback event that cannot be used is reported to `on_skip` and left out.
    """
    schemas.validate(CHANNEL, payload)
    out: list[InboundMessage] = []
    for e, entry in enumerate(payload["entry"]):
        account_id: str = entry["id"]
        # standby[] (another app owns the thread) and changes[] (comments, mentions) are deliberately not read.
        for i, event in enumerate(entry.get("messaging", [])):
            where = f"$.entry[{e}].messaging[{i}]"
            # read, reaction, referral, message_edit, optins...: not user turns, whatever their shape.
            if not isinstance(event, dict) or not {"message", "postback"} & event.keys():
                continue
            if reason := problem(CHANNEL, "event", event, where):
                on_skip(reason)
                continue
            try:
                if (message := _read(account_id, event)) is not None:
                    out.append(message)
            except InvalidPayloadError as error:
                on_skip(f"{where}: {error}")
    return out


def _read(account_id: str, event: dict[str, Any]) -> InboundMessage | None:
    # Replies typed by a human in the Instagram app come back as our own sends.
    if event["sender"]["id"] == account_id:
        return None
    if (message := event.get("message")) is not None:
        return None if any(message.get(flag) for flag in IGNORED_FLAGS) else _from_message(account_id, event, message)
    return _from_postback(account_id, event, event["postback"])


def _from_message(account_id: str, event: dict[str, Any], message: dict[str, Any]) -> InboundMessage:
    attachments = message.get("attachments", [])
    media = tuple(MediaRef(kind=a["type"], ref=a.get("payload", {}).get("url")) for a in attachments)
    text = message.get("text")
    kind = media[0].kind if media else ("text" if text else "unknown")
    reply_to = message.get("reply_to", {})
    return _build(
        account_id,
        event,
        message_id=message["mid"],
        kind=kind,
        text=text,
        media=media,
        reply_to=reply_to.get("mid") or reply_to.get("story", {}).get("id"),
    )


def _from_postback(account_id: str, event: dict[str, Any], postback: dict[str, Any]) -> InboundMessage:
    # An ice breaker or button tap is often the user's first turn: answer its visible title like typed text.
    return _build(account_id, event, message_id=postback["mid"], kind="postback", text=postback.get("title") or None)


def _build(account_id: str, event: dict[str, Any], **content: Any) -> InboundMessage:
    user: str = event["sender"]["id"]
    return build_message(
        channel=CHANNEL,
        account_id=account_id,
        conversation_key=conversation_key(CHANNEL, account_id, user),
        sender_id=user,
        recipient_id=user,
        timestamp_ms=event["timestamp"],
        **content,
    )
