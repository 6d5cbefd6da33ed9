"""Generic JSON channel: our own HMAC-signed contract for any other source."""

from __future__ import annotations

import math
import time
from typing import Any, Final

from debouncer import schemas
from debouncer.channels import build_message
from debouncer.errors import InvalidPayloadError
from debouncer.models import InboundMessage, conversation_key

CHANNEL: Final = "generic"
ACCOUNT_ID: Final = "default"


def normalize(payload: dict[str, Any], *, now_ms: int | None = None) -> list[InboundMessage]:
    """The one text message in a generic body; `now_ms` stamps bodies without a timestamp."""
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
    return [
        build_message(
            channel=CHANNEL,
            account_id=ACCOUNT_ID,
            conversation_key=conversation_key(CHANNEL, ACCOUNT_ID, conversation),
            sender_id=conversation,
            recipient_id=conversation,
            message_id=payload["message_id"],
            timestamp_ms=timestamp_ms,
            text=payload["text"],
        )
    ]
