"""Every payload shape the channels document (channels.md §1.3, §1.3b, §1.4, §2.3, §3.2, §4, and every Update kind of
the Bot API), posted correctly signed through the real webhook: all answered 200 (issue 18: a channel redelivers
anything else, Meta for 7 days); chat input answered once, everything else never."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from debouncer.channels import generic, instagram, telegram, whatsapp
from debouncer.domain.models import BusinessEcho, Inbound, InboundMessage
from debouncer.local.runtime import LocalRuntime
from tests import payloads
from tests.conftest import RuntimeFactory, executions_settled, wait_for
from tests.unit.test_schemas import INBOUND

# How many messages each fixture carries into a burst; 0: not chat input, never answered.
CHAT_INPUT = {
    "whatsapp_text_message": 1,
    "whatsapp_multi_message": 3,
    "whatsapp_other_types": 3,  # interactive reply, location, document; the reaction is not a turn
    "whatsapp_button": 1,
    "whatsapp_interactive_degraded": 1,  # the user tapped something Meta could not pass on: a typed placeholder
    # sticker, contacts, video, voice, order, Flows reply, text from an ad, forwarded text; request_welcome is not
    "whatsapp_more_types": 8,
    "telegram_text_message": 1,
    "telegram_photo_album": 1,
    "telegram_group_message": 1,
    "telegram_voice_message": 1,
    "instagram_text_dm": 1,
    "instagram_image_and_story_reply": 2,
    "instagram_postback": 1,
    "instagram_quick_reply_share_and_mention": 4,  # quick reply, shared post, story mention, message from an ad
    "generic_text_message": 1,
}
CORPUS = [(channel, name) for channel, names in INBOUND.items() for name in names]
# The optional fields of the Bot API's Update object (core.telegram.org/bots/api#update, Bot API 9.x).
TELEGRAM_UPDATE_KINDS = {
    *("message", "edited_message", "channel_post", "edited_channel_post", "business_connection", "business_message"),
    *("edited_business_message", "deleted_business_messages", "message_reaction", "message_reaction_count"),
    *("inline_query", "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query"),
    *("purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_member", "chat_join_request"),
    *("chat_boost", "removed_chat_boost"),
}

# The fixtures' user and chat ids, replaced by one unique id per fixture so each is a conversation of its own.
USER_IDS = {
    "whatsapp": ["16505551234"],
    "telegram": ["123456789", "987654321", "-1001234567890"],
    "instagram": ["1059000000000042"],
    "generic": ["customer-42"],
}


def test_the_corpus_covers_every_documented_kind() -> None:
    assert set(CHAT_INPUT) <= {name for _, name in CORPUS}
    # Telegram: every Update kind the Bot API documents (besides update_id), each in a fixture of its own.
    telegram_kinds = {next(k for k in payloads.load(name) if k != "update_id") for c, name in CORPUS if c == "telegram"}
    assert telegram_kinds >= TELEGRAM_UPDATE_KINDS
    assert len(CORPUS) >= 62


def _unique(channel: str, raw: bytes, n: int) -> tuple[bytes, list[str]]:
    """The fixture with its users made unique, and the ids they became (where replies would go)."""
    text = raw.decode()
    ids = []
    for i, user in enumerate(USER_IDS[channel]):
        digits = f"{uuid.uuid4().int % 10**6:06d}{n:03d}{i}"
        new = ("-100" + digits) if user.startswith("-") else ("1" + digits if user[0].isdigit() else f"c-{digits}")
        text, count = re.subn(rf"(?<![0-9]){re.escape(user)}(?![0-9])", new, text)
        if count:
            ids.append(new)
    return text.encode(), ids


def _post(runtime: LocalRuntime, channel: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    status, _, body = runtime.http(
        "POST", f"/webhook/{channel}", body=raw, headers=payloads.signed_headers(channel, raw)
    )
    return status, json.loads(body)


def test_every_documented_payload_is_a_200_and_only_chat_input_is_answered_once(
    start_runtime: RuntimeFactory,
) -> None:
    runtime = start_runtime()
    answered: dict[str, str] = {}  # fixture -> the one recipient its reply goes to
    silent: dict[str, list[str]] = {}  # fixture -> ids that must never get a reply

    # WHEN every fixture is posted, each as a conversation of its own
    for n, (channel, name) in enumerate(CORPUS):
        raw, ids = _unique(channel, payloads.raw(name), n)
        status, answer = _post(runtime, channel, raw)

        # THEN each is a 200, accepting exactly its chat input
        expected = {"accepted": CHAT_INPUT.get(name, 0), "duplicates": 0}
        if handoffs := _human_echoes(channel, raw):
            expected["handoffs"] = handoffs
        assert (status, answer) == (200, expected), name
        if name in CHAT_INPUT:
            messages = _normalize(channel, raw)
            [recipient] = {m.recipient_id for m in messages}
            answered[name] = recipient
        else:
            silent[name] = ids

    # THEN each chat input gets one reply with all its messages, once everything settled; nothing else is answered
    wait_for(lambda: {e["recipient"] for e in runtime.outbox.entries()} >= set(answered.values()), timeout=60)
    wait_for(lambda: executions_settled(runtime), timeout=60)
    replies = runtime.outbox.entries()
    for name, recipient in answered.items():
        to_it = [e for e in replies if e["recipient"] == recipient]
        assert len(to_it) == 1 and len(to_it[0]["message_ids"]) == CHAT_INPUT[name], (name, to_it)
    assert len(replies) == len(answered), replies
    never = {user for ids in silent.values() for user in ids}
    assert [e for e in replies if e["recipient"] in never] == []
    assert runtime.dead_letters() == []


def _normalize(channel: str, raw: bytes) -> list[InboundMessage]:
    return [item for item in _items(channel, raw) if isinstance(item, InboundMessage)]


def _human_echoes(channel: str, raw: bytes) -> int:
    """Echoes the product never sent (a corpus payload is no reply of ours): each is a human answering, a handoff."""
    return sum(isinstance(item, BusinessEcho) for item in _items(channel, raw))


def _items(channel: str, raw: bytes) -> list[Inbound]:
    payload = json.loads(raw)
    if channel == "whatsapp":
        return whatsapp.normalize(payload)
    if channel == "instagram":
        return instagram.normalize(payload)
    if channel == "telegram":
        return telegram.normalize(payload, bot_id="bot")
    return generic.normalize(payload)
