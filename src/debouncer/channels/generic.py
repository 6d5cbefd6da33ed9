"""Generic JSON channel: our own HMAC-signed contract for any other source."""

from __future__ import annotations

import math
import time
from typing import Any, Final

from debouncer import schemas
from debouncer.channels import build_message
from debouncer.errors import InvalidPayloadError
from debouncer.models import InboundMessage, MediaRef, conversation_key

CHANNEL: Final = "generic"
ACCOUNT_ID: Final = "default"

# MIME top-level types that are a media kind of their own; any other type is a document.
MEDIA_KINDS: Final = frozenset({"image", "audio", "video"})


def normalize(payload: dict[str, Any], *, now_ms: int | None = None) -> list[InboundMessage]:
    """The one message in a generic body (text, media or both); `now_ms` stamps bodies without a timestamp."""
    schemas.validate(CHANNEL, payload)
    seconds = payload.get("timestamp")
    # Python's json parser accepts NaN, which passes every numeric bound of the schema.
    if seconds is not None and not math.isfinite(seconds):
        raise InvalidPayloadError("generic payload: $.timestamp: must be a finite number")
    if seconds is not None:
        timestamp_ms = round(seconds * 1000)
    else:
        timestamp_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    conversation: str = payload["conversation_id"]
    media = tuple(_media_ref(item) for item in payload.get("media", ()))
    return [
        build_message(
            channel=CHANNEL,
            account_id=ACCOUNT_ID,
            conversation_key=conversation_key(CHANNEL, ACCOUNT_ID, conversation),
            sender_id=conversation,
            recipient_id=conversation,
            message_id=payload["message_id"],
            timestamp_ms=timestamp_ms,
            kind=media[0].kind if media else "text",
            text=payload.get("text"),
            media=media,
        )
    ]


def media_kind(mime_type: str) -> str:
    """image, audio or video from the MIME type's top-level type; anything else is a document."""
    top = mime_type.split("/", 1)[0].strip().lower()
    return top if top in MEDIA_KINDS else "document"


def _media_ref(item: dict[str, Any]) -> MediaRef:
    mime_type: str = item["mime_type"]
    return MediaRef(kind=media_kind(mime_type), ref=item["url"], mime_type=mime_type, filename=item.get("filename"))
