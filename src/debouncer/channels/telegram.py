"""Telegram Bot API: one Update to at most one InboundMessage (channels.md §2)."""

from __future__ import annotations

from typing import Any, Final

from debouncer import schemas
from debouncer.channels import Skip, build_message, ignore, location_text, problem
from debouncer.errors import InvalidPayloadError
from debouncer.models import InboundMessage, MediaRef, conversation_key

CHANNEL: Final = "telegram"

# animation comes before document: Telegram also sets `document` on an animation, for old clients.
FILE_KINDS = ("animation", "document", "video", "video_note", "audio", "voice", "sticker")

# User-authored content we pass on as a typed placeholder only.
PLACEHOLDER_KINDS = ("poll", "dice", "game", "story", "invoice", "paid_media", "giveaway", "checklist")

# Service messages: chat events, not something the user wrote. Anything neither content nor listed here
# becomes an "unknown" placeholder, so a content type Telegram adds later is never dropped silently.
SERVICE_KEYS = frozenset(
    {
        "new_chat_members",
        "left_chat_member",
        "new_chat_title",
        "new_chat_photo",
        "delete_chat_photo",
        "group_chat_created",
        "supergroup_chat_created",
        "channel_chat_created",
        "message_auto_delete_timer_changed",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "pinned_message",
        "successful_payment",
        "refunded_payment",
        "users_shared",
        "chat_shared",
        "gift",
        "unique_gift",
        "connected_website",
        "write_access_allowed",
        "passport_data",
        "proximity_alert_triggered",
        "boost_added",
        "chat_background_set",
        "checklist_tasks_done",
        "checklist_tasks_added",
        "direct_message_price_changed",
        "paid_message_price_changed",
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
        "general_forum_topic_hidden",
        "general_forum_topic_unhidden",
        "giveaway_created",
        "giveaway_completed",
        "giveaway_winners",
        "video_chat_scheduled",
        "video_chat_started",
        "video_chat_ended",
        "video_chat_participants_invited",
        "web_app_data",
    }
)


def normalize(payload: dict[str, Any], bot_id: str, *, on_skip: Skip = ignore) -> list[InboundMessage]:
    """The user message in one Update; edits, channel posts, callbacks, member updates and bots yield [].

    A `message` that cannot be used is reported to `on_skip` and yields [] too: the Update itself was genuine.
    """
    schemas.validate(CHANNEL, payload)
    if "message" not in payload:
        return []  # every other kind of update: edited_message, channel_post, callback_query, my_chat_member...
    msg = payload["message"]
    if reason := problem(CHANNEL, "message", msg, "$.message"):
        on_skip(reason)
        return []
    try:
        return _normalize(msg, bot_id)
    except InvalidPayloadError as error:
        on_skip(f"$.message: {error}")
        return []


def _normalize(msg: dict[str, Any], bot_id: str) -> list[InboundMessage]:
    # A channel post mirrored into its linked discussion group is the channel talking, not a user.
    if msg.get("is_automatic_forward"):
        return []
    sender = _sender(msg)
    content = _content(msg)
    if sender is None or content is None:
        return []
    sender_id, sender_name = sender
    kind, text, media = content
    chat_id = str(msg["chat"]["id"])
    thread = msg.get("message_thread_id")
    user = f"{chat_id}/{thread}" if thread is not None else chat_id
    return [
        build_message(
            channel=CHANNEL,
            account_id=bot_id,
            conversation_key=conversation_key(CHANNEL, bot_id, user),
            sender_id=sender_id,
            recipient_id=chat_id,
            # message_id is only unique within a chat.
            message_id=f"{chat_id}:{msg['message_id']}",
            timestamp_ms=msg["date"] * 1000,
            kind=kind,
            text=text,
            media=media,
            reply_to=_reply_to(msg, chat_id, thread),
            thread_id=str(thread) if thread is not None else None,
            sender_name=sender_name,
        )
    ]


def _sender(msg: dict[str, Any]) -> tuple[str, str | None] | None:
    # On behalf of a chat (anonymous admin, "send as channel"), `from` is a placeholder bot user.
    if chat := msg.get("sender_chat"):
        return str(chat["id"]), chat.get("title")
    user = msg.get("from")
    if user is None or user["is_bot"]:
        return None
    name = " ".join(n for n in (user.get("first_name"), user.get("last_name")) if n) or user.get("username")
    return str(user["id"]), name


def _content(msg: dict[str, Any]) -> tuple[str, str | None, tuple[MediaRef, ...]] | None:
    text: str | None = msg.get("text") or msg.get("caption")
    if photo := msg.get("photo"):
        largest = max(photo, key=lambda size: size["width"] * size["height"])
        return "image", text, (MediaRef(kind="image", ref=largest["file_id"]),)
    for kind in FILE_KINDS:
        if file := msg.get(kind):
            ref = MediaRef(
                kind=kind, ref=file["file_id"], mime_type=file.get("mime_type"), filename=file.get("file_name")
            )
            return kind, text, (ref,)
    # venue before location: a venue message carries both.
    if venue := msg.get("venue"):
        where = venue["location"]
        place = location_text(where["latitude"], where["longitude"], venue.get("title"), venue.get("address"))
        return "location", place, (MediaRef(kind="location"),)
    if where := msg.get("location"):
        return "location", location_text(where["latitude"], where["longitude"]), (MediaRef(kind="location"),)
    if card := msg.get("contact"):
        parts = (card.get("first_name"), card.get("last_name"), card["phone_number"])
        return "contacts", " ".join(p for p in parts if p), (MediaRef(kind="contacts"),)
    for kind in PLACEHOLDER_KINDS:
        if kind in msg:
            return kind, text, ()
    if text is not None:
        return "text", text, ()
    if SERVICE_KEYS & msg.keys():
        return None
    return "unknown", None, ()


def _reply_to(msg: dict[str, Any], chat_id: str, thread: int | None) -> str | None:
    replied = msg.get("reply_to_message")
    # In a forum topic every message "replies" to the topic's first message; that is not a quote.
    if replied is None or replied["message_id"] == thread:
        return None
    return f"{chat_id}:{replied['message_id']}"
