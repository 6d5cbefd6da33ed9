"""Instagram webhook normalization: channels.md fixtures, edits, unsends, echoes, receipts ignored, schema failures."""

from __future__ import annotations

import re
from typing import Any, Literal

import pytest
from tests import builders
from tests.payloads import load

from debouncer.channels import instagram
from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import MAX_TEXT_CHARS, BusinessEcho, Inbound, InboundMessage, MediaRef, MessageChange

ACCOUNT = "17841400000000001"
USER = "1059000000000042"
KEY = f"instagram#{ACCOUNT}#{USER}"
# The fixtures' mids differ in one base64 group: MQ, Mg, Mw encode "1", "2", "3".
MID = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMw"
    "MTI0NDI1OTQ5NDM0MzI5NjgwMjAw{}ZDZD"
)


def only_messages(items: list[Inbound]) -> list[InboundMessage]:
    """`items`, each asserted to be a message: what a test expects when its payload holds no change or echo."""
    assert all(isinstance(i, InboundMessage) for i in items), items
    return [i for i in items if isinstance(i, InboundMessage)]


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


def test_echo_of_our_reply_is_an_echo_to_the_person_never_assumed_human() -> None:
    # channels.md §3.2.3. Instagram echoes the product's own replies too: only the product knows whether it sent the
    # mid, so the normalizer never claims a human typed it.
    assert instagram.normalize(load("instagram_echo")) == [
        BusinessEcho(
            channel="instagram",
            account_id=ACCOUNT,
            conversation_key=KEY,
            recipient_id=USER,
            message_id=MID.format("NA"),
            timestamp_ms=1749416400100,
            human=False,
        )
    ]


def test_read_receipt_and_reaction_are_ignored() -> None:
    assert instagram.normalize(load("instagram_read_and_reaction")) == []


def test_message_sent_by_our_account_is_an_echo_even_without_the_echo_flag() -> None:
    ours = event(message={"mid": "m1", "text": "typed by a human in the app"})
    ours["sender"], ours["recipient"] = {"id": ACCOUNT}, {"id": USER}
    [echo] = instagram.normalize(notification(ours))
    assert echo == BusinessEcho(
        channel="instagram",
        account_id=ACCOUNT,
        conversation_key=KEY,
        recipient_id=USER,
        message_id="m1",
        timestamp_ms=1749416383201,
        human=False,
    )


def test_unsupported_messages_are_ignored() -> None:
    assert skipped(notification(event(message={"mid": "m1", "text": "x", "is_unsupported": True}))) == ([], [])


def test_false_flags_do_not_drop_a_message() -> None:
    message = {"mid": "m1", "text": "x", "is_echo": False, "is_deleted": False}
    assert [m.message_id for m in instagram.normalize(notification(event(message=message)))] == ["m1"]


@pytest.mark.parametrize(
    "body",
    [
        {"referral": {"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"}},
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
    [msg] = only_messages(instagram.normalize(notification(event(postback={"mid": "p1", "payload": "HOURS"}))))
    assert (msg.kind, msg.text, msg.render()) == ("postback", None, "[postback]")


def test_several_attachments_are_all_kept_and_the_first_sets_the_kind() -> None:
    attachments = [
        {"type": "video", "payload": {"url": "https://cdn/v"}},
        {"type": "ig_reel", "payload": {"url": "https://cdn/r", "title": "reel", "reel_video_id": "9"}},
        {"type": "story_mention", "payload": {"url": "https://cdn/s"}},
        {"type": "template", "payload": {"generic": {}}},
    ]
    [msg] = only_messages(
        instagram.normalize(notification(event(message={"mid": "m1", "text": "look", "attachments": attachments})))
    )
    assert (msg.kind, msg.text) == ("video", "look")
    assert msg.media == (
        MediaRef(kind="video", ref="https://cdn/v"),
        MediaRef(kind="ig_reel", ref="https://cdn/r"),
        MediaRef(kind="story_mention", ref="https://cdn/s"),
        MediaRef(kind="template"),
    )


def test_reply_to_a_message_keeps_its_mid() -> None:
    [msg] = only_messages(
        instagram.normalize(notification(event(message={"mid": "m2", "text": "yes", "reply_to": {"mid": "m1"}})))
    )
    assert msg.reply_to == "m1"


def test_message_with_neither_text_nor_attachments_is_a_placeholder() -> None:
    [msg] = only_messages(instagram.normalize(notification(event(message={"mid": "m1"}))))
    assert (msg.kind, msg.text, msg.media) == ("unknown", None, ())


def test_messages_from_several_entries_keep_their_accounts() -> None:
    other = {"id": "17841400000000002", "time": 1, "messaging": [event(message={"mid": "m2", "text": "b"})]}
    payload = notification(event(message={"mid": "m1", "text": "a"}))
    payload["entry"].append(other)
    assert [m.conversation_key for m in instagram.normalize(payload)] == [KEY, f"instagram#17841400000000002#{USER}"]


def skipped(payload: dict[str, Any]) -> tuple[list[Inbound], list[str]]:
    """The items normalized from `payload`, and the reasons reported for what was left out."""
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
        {"referral": {"ref": "summer", "source": "IGME", "type": "OPEN_THREAD"}},
        {"read": "not even an object"},
        {"optin": {"type": "notification_messages"}},
    ],
)
def test_events_other_than_messages_postbacks_and_edits_are_not_read_whatever_their_shape(body: dict[str, Any]) -> None:
    assert skipped(notification(event(**body))) == ([], [])


def test_lone_surrogate_in_an_attachment_type_is_skipped_not_a_crash() -> None:
    # Found by the webhook fuzzer: the kind is a plain str field, so "\ud800" failed only in the serializer (500).
    attachment = {"type": "image\ud800", "payload": {"url": "https://x/1"}}
    messages, [reason] = skipped(notification(event(message={"mid": "m.1", "attachments": [attachment]})))
    assert messages == [] and "lone surrogate" in reason


# --- edits, unsends and echoes ---------------------------------------------------------------------------------------


def change(mid: str, kind: Literal["edit", "delete"], changed_at_ms: int, text: str | None = None) -> MessageChange:
    """A change the fixture user made to their message `mid`."""
    return MessageChange(
        channel="instagram",
        account_id=ACCOUNT,
        conversation_key=KEY,
        message_id=mid,
        change=kind,
        text=text,
        changed_at_ms=changed_at_ms,
    )


def test_message_edit_is_an_edit_of_the_dm_it_names() -> None:
    # The fixture edits the text DM of instagram_text_dm (its mid ends in MQ). changed_at_ms is the event timestamp
    # plus num_edit (1 here), so that a later edit with the same timestamp still wins.
    assert instagram.normalize(load("instagram_message_edit")) == [
        change(MID.format("MQ"), "edit", 1749416799003 + 1, text="Hi, do you ship to Canada and the US?"),
    ]


def test_unsent_message_is_a_delete_of_its_mid() -> None:
    [payload_mid] = [e["message"]["mid"] for e in load("instagram_deleted")["entry"][0]["messaging"]]
    assert instagram.normalize(load("instagram_deleted")) == [change(payload_mid, "delete", 1749416799004)]


def test_edit_unsend_and_echo_key_the_conversation_of_the_dm() -> None:
    [dm] = instagram.normalize(builders.instagram(USER, "m1", "meet at 5", ts_ms=1_000))
    items = [
        *instagram.normalize(builders.instagram_edit(USER, "m1", "meet at 6", ts_ms=2_000)),
        *instagram.normalize(builders.instagram_unsend(USER, "m1", ts_ms=3_000)),
        *instagram.normalize(builders.instagram_echo(USER, "m2", "see you", ts_ms=4_000)),
        *instagram.normalize(builders.instagram_echo(USER, "m3", "typed in the app", ts_ms=5_000, flagged=False)),
    ]
    assert [type(i).__name__ for i in items] == ["MessageChange", "MessageChange", "BusinessEcho", "BusinessEcho"]
    assert {i.conversation_key for i in items} == {dm.conversation_key}
    assert [i.message_id for i in items] == ["m1", "m1", "m2", "m3"]
    assert [i.human for i in items if isinstance(i, BusinessEcho)] == [False, False]


def test_a_later_edit_orders_later_even_with_the_same_timestamp() -> None:
    first, second = (
        instagram.normalize(notification(event(message_edit={"mid": "m1", "text": t, "num_edit": n})))
        for t, n in (("one", 1), ("two", 2))
    )
    assert isinstance(first[0], MessageChange) and isinstance(second[0], MessageChange)
    assert first[0].changed_at_ms < second[0].changed_at_ms


def test_edit_without_num_edit_is_dated_by_its_event() -> None:
    assert instagram.normalize(notification(event(message_edit={"mid": "m1", "text": "fixed"}))) == [
        change("m1", "edit", 1749416383201, text="fixed"),
    ]


def test_echo_flag_wins_over_unsent_and_unsupported_but_our_own_unsend_is_nothing() -> None:
    echo = event(message={"mid": "m1", "is_echo": True, "is_unsupported": True})
    echo["sender"], echo["recipient"] = {"id": ACCOUNT}, {"id": USER}
    unsent_echo = event(message={"mid": "m2", "is_echo": True, "is_deleted": True})
    unsent_echo["sender"], unsent_echo["recipient"] = {"id": ACCOUNT}, {"id": USER}
    items, reasons = skipped(notification(echo, unsent_echo))
    assert [(type(i).__name__, i.message_id) for i in items] == [("BusinessEcho", "m1")] and reasons == []


def test_our_own_edits_and_postbacks_are_not_the_persons() -> None:
    edit = event(message_edit={"mid": "m1", "text": "fixed", "num_edit": 1})
    tap = event(postback={"mid": "p1", "title": "Hours"})
    for ours in (edit, tap):
        ours["sender"], ours["recipient"] = {"id": ACCOUNT}, {"id": USER}
    assert skipped(notification(edit, tap)) == ([], [])


def test_dms_edits_unsends_and_echoes_in_one_post_keep_their_order() -> None:
    echo = event(message={"mid": "e1", "text": "hi", "is_echo": True})
    echo["sender"], echo["recipient"] = {"id": ACCOUNT}, {"id": USER}
    payload = notification(
        event(message={"mid": "m1", "text": "a"}),
        event(message_edit={"mid": "m1", "text": "b", "num_edit": 1}),
        echo,
        event(message={"mid": "m1", "is_deleted": True}),
        event(read={"mid": "e1"}),
    )
    assert [(type(i).__name__, i.message_id) for i in instagram.normalize(payload)] == [
        ("InboundMessage", "m1"),
        ("MessageChange", "m1"),
        ("BusinessEcho", "e1"),
        ("MessageChange", "m1"),
    ]


def _echo_to(recipient: Any) -> dict[str, Any]:
    echo = event(message={"mid": "e1", "text": "hi", "is_echo": True})
    echo["sender"], echo["recipient"] = {"id": ACCOUNT}, {"id": recipient}
    return echo


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (event(message_edit={"mid": "m1"}), "message_edit.text: is required"),
        (event(message_edit={"text": "fixed"}), "message_edit.mid: is required"),
        (event(message_edit={"mid": "", "text": "fixed"}), "message_edit.mid: must be at least 1 characters"),
        (event(message_edit={"mid": "m1", "text": 5}), "message_edit.text: must be of type string"),
        (
            event(message_edit={"mid": "m1", "text": "x", "num_edit": "one"}),
            "message_edit.num_edit: must match ^[0-9]{1,6}$",
        ),
        (event(message_edit={"mid": "m1", "text": "x", "num_edit": -1}), "message_edit.num_edit: must be >= 0"),
        (event(message_edit="fixed"), "message_edit: must be of type object"),
        (event(message={"mid": "m1", "is_deleted": "yes"}), "message.is_deleted: must be of type boolean"),
        (_echo_to(1059000000000042), "recipient.id: must be of type string"),
    ],
)
def test_an_edit_unsend_or_echo_that_cannot_be_used_is_skipped_naming_the_field(
    bad: dict[str, Any], reason: str
) -> None:
    # Inside a genuine notification: answered 200, the other events kept (Meta would redeliver, then unsubscribe).
    items, reasons = skipped(notification(bad, event(message={"mid": "m.ok", "text": "kept"})))
    assert [i.message_id for i in items] == ["m.ok"]
    assert reasons == [f"$.entry[0].messaging[0].{reason}"]


def test_edit_over_the_model_cap_is_skipped_without_echoing_it() -> None:
    items, reasons = skipped(notification(event(message_edit={"mid": "m1", "text": "q" * (MAX_TEXT_CHARS + 1)})))
    assert items == [] and reasons == ["$.entry[0].messaging[0]: instagram edit: invalid text"]


def test_echo_whose_key_cannot_be_stored_is_skipped() -> None:
    items, [reason] = skipped(notification(_echo_to("9" * 2100)))
    assert items == [] and reason == "$.entry[0].messaging[0]: instagram echo: conversation_key is over 2048 bytes"


def test_num_edit_given_as_digits_as_in_metas_own_example_is_read() -> None:
    # Meta's message_edits reference quotes it ("num_edit": "<INT>"): an edit is never lost over its type.
    assert instagram.normalize(notification(event(message_edit={"mid": "m1", "text": "fixed", "num_edit": "2"}))) == [
        change("m1", "edit", 1749416383201 + 2, text="fixed"),
    ]
