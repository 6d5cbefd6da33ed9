"""Inbound channels: each module turns one webhook payload into the items it carries (models.Inbound).

An item is a message the person wrote (InboundMessage), a change they made to one they sent earlier (MessageChange:
an edit or a delete), or an echo of a message the business sent them (BusinessEcho). Changes and echoes carry the
conversation key of the conversation the person's messages live in, so they reach that conversation's buffer.

The rule for every channel (docs/architecture.md, issue 18): the channel's envelope is checked by its schema, and a
body that is not that envelope is a 400. Inside a genuine envelope each item (a WhatsApp message or echo, an
Instagram messaging event, a Telegram message or edit) is checked on its own: one the product cannot use is reported
to `Skip` (without personal data) and left out, never a reason to refuse the rest, since Meta redelivers anything
but a 200 for up to 7 days and Telegram for a day.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from debouncer import schemas
from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import BusinessEcho, InboundMessage, MessageChange

# Told why an item was left out: a JSON path and a rule, never a value (values are user content or user ids).
Skip = Callable[[str], None]


def ignore(reason: str) -> None:
    """The default Skip: callers that do not log (tests, replay) lose nothing but the reason."""


# DynamoDB key limits: the conversation key is a partition key (2048 bytes), and a message id goes into a sort key
# (1024 bytes, behind a short prefix). Real ids are far shorter; longer ones are a bad payload, not a failed write.
MAX_KEY_BYTES = {"conversation_key": 2048, "message_id": 1000}


Item = TypeVar("Item", InboundMessage, MessageChange, BusinessEcho)


def build_message(**fields: Any) -> InboundMessage:
    """An InboundMessage, with a model rejection reported as a bad payload (400) rather than a crash (500)."""
    return _build(InboundMessage, "message", fields)


def build_change(**fields: Any) -> MessageChange:
    """A MessageChange (an edit or a delete), with a model rejection reported as a bad payload, as build_message."""
    return _build(MessageChange, str(fields.get("change", "change")), fields)


def build_echo(**fields: Any) -> BusinessEcho:
    """A BusinessEcho, with a model rejection reported as a bad payload, as build_message."""
    return _build(BusinessEcho, "echo", fields)


def _build(model: type[Item], what: str, fields: dict[str, Any]) -> Item:
    # Not the message id in any reason: a wamid encodes the sender's number, and reasons are logged when an item is
    # skipped. `what` names the item ("whatsapp edit"), so a reason says which kind of item was refused.
    what = f"{fields.get('channel')} {what}"
    for name, limit in MAX_KEY_BYTES.items():
        value = fields.get(name)
        if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > limit:
            raise InvalidPayloadError(f"{what}: {name} is over {limit} bytes")
    try:
        item = model(**fields)
        # A lone surrogate (a "\ud800" escape) passes plain str fields and fails only when the item is written. A
        # message's document is the very text the webhook measures and stores (cached), so it is the one tried.
        _ = item.document if isinstance(item, InboundMessage) else item.model_dump_json()
    except ValidationError as e:
        # Field names only: pydantic's own text embeds the input, which may be the user's message.
        where = ", ".join(".".join(str(p) for p in err["loc"]) for err in e.errors())
        raise InvalidPayloadError(f"{what}: invalid {where}") from e
    except PydanticSerializationError as e:
        raise InvalidPayloadError(f"{what}: a string holds a lone surrogate, which is not Unicode text") from e
    return item


def location_text(latitude: float, longitude: float, name: str | None = None, address: str | None = None) -> str:
    """A shared location as text the AI can read: "name, address (lat, long)"."""
    place = ", ".join(p for p in (name, address) if p)
    coordinates = f"{latitude}, {longitude}"
    return f"{place} ({coordinates})" if place else coordinates


@cache
def _part_validator(channel: str, definition: str) -> Draft202012Validator:
    schema = schemas.schema(channel)
    root = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    return Draft202012Validator(root)


def problem(channel: str, definition: str, instance: Any, where: str) -> str | None:
    """Why `instance` fails `$defs/<definition>` of the channel schema, as "<where><path>: <rule>"; else None."""
    error = best_match(_part_validator(channel, definition).iter_errors(instance))
    if error is None:
        return None
    # The wording of debouncer.schemas, which names the rule and never quotes the value.
    return where + schemas._describe(error).removeprefix("$")
