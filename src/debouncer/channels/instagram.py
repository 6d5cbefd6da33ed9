"""Instagram Messaging: webhook notification to InboundMessages, edits, unsends and echoes (channels.md §3)."""

from __future__ import annotations

from typing import Any, Final

from debouncer import schemas
from debouncer.channels import Skip, build_change, build_echo, build_message, ignore, problem
from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import BusinessEcho, Inbound, InboundMessage, MediaRef, MessageChange, conversation_key

CHANNEL: Final = "instagram"

# The messaging[] event keys read; any other (read, reaction, referral, optin...) is not something the person wrote.
READ_EVENTS: Final = frozenset({"message", "postback", "message_edit"})


def normalize(payload: dict[str, Any], *, on_skip: Skip = ignore) -> list[Inbound]:
    """Every DM, postback, edit, unsend and echo in one notification; receipts, reactions and the rest yield [].

    A DM is an InboundMessage; `message_edit` and an unsent message (`is_deleted`) are MessageChanges of the DM they
    name by mid; an echo of a message our account sent is a BusinessEcho. An event that cannot be used is reported
    to `on_skip` and left out.
    """
    schemas.validate(CHANNEL, payload)
    out: list[Inbound] = []
    for e, entry in enumerate(payload["entry"]):
        account_id: str = entry["id"]
        # standby[] (another app owns the thread) and changes[] (comments, mentions) are deliberately not read.
        for i, event in enumerate(entry.get("messaging", [])):
            where = f"$.entry[{e}].messaging[{i}]"
            if not isinstance(event, dict) or not READ_EVENTS & event.keys():
                continue
            if reason := problem(CHANNEL, "event", event, where):
                on_skip(reason)
                continue
            try:
                if (item := _read(account_id, event)) is not None:
                    out.append(item)
            except InvalidPayloadError as error:
                on_skip(f"{where}: {error}")
    return out


def _read(account_id: str, event: dict[str, Any]) -> Inbound | None:
    ours = event["sender"]["id"] == account_id
    if (message := event.get("message")) is not None:
        # Instagram echoes every message our account sends, from the API (our replies) or typed by a human in the
        # Instagram app; not every echo carries is_echo, but every one comes from our account.
        if message.get("is_echo") or ours:
            # Our account unsending its own message is not a new message to the person.
            return None if message.get("is_deleted") else _echo(account_id, event, message)
        if message.get("is_deleted"):
            return _change(account_id, event, message["mid"], "delete")
        # Content Instagram cannot show us: nothing to answer, and no id we could match to a later change.
        if message.get("is_unsupported"):
            return None
        return _from_message(account_id, event, message)
    if ours:
        return None  # our account's own postbacks and edits: not the person's, and not a new message to them
    if (edit := event.get("message_edit")) is not None:
        num_edit = int(edit.get("num_edit", 0))  # an integer, or its digits (schema: $defs/messageEdit)
        return _change(account_id, event, edit["mid"], "edit", text=edit["text"], num_edit=num_edit)
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


def _change(
    account_id: str, event: dict[str, Any], mid: str, change: str, text: str | None = None, num_edit: int = 0
) -> MessageChange:
    """A change the person made to their message `mid`, keyed like that message (their IGSID is the sender).

    changed_at_ms is the event's timestamp plus num_edit, the edit's ordinal (Meta lets a message be edited at most
    five times): Meta does not say whether an edit event's timestamp is the edit's time, and two edits delivered
    with the same timestamp must still order by num_edit, the later edit winning. Adding a few milliseconds keeps
    every other order: for timestamps t1 <= t2 of edits n1 < n2, t1 + n1 < t2 + n2.
    """
    user: str = event["sender"]["id"]
    return build_change(
        channel=CHANNEL,
        account_id=account_id,
        conversation_key=conversation_key(CHANNEL, account_id, user),
        message_id=mid,
        change=change,
        text=text,
        changed_at_ms=event["timestamp"] + num_edit,
    )


def _echo(account_id: str, event: dict[str, Any], message: dict[str, Any]) -> BusinessEcho:
    """A message our account sent to the person (the recipient), keyed like the person's own messages.

    Never marked human here: Instagram echoes the product's own replies too, and only the product knows whether it
    sent this mid; one it did not send was typed by a person in the business inbox.
    """
    user: str = event["recipient"]["id"]
    return build_echo(
        channel=CHANNEL,
        account_id=account_id,
        conversation_key=conversation_key(CHANNEL, account_id, user),
        recipient_id=user,
        message_id=message["mid"],
        timestamp_ms=event["timestamp"],
        human=False,
    )
