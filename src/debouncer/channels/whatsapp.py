"""WhatsApp Cloud API: webhook notification to InboundMessages, edits, revokes and echoes (channels.md §1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from debouncer import schemas
from debouncer.channels import Skip, build_change, build_echo, build_message, ignore, location_text, problem
from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import BusinessEcho, Inbound, InboundMessage, MediaRef, MessageChange, conversation_key

CHANNEL: Final = "whatsapp"

# Not user turns (channels.md §1.3b, §4): a reaction annotates an earlier message, `system` is a number or identity
# change, `unsupported` carries no content (`unknown` is its name before Graph API v13), and `request_welcome` is the
# user opening the chat for the first time.
IGNORED_TYPES = frozenset({"reaction", "system", "unsupported", "unknown", "request_welcome"})
# Interactive replies that are not chat input: the user answering a request to call them.
IGNORED_INTERACTIVE = frozenset({"call_permission_reply"})
# Message types that change an earlier message rather than add one: an edit, and a revoke (deleted for everyone).
CHANGE_TYPES = frozenset({"edit", "revoke"})
# Edited content whose new text we read: a text's body, or a media message's caption.
CAPTIONED = frozenset({"image", "video", "document"})


def normalize(payload: dict[str, Any], *, on_skip: Skip = ignore) -> list[Inbound]:
    """Every inbound user message, edit and revoke, and every business-app echo, across all entries and changes.

    Messages, edits and revokes come on field `messages`; echoes of what a person sent from the WhatsApp Business
    app on the same number (coexistence) on field `smb_message_echoes`. Any other field is ignored. A message or
    echo that cannot be used (no id, no sender...) is reported to `on_skip` and left out; a message whose type object
    is missing or unreadable is kept as a typed placeholder.
    """
    schemas.validate(CHANNEL, payload)
    out: list[Inbound] = []
    for e, entry in enumerate(payload["entry"]):
        for c, change in enumerate(entry["changes"]):
            # statuses, errors, calls, template and account updates: never user input.
            if change["field"] not in READERS:
                continue
            value = change["value"]
            account_id = value["metadata"]["phone_number_id"]
            # Read defensively, for names and business-scoped ids only: never a reason to refuse the messages.
            listed = value.get("contacts")
            contacts = [contact for contact in listed if isinstance(contact, dict)] if isinstance(listed, list) else []
            where = f"$.entry[{e}].changes[{c}].value"
            out += READERS[change["field"]](account_id, contacts, value, where, on_skip)
    return out


def _messages(
    account_id: str, contacts: list[dict[str, Any]], value: dict[str, Any], where: str, on_skip: Skip
) -> list[Inbound]:
    out: list[Inbound] = []
    for m, msg in enumerate(value.get("messages", [])):
        at = f"{where}.messages[{m}]"
        if _ignored(msg):
            continue
        if reason := problem(CHANNEL, "message", msg, at):
            on_skip(reason)
            continue
        try:
            if msg["type"] in CHANGE_TYPES:
                if (changed := _change(account_id, contacts, msg, at, on_skip)) is not None:
                    out.append(changed)
            else:
                out.append(_message(account_id, contacts, msg, at, on_skip))
        except InvalidPayloadError as error:
            on_skip(f"{at}: {error}")
    return out


def _echoes(
    account_id: str, contacts: list[dict[str, Any]], value: dict[str, Any], where: str, on_skip: Skip
) -> list[Inbound]:
    """Every business-app echo: a person answering from the WhatsApp Business app, whatever they sent.

    The Cloud API never echoes its own sends, so each echo (text, media, even an edit or a revoke of the business's
    own message) is a human at work in that conversation: human=True.
    """
    out: list[Inbound] = []
    for m, echo in enumerate(value.get("message_echoes", [])):
        at = f"{where}.message_echoes[{m}]"
        if reason := problem(CHANNEL, "echo", echo, at):
            on_skip(reason)
            continue
        try:
            out.append(_echo(account_id, contacts, echo))
        except InvalidPayloadError as error:
            on_skip(f"{at}: {error}")
    return out


Reader = Callable[[str, list[dict[str, Any]], dict[str, Any], str, Skip], list[Inbound]]
# The change fields read, each with its own value schema (`$defs/change` checks their metadata).
READERS: Final[dict[str, Reader]] = {"messages": _messages, "smb_message_echoes": _echoes}


def _ignored(msg: Any) -> bool:
    if not isinstance(msg, dict):
        return False  # not a message at all: reported by the schema check
    # A type that is no string is no hashable set member either: left to the schema check, which reports it.
    kind = msg.get("type")
    if isinstance(kind, str) and kind in IGNORED_TYPES:
        return True
    interactive = msg.get("interactive")
    reply = interactive.get("type") if kind == "interactive" and isinstance(interactive, dict) else None
    return isinstance(reply, str) and reply in IGNORED_INTERACTIVE


def _message(
    account_id: str, contacts: list[dict[str, Any]], msg: dict[str, Any], where: str, on_skip: Skip
) -> InboundMessage:
    sender = _sender(contacts, msg)
    user = _user(msg, sender)
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


def _change(
    account_id: str, contacts: list[dict[str, Any]], msg: dict[str, Any], where: str, on_skip: Skip
) -> MessageChange | None:
    """An edit or a revoke of the person's message `original_message_id`, keyed like that message.

    An edit's text is the new text body, or the new caption of a media message (None: the caption was removed). An
    edit of content we do not read is reported and left out rather than applied as an empty text. The edit's own id
    (the outer `id`) is not kept: applying the same edit twice changes nothing.
    """
    kind: str = msg["type"]
    # Unlike a message's, a change's type object is all there is: without it there is nothing to apply.
    reason = f"{where}.{kind}: is required" if kind not in msg else problem(CHANNEL, kind, msg[kind], f"{where}.{kind}")
    if reason:
        on_skip(reason)
        return None
    body: dict[str, Any] = msg[kind]
    text: str | None = None
    if kind == "edit":
        new: dict[str, Any] = body["message"]
        inner: str = new["type"]
        if inner == "text":
            text = new["text"]["body"]
        elif inner in CAPTIONED:
            text = new[inner].get("caption")
        else:
            on_skip(f"{where}.edit.message.type: an edit of a type whose text is not read")
            return None
    return build_change(
        channel=CHANNEL,
        account_id=account_id,
        conversation_key=conversation_key(CHANNEL, account_id, _user(msg, _sender(contacts, msg))),
        message_id=body["original_message_id"],
        change="edit" if kind == "edit" else "delete",
        text=text,
        changed_at_ms=int(msg["timestamp"]) * 1000,
    )


def _echo(account_id: str, contacts: list[dict[str, Any]], echo: dict[str, Any]) -> BusinessEcho:
    # `from` is our own number; the person is `to`, found and keyed as `from` is on their own messages.
    user = _user(echo, _party(contacts, echo, "to"))
    return build_echo(
        channel=CHANNEL,
        account_id=account_id,
        conversation_key=conversation_key(CHANNEL, account_id, user),
        recipient_id=user,
        message_id=echo["id"],
        timestamp_ms=int(echo["timestamp"]) * 1000,
        human=True,
    )


def _user(msg: dict[str, Any], person: str) -> str:
    # A Groups API group is one conversation, whoever writes in it.
    group: str | None = msg.get("group_id")
    return group or person


def _content_problem(msg: dict[str, Any], kind: str, where: str) -> str | None:
    if kind not in schemas.schema(CHANNEL)["$defs"]["content"]["properties"]:
        return None  # a type we do not model: read defensively by _content
    if kind not in msg:
        return f"{where}.{kind}: is required"
    return problem(CHANNEL, "content", {kind: msg[kind]}, where)


def _sender(contacts: list[dict[str, Any]], msg: dict[str, Any]) -> str:
    return _party(contacts, msg, "from")


def _party(contacts: list[dict[str, Any]], msg: dict[str, Any], side: str) -> str:
    """The person on `side` ("from" on their messages, "to" on our echoes): their number, else their BSUID."""
    # Users with a username may hide their number: Meta then sends only the business-scoped user id (BSUID).
    person = msg.get(side, "").removeprefix("+") or msg.get(f"{side}_user_id")
    if not person and len(contacts) == 1:
        person = _str(contacts[0], "user_id")
    if not person:
        raise InvalidPayloadError(f"no {_PARTY[side]} ({side}, {side}_user_id or contact user_id)")
    return str(person)


_PARTY: Final = {"from": "sender", "to": "recipient"}


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
