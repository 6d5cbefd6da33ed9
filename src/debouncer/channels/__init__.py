"""Inbound channels: each module turns one webhook payload into the user messages it carries."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from debouncer.errors import InvalidPayloadError
from debouncer.models import InboundMessage


def build_message(**fields: Any) -> InboundMessage:
    """An InboundMessage, with a model rejection reported as a bad payload (400) rather than a crash (500)."""
    try:
        return InboundMessage(**fields)
    except ValidationError as e:
        # Field names only: pydantic's own text embeds the input, which may be the user's message.
        where = ", ".join(".".join(str(p) for p in err["loc"]) for err in e.errors())
        raise InvalidPayloadError(
            f"{fields.get('channel')} message {fields.get('message_id')!r}: invalid {where}"
        ) from e


def location_text(latitude: float, longitude: float, name: str | None = None, address: str | None = None) -> str:
    """A shared location as text the AI can read: "name, address (lat, long)"."""
    place = ", ".join(p for p in (name, address) if p)
    coordinates = f"{latitude}, {longitude}"
    return f"{place} ({coordinates})" if place else coordinates
