"""Domain models at the edges: normalized inbound messages and what a burst turns into."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["whatsapp", "telegram", "instagram", "generic"]
CHANNELS: tuple[Channel, ...] = ("whatsapp", "telegram", "instagram", "generic")

# Hard cap on one message's text: keeps a full buffer item far below DynamoDB's 400 KB item limit.
MAX_TEXT_CHARS = 16_384


class MediaRef(BaseModel):
    """A non-text part of a message: kept as a typed reference, never dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(description="image|video|audio|voice|document|sticker|file|share|location|contacts|...")
    ref: str | None = Field(default=None, description="WhatsApp media id, Telegram file_id or Instagram CDN URL")
    mime_type: str | None = None
    filename: str | None = None


class InboundMessage(BaseModel):
    """One user-authored message, normalized from any channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel
    account_id: str = Field(min_length=1, description="our side: WA phone_number_id, TG bot id, IG account id")
    conversation_key: str = Field(min_length=1, description="channel#account#user: one buffer per key")
    sender_id: str = Field(min_length=1, description="the user who wrote the message")
    recipient_id: str = Field(min_length=1, description="where the reply goes: WA wa_id, TG chat.id, IG IGSID")
    message_id: str = Field(min_length=1, description="dedupe key, unique per channel account")
    timestamp_ms: int = Field(ge=0)
    kind: str = Field(default="text", description="text, or the media kind of a placeholder")
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    media: tuple[MediaRef, ...] = ()
    reply_to: str | None = None
    thread_id: str | None = Field(default=None, description="Telegram forum topic; replies go to the same thread")
    sender_name: str | None = None

    @cached_property
    def document(self) -> str:
        """The message as one compact JSON document: what the buffer stores, and what its size is measured on.

        Computed once per message (the webhook checks it, measures it and writes it); raises
        PydanticSerializationError for a string pydantic cannot encode (a lone surrogate).
        """
        return self.model_dump_json(exclude_defaults=True)

    def render(self) -> str:
        """The text the AI sees: the message text, with a typed placeholder for each media part."""
        parts = [f"[{m.kind}{': ' + m.ref if m.ref else ''}]" for m in self.media]
        if self.text:
            parts.append(self.text)
        if not parts:
            parts.append(f"[{self.kind}]")
        return " ".join(parts)


class MessageChange(BaseModel):
    """The person edited, or deleted ("unsent"), a message they sent earlier.

    It applies only to a message still waiting in its conversation's open burst: an edit replaces its text (and moves
    the quiet deadline), a delete removes it. A change to a message already answered changes nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel
    account_id: str = Field(min_length=1)
    conversation_key: str = Field(min_length=1)
    message_id: str = Field(min_length=1, description="the id of the message changed, as its own InboundMessage has it")
    change: Literal["edit", "delete"]
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS, description="an edit's new text (or caption)")
    changed_at_ms: int = Field(ge=0, description="when the change was made: of two edits, the later one wins")


class BusinessEcho(BaseModel):
    """A message the business account sent to the person, as the channel echoes it back.

    `human` is true when the channel guarantees a person typed it (a WhatsApp Business app echo: the Cloud API never
    echoes its own sends); otherwise (Instagram echoes every send) it was a human only if the product did not send
    `message_id` itself. A human answering from the business inbox pauses the bot (handoff).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel
    account_id: str = Field(min_length=1)
    conversation_key: str = Field(min_length=1)
    recipient_id: str = Field(min_length=1, description="the person the business wrote to")
    message_id: str = Field(min_length=1)
    timestamp_ms: int = Field(ge=0)
    human: bool = False


# What one webhook item becomes: a message of the person's, a change to one, or an echo of the business's own.
Inbound = InboundMessage | MessageChange | BusinessEcho


def conversation_key(channel: Channel, account_id: str, user: str) -> str:
    """Key of the one buffer item per conversation (docs/architecture.md, The data model)."""
    return f"{channel}#{account_id}#{user}"
