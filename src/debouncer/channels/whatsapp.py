"""WhatsApp Cloud API: webhook notification to InboundMessages (channels.md §1)."""

from __future__ import annotations

from typing import Any, Final

from debouncer import schemas
from debouncer.channels import build_message, location_text
from debouncer.errors import InvalidPayloadError
from debouncer.models import InboundMessage, MediaRef, conversation_key

CHANNEL: Final = "whatsapp"

# Not user turns: a reaction annotates an earlier message, `system` is a number change, `unsupported` carries
# no content, `request_welcome` is the user opening the chat for the first time.
IGNORED_TYPES = frozenset({"reaction", "system", "unsupported", "request_welcome"})


def normalize(payload: dict[str, Any]) -> list[InboundMessage]:
    """Every inbound user message in one notification, across all entries and changes; the rest is ignored."""
    schemas.validate(CHANNEL, payload)
    out: list[InboundMessage] = []
    for entry in payload["entry"]:
        for change in entry["changes"]:
            # statuses, errors and other fields (smb_message_echoes included) are never user input.
            if change["field"] != "messages":
                continue
            value = change["value"]
            account_id = value["metadata"]["phone_number_id"]
            contacts = value.get("contacts", [])
            for msg in value.get("messages", []):
                if msg["type"] not in IGNORED_TYPES:
                    out.append(_message(account_id, contacts, msg))
    return out


def _message(account_id: str, contacts: list[dict[str, Any]], msg: dict[str, Any]) -> InboundMessage:
    sender = _sender(contacts, msg)
    user = msg.get("group_id") or sender
    kind, text, media = _content(msg)
    return build_message(
        channel=CHANNEL,
        account_id=account_id,
        conversation_key=conversation_key(CHANNEL, account_id, user),
        sender_id=sender,
        recipient_id=user,
        message_id=msg["id"],
        timestamp_ms=int(msg["timestamp"]) * 1000,
        kind=kind,
        text=text,
        media=media,
        reply_to=msg.get("context", {}).get("id"),
        sender_name=_sender_name(contacts, msg, sender),
    )


def _sender(contacts: list[dict[str, Any]], msg: dict[str, Any]) -> str:
    # Users with a username may hide their number: Meta then sends only the business-scoped user id (BSUID).
    sender = msg.get("from", "").removeprefix("+") or msg.get("from_user_id")
    if not sender and len(contacts) == 1:
        sender = contacts[0].get("user_id")
    if not sender:
        raise InvalidPayloadError(f"whatsapp message {msg['id']!r}: no sender (from, from_user_id or contact user_id)")
    return str(sender)


def _sender_name(contacts: list[dict[str, Any]], msg: dict[str, Any], sender: str) -> str | None:
    for contact in contacts:
        ids = {contact.get("wa_id"), contact.get("user_id")} - {None}
        if sender in ids or msg.get("from_user_id") in ids:
            name = contact.get("profile", {}).get("name")
            return str(name) if name else None
    return None


def _content(msg: dict[str, Any]) -> tuple[str, str | None, tuple[MediaRef, ...]]:
    kind: str = msg["type"]
    body: Any = msg.get(kind)
    if kind == "text":
        return kind, msg["text"]["body"], ()
    if kind == "interactive":
        reply = body.get(body["type"])
        return kind, _str(reply, "title") or _str(reply, "body"), ()
    if kind == "button":
        return kind, body["text"], ()
    if kind == "location":
        text = location_text(body["latitude"], body["longitude"], body.get("name"), body.get("address"))
        return kind, text, (MediaRef(kind=kind),)
    if kind == "contacts":
        return kind, _contacts_text(body), (MediaRef(kind=kind),)
    # Media and any type we do not know yet: a typed placeholder, with the media id when there is one.
    if not isinstance(body, dict):
        return kind, None, ()
    if kind == "audio" and body.get("voice"):
        kind = "voice"
    ref = MediaRef(kind=kind, ref=_str(body, "id"), mime_type=_str(body, "mime_type"), filename=_str(body, "filename"))
    return kind, _str(body, "caption"), (ref,) if ref.ref else ()


def _contacts_text(cards: list[dict[str, Any]]) -> str | None:
    lines = []
    for card in cards:
        name = card.get("name", {}).get("formatted_name", "")
        phones = [p["phone"] for p in card.get("phones", []) if p.get("phone")]
        lines.append(" ".join([name, *phones]).strip())
    return "; ".join(line for line in lines if line) or None


def _str(obj: Any, key: str) -> str | None:
    # Types we do not model are not schema-checked: take a field only when it has the expected type.
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) and value else None
