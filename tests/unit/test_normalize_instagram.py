"""Instagram webhook normalization: fixtures from channels.md, echoes and receipts ignored, schema failures."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.payloads import load

from debouncer.channels import instagram
from debouncer.errors import InvalidPayloadError
from debouncer.models import InboundMessage, MediaRef

ACCOUNT = "17841400000000001"
USER = "1059000000000042"
KEY = f"instagram#{ACCOUNT}#{USER}"
# The fixtures' mids differ in one base64 group: MQ, Mg, Mw encode "1", "2", "3".
MID = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMw"
    "MTI0NDI1OTQ5NDM0MzI5NjgwMjAw{}ZDZD"
)


def inbound(mid: str, timestamp_ms: int, **fields: Any) -> InboundMessage:
    """A message from the fixture user to the fixture account."""
    return InboundMessage(
        channel="instagram",
        account_id=ACCOUNT,
        conversation_key=KEY,
        sender_id=USER,
        recipient_id=USER,
        message_id=mid,
        timestamp_ms=timestamp_ms,
        **fields,
    )


def notification(*events: dict[str, Any], **entry: Any) -> dict[str, Any]:
    """An Instagram notification with one entry for the fixture account."""
    return {"object": "instagram", "entry": [{"id": ACCOUNT, "time": 1, "messaging": list(events), **entry}]}


def event(**body: Any) -> dict[str, Any]:
    """A messaging[] item from the fixture user."""
    return {"sender": {"id": USER}, "recipient": {"id": ACCOUNT}, "timestamp": 1749416383201, **body}


def test_text_dm() -> None:
    assert instagram.normalize(load("instagram_text_dm")) == [
        inbound(MID.format("MQ"), 1749416383201, kind="text", text="Hi, do you ship to Canada?"),
    ]


def test_image_then_story_reply_in_one_post() -> None:
    image_url = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1800000000000001&signature=AbCdEf"
    assert instagram.normalize(load("instagram_image_and_story_reply")) == [
        inbound(MID.format("Mg"), 1749416390005, kind="image", media=(MediaRef(kind="image", ref=image_url),)),
        inbound(
            MID.format("Mw"), 1749416391880, kind="text", text="Is this one in stock?", reply_to="18000000000000003"
        ),
    ]


def test_echo_of_our_reply_is_ignored() -> None:
    assert instagram.normalize(load("instagram_echo")) == []


def test_read_receipt_and_reaction_are_ignored() -> None:
    assert instagram.normalize(load("instagram_read_and_reaction")) == []


def test_message_sent_by_our_account_is_ignored_even_without_the_echo_flag() -> None:
    ours = event(message={"mid": "m1", "text": "typed by a human in the app"})
    ours["sender"], ours["recipient"] = {"id": ACCOUNT}, {"id": USER}
    assert instagram.normalize(notification(ours)) == []


@pytest.mark.parametrize("flag", ["is_echo", "is_deleted", "is_unsupported"])
def test_flagged_messages_are_ignored(flag: str) -> None:
    assert instagram.normalize(notification(event(message={"mid": "m1", "text": "x", flag: True}))) == []


def test_false_flags_do_not_drop_a_message() -> None:
    message = {"mid": "m1", "text": "x", "is_echo": False, "is_deleted": False}
    assert [m.message_id for m in instagram.normalize(notification(event(message=message)))] == ["m1"]


@pytest.mark.parametrize(
    "body",
    [
        {"referral": {"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"}},
        {"message_edit": {"mid": "m1", "text": "edited", "num_edit": 1}},
        {"reaction": {"mid": "m1", "action": "unreact"}},
        {"read": {"mid": "m1"}},
    ],
)
def test_non_message_events_are_ignored(body: dict[str, Any]) -> None:
    assert instagram.normalize(notification(event(**body))) == []


def test_standby_and_changes_are_ignored() -> None:
    standby = [event(message={"mid": "m1", "text": "for the other app"})]
    changes = [{"field": "comments", "value": {"id": "c1", "text": "nice"}}]
    payload = notification(standby=standby, changes=changes)
    del payload["entry"][0]["messaging"]
    assert instagram.normalize(payload) == []


def test_postback_is_answered_as_its_title() -> None:
    tap = event(postback={"mid": "p1", "title": "What are your opening hours?", "payload": "HOURS"})
    assert instagram.normalize(notification(tap)) == [
        inbound("p1", 1749416383201, kind="postback", text="What are your opening hours?"),
    ]


def test_postback_without_title_is_a_placeholder() -> None:
    [msg] = instagram.normalize(notification(event(postback={"mid": "p1", "payload": "HOURS"})))
    assert (msg.kind, msg.text, msg.render()) == ("postback", None, "[postback]")


def test_several_attachments_are_all_kept_and_the_first_sets_the_kind() -> None:
    attachments = [
        {"type": "video", "payload": {"url": "https://cdn/v"}},
        {"type": "ig_reel", "payload": {"url": "https://cdn/r", "title": "reel", "reel_video_id": "9"}},
        {"type": "story_mention", "payload": {"url": "https://cdn/s"}},
        {"type": "template", "payload": {"generic": {}}},
    ]
    [msg] = instagram.normalize(notification(event(message={"mid": "m1", "text": "look", "attachments": attachments})))
    assert (msg.kind, msg.text) == ("video", "look")
    assert msg.media == (
        MediaRef(kind="video", ref="https://cdn/v"),
        MediaRef(kind="ig_reel", ref="https://cdn/r"),
        MediaRef(kind="story_mention", ref="https://cdn/s"),
        MediaRef(kind="template"),
    )


def test_reply_to_a_message_keeps_its_mid() -> None:
    [msg] = instagram.normalize(notification(event(message={"mid": "m2", "text": "yes", "reply_to": {"mid": "m1"}})))
    assert msg.reply_to == "m1"


def test_message_with_neither_text_nor_attachments_is_a_placeholder() -> None:
    [msg] = instagram.normalize(notification(event(message={"mid": "m1"})))
    assert (msg.kind, msg.text, msg.media) == ("unknown", None, ())


def test_messages_from_several_entries_keep_their_accounts() -> None:
    other = {"id": "17841400000000002", "time": 1, "messaging": [event(message={"mid": "m2", "text": "b"})]}
    payload = notification(event(message={"mid": "m1", "text": "a"}))
    payload["entry"].append(other)
    assert [m.conversation_key for m in instagram.normalize(payload)] == [KEY, f"instagram#17841400000000002#{USER}"]


def skipped(payload: dict[str, Any]) -> tuple[list[InboundMessage], list[str]]:
    """The messages normalized from `payload`, and the reasons reported for what was left out."""
    reasons: list[str] = []
    return instagram.normalize(payload, on_skip=reasons.append), reasons


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"object": "page", "entry": []}, "$.object"),
        ({"object": "instagram"}, "$.entry"),
        (notification(event(message={"mid": "m"}), id=17841400000000001), "$.entry[0].id"),
        (notification(messaging={}), "$.entry[0].messaging"),
    ],
)
def test_a_body_that_is_not_the_envelope_fails_naming_the_field(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidPayloadError, match=f"^instagram payload: {re.escape(where)}:"):
        instagram.normalize(payload)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (event(message={"text": "x"}), "message.mid: is required"),
        (event(message={"mid": "m", "text": 5}), "message.text: must be of type string"),
        (event(message={"mid": "m", "attachments": [{}]}), "message.attachments[0].type: is required"),
        (event(message={"mid": "m", "is_echo": "true"}), "message.is_echo: must be of type boolean"),
        (event(postback={"title": "x"}), "postback.mid: is required"),
        (event(timestamp="1749416383201", message={"mid": "m"}), "timestamp: must be of type integer"),
        (event(sender={"id": 1059000000000042}, message={"mid": "m"}), "sender.id: must be of type string"),
    ],
)
def test_an_event_that_cannot_be_used_is_skipped_naming_the_field(bad: dict[str, Any], reason: str) -> None:
    # The notification is genuine: answered 200 (Meta would redeliver, then unsubscribe), the other events kept.
    messages, reasons = skipped(notification(bad, event(message={"mid": "m.ok", "text": "kept"})))
    assert [m.message_id for m in messages] == ["m.ok"]
    assert reasons == [f"$.entry[0].messaging[0].{reason}"]


@pytest.mark.parametrize(
    "body",
    [
        {"message_edit": {"mid": "m", "text": "edited", "num_edit": 1}},
        {"referral": {"ref": "summer", "source": "IGME", "type": "OPEN_THREAD"}},
        {"read": "not even an object"},
        {"optin": {"type": "notification_messages"}},
    ],
)
def test_events_other_than_messages_and_postbacks_are_not_read_whatever_their_shape(body: dict[str, Any]) -> None:
    assert skipped(notification(event(**body))) == ([], [])


def test_lone_surrogate_in_an_attachment_type_is_skipped_not_a_crash() -> None:
    # Found by the webhook fuzzer: the kind is a plain str field, so "\ud800" failed only in the serializer (500).
    attachment = {"type": "image\ud800", "payload": {"url": "https://x/1"}}
    messages, [reason] = skipped(notification(event(message={"mid": "m.1", "attachments": [attachment]})))
    assert messages == [] and "lone surrogate" in reason
