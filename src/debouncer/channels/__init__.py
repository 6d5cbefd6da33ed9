"""Inbound channels: each module turns one webhook payload into the user messages it carries."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from debouncer.errors import InvalidPayloadError
from debouncer.models import InboundMessage

# DynamoDB key limits: the conversation key is a partition key (2048 bytes), and a message id goes into a sort key
# (1024 bytes, behind a short prefix). Real ids are far shorter; longer ones are a bad payload, not a failed write.
MAX_KEY_BYTES = {"conversation_key": 2048, "message_id": 1000}


def build_message(**fields: Any) -> InboundMessage:
    """An InboundMessage, with a model rejection reported as a bad payload (400) rather than a crash (500)."""
    channel = fields.get("channel")
    for name, limit in MAX_KEY_BYTES.items():
        value = fields.get(name)
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > limit:
            raise InvalidPayloadError(f"{channel} message: {name} is over {limit} bytes")
    what = f"{channel} message {fields.get('message_id')!r}"
    try:
        message = InboundMessage(**fields)
        # A lone surrogate (a "\ud800" escape) passes plain str fields and fails only when the message is written.
        _ = message.document
    except ValidationError as e:
        # Field names only: pydantic's own text embeds the input, which may be the user's message.
        where = ", ".join(".".join(str(p) for p in err["loc"]) for err in e.errors())
        raise InvalidPayloadError(f"{what}: invalid {where}") from e
    except PydanticSerializationError as e:
        raise InvalidPayloadError(f"{what}: a string holds a lone surrogate, which is not Unicode text") from e
    return message


def location_text(latitude: float, longitude: float, name: str | None = None, address: str | None = None) -> str:
    """A shared location as text the AI can read: "name, address (lat, long)"."""
    place = ", ".join(p for p in (name, address) if p)
    coordinates = f"{latitude}, {longitude}"
    return f"{place} ({coordinates})" if place else coordinates
