"""Generic JSON channel: our own HMAC-signed contract for any other source, one item per body.

`type` says what the body is: "message" (the default) is a message the person wrote; "edit" and "delete" change one
they wrote earlier, named by `message_id`; "agent_reply" says a human agent answered the person (so the bot steps
back). The body is the whole envelope, so anything wrong with it is a 400.
"""

from __future__ import annotations

import math
import time
from typing import Any, Final

from debouncer import schemas
from debouncer.channels import build_change, build_echo, build_message
from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import Inbound, MediaRef, conversation_key

CHANNEL: Final = "generic"
ACCOUNT_ID: Final = "default"

# MIME top-level types that are a media kind of their own; any other type is a document.
MEDIA_KINDS: Final = frozenset({"image", "audio", "video"})

# Fields a body of each type must not carry, and why: a combination we cannot honour is refused, never half-applied.
NOT_ALLOWED: Final[dict[str, dict[str, str]]] = {
    "edit": {"media": "an edit replaces the text (or caption) only"},
    "delete": {"text": "a delete carries no content", "media": "a delete carries no content"},
}


def normalize(payload: dict[str, Any], *, now_ms: int | None = None) -> list[Inbound]:
    """The one item in a generic body; `now_ms` stamps bodies without a timestamp.

    A message (text, media or both) is an InboundMessage; an edit (new `text`) or a delete is a MessageChange of the
    message `message_id`, at `timestamp`; an agent_reply is a BusinessEcho(human=True) to the conversation, whose
    text and media, if given, are what the agent sent and are not kept.
    """
    schemas.validate(CHANNEL, payload)
    kind: str = payload.get("type", "message")
    for field, why in NOT_ALLOWED.get(kind, {}).items():
        if field in payload:
            raise InvalidPayloadError(f'generic payload: $.{field}: is not allowed with type "{kind}": {why}')
    seconds = payload.get("timestamp")
    # Python's json parser accepts NaN, which passes every numeric bound of the schema.
    if seconds is not None and not math.isfinite(seconds):
        raise InvalidPayloadError("generic payload: $.timestamp: must be a finite number")
    if seconds is not None:
        timestamp_ms = round(seconds * 1000)
    else:
        timestamp_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    conversation: str = payload["conversation_id"]
    account: str = payload.get("account", ACCOUNT_ID)
    key = conversation_key(CHANNEL, account, conversation)
    message_id: str = payload["message_id"]
    if kind in ("edit", "delete"):
        change = build_change(
            channel=CHANNEL,
            account_id=account,
            conversation_key=key,
            message_id=message_id,
            change=kind,
            text=payload.get("text"),
            changed_at_ms=timestamp_ms,
        )
        return [change]
    if kind == "agent_reply":
        echo = build_echo(
            channel=CHANNEL,
            account_id=account,
            conversation_key=key,
            recipient_id=conversation,
            message_id=message_id,
            timestamp_ms=timestamp_ms,
            human=True,
        )
        return [echo]
    media = tuple(_media_ref(item) for item in payload.get("media", ()))
    message = build_message(
        channel=CHANNEL,
        account_id=account,
        conversation_key=key,
        sender_id=conversation,
        recipient_id=conversation,
        message_id=message_id,
        timestamp_ms=timestamp_ms,
        kind=media[0].kind if media else "text",
        text=payload.get("text"),
        media=media,
    )
    return [message]


def media_kind(mime_type: str) -> str:
    """image, audio or video from the MIME type's top-level type; anything else is a document."""
    top = mime_type.split("/", 1)[0].strip().lower()
    return top if top in MEDIA_KINDS else "document"


def _media_ref(item: dict[str, Any]) -> MediaRef:
    mime_type: str = item["mime_type"]
    return MediaRef(kind=media_kind(mime_type), ref=item["url"], mime_type=mime_type, filename=item.get("filename"))
