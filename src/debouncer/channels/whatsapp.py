"""WhatsApp Cloud API: webhook notification to InboundMessages (channels.md §1)."""

from __future__ import annotations

from typing import Any, Final

from debouncer import schemas
from debouncer.channels import Skip, build_message, ignore, location_text, problem
from debouncer.errors import InvalidPayloadError
from debouncer.models import InboundMessage, MediaRef, conversation_key

CHANNEL: Final = "whatsapp"

# Not user turns (channels.md §1.3b, §4): a reaction annotates an earlier message, `system` is a number or identity
# change, `unsupported` carries no content, `request_welcome` is the user opening the chat for the first time, and
# an edit or a revoke changes a message already sent (applied nowhere yet: like Telegram's edited_message, skipped).
IGNORED_TYPES = frozenset({"reaction", "system", "unsupported", "request_welcome", "edit", "revoke"})
# Interactive replies that are not chat input: the user answering a request to call them.
IGNORED_INTERACTIVE = frozenset({"call_permission_reply"})


def normalize(payload: dict[str, Any], *, on_skip: Skip = ignore) -> list[InboundMessage]:
    """Every inbound user message in one notification, across all entries and changes; the rest is ignored.

    A message that cannot be used (no id, no sender...) is reported to `on_skip` and left out; one whose type object
    is missing or unreadable is kept as a typed placeholder.
    """
    schemas.validate(CHANNEL, payload)
    out: list[InboundMessage] = []
    for e, entry in enumerate(payload["entry"]):
        for c, change in enumerate(entry["changes"]):
            # statuses, errors, calls, template and account updates, smb_message_echoes: never user input.
            if change["field"] != "messages":
                continue
            value = change["value"]
            account_id = value["metadata"]["phone_number_id"]
            contacts = [contact for contact in value.get("contacts", []) if isinstance(contact, dict)]
            for m, msg in enumerate(value.get("messages", [])):
                where = f"$.entry[{e}].changes[{c}].value.messages[{m}]"
                if _ignored(msg):
                    continue
                if reason := problem(CHANNEL, "message", msg, where):
                    on_skip(reason)
                    continue
                try:
                    out.append(_message(account_id, contacts, msg, where, on_skip))
                except InvalidPayloadError as error:
                    on_skip(f"{where}: {error}")
    return out


def _ignored(msg: Any) -> bool:
    if not isinstance(msg, dict):
        return False  # not a message at all: reported by the schema check
    kind = msg.get("type")
    if kind in IGNORED_TYPES:
        return True
    interactive = msg.get("interactive")
    return kind == "interactive" and isinstance(interactive, dict) and interactive.get("type") in IGNORED_INTERACTIVE


def _message(
    account_id: str, contacts: list[dict[str, Any]], msg: dict[str, Any], where: str, on_skip: Skip
) -> InboundMessage:
    sender = _sender(contacts, msg)
    user = msg.get("group_id") or sender
    kind: str = msg["type"]
    if reason := _content_problem(msg, kind, where):
        # A degraded message (Meta drops the type object of one it could not process): the user did write.
        on_skip(f"{reason}; kept as a [{kind}] placeholder")
        content: tuple[str, str | None, tuple[MediaRef, ...]] = (kind, None, ())
    else:
        content = _content(msg)
    kind, text, media = content
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


def _content_problem(msg: dict[str, Any], kind: str, where: str) -> str | None:
    if kind not in schemas.load_schema(CHANNEL)["$defs"]["content"]["properties"]:
        return None  # a type we do not model: read defensively by _content
    if kind not in msg:
        return f"{where}.{kind}: is required"
    return problem(CHANNEL, "content", {kind: msg[kind]}, where)


def _sender(contacts: list[dict[str, Any]], msg: dict[str, Any]) -> str:
    # Users with a username may hide their number: Meta then sends only the business-scoped user id (BSUID).
    sender = msg.get("from", "").removeprefix("+") or msg.get("from_user_id")
    if not sender and len(contacts) == 1:
        sender = _str(contacts[0], "user_id")
    if not sender:
        raise InvalidPayloadError("no sender (from, from_user_id or contact user_id)")
    return str(sender)


def _sender_name(contacts: list[dict[str, Any]], msg: dict[str, Any], sender: str) -> str | None:
    for contact in contacts:
        ids = {_str(contact, "wa_id"), _str(contact, "user_id")} - {None}
        if sender in ids or msg.get("from_user_id") in ids:
            return _str(contact.get("profile"), "name")
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
