"""WhatsApp webhook normalization: channels.md fixtures, edits, revokes, echoes, ignored events, schema failures."""

from __future__ import annotations

import copy
from typing import Any, Literal

import pytest
from tests import builders
from tests.payloads import load

from debouncer.channels import whatsapp
from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import MAX_TEXT_CHARS, BusinessEcho, Inbound, InboundMessage, MediaRef, MessageChange

ACCOUNT = "106540352242922"
USER = "16505551234"
KEY = f"whatsapp#{ACCOUNT}#{USER}"
# The fixtures' wamids differ in one base64 group: MDAx, MDAy, ... encode "001", "002", ...
WAMID = {
    n: f"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUFBMDAwMDAwMDAwMDAwMD{group}AA=="
    for n, group in {1: "Ax", 2: "Ay", 3: "Az", 4: "A0", 5: "A1", 7: "A3", 8: "A4"}.items()
}


def only_messages(items: list[Inbound]) -> list[InboundMessage]:
    """`items`, each asserted to be a message: what a test expects when its payload holds no change or echo."""
    assert all(isinstance(i, InboundMessage) for i in items), items
    return [i for i in items if isinstance(i, InboundMessage)]


def expected(n: int, ts: int, **fields: Any) -> InboundMessage:
    """The message fields every fixture message shares, plus the given ones."""
    base: dict[str, Any] = {
        "channel": "whatsapp",
        "account_id": ACCOUNT,
        "conversation_key": KEY,
        "sender_id": USER,
        "recipient_id": USER,
        "message_id": WAMID[n],
        "timestamp_ms": ts * 1000,
        "sender_name": "Sheena Nelson",
    }
    return InboundMessage(**(base | fields))


def with_messages(*messages: dict[str, Any], contacts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The single-text fixture with its messages (and optionally contacts) replaced."""
    payload = copy.deepcopy(load("whatsapp_text_message"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = list(messages)
    if contacts is not None:
        value["contacts"] = contacts
    return payload


def skipped(payload: dict[str, Any]) -> tuple[list[Inbound], list[str]]:
    """The items normalized from `payload`, and the reasons reported for those left out or degraded."""
    reasons: list[str] = []
    return whatsapp.normalize(payload, on_skip=reasons.append), reasons


def message(type_: str, **fields: Any) -> dict[str, Any]:
    """One inbound message of `type_` from the fixture user."""
    return {"from": USER, "id": "wamid.TEST", "timestamp": "1749416383", "type": type_, **fields}


def test_single_text_message() -> None:
    assert whatsapp.normalize(load("whatsapp_text_message")) == [
        expected(1, 1749416383, text="Hi, do you ship to Canada?"),
    ]


def test_one_post_with_text_image_and_voice_note_keeps_order() -> None:
    assert whatsapp.normalize(load("whatsapp_multi_message")) == [
        expected(2, 1749416390, text="Also, this one:"),
        expected(
            3,
            1749416391,
            kind="image",
            text="Do you have it in blue?",
            media=(MediaRef(kind="image", ref="1003383421387256", mime_type="image/jpeg"),),
        ),
        expected(
            4,
            1749416395,
            kind="voice",
            media=(MediaRef(kind="voice", ref="1214541180295581", mime_type="audio/ogg; codecs=opus"),),
        ),
    ]


def test_other_types_drop_the_reaction_and_keep_the_rest() -> None:
    assert whatsapp.normalize(load("whatsapp_other_types")) == [
        expected(
            5,
            1749416400,
            kind="interactive",
            text="Cancel",
            reply_to="wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCMDAwMDAwMDAwMDAwMDAwMQA=",
        ),
        expected(
            7,
            1749416402,
            kind="location",
            text="Pablo Morales, 1 Hacker Way, Menlo Park, CA 94025 (37.483307, -122.148981)",
            media=(MediaRef(kind="location"),),
        ),
        expected(
            8,
            1749416403,
            kind="document",
            text="My invoice",
            media=(
                MediaRef(
                    kind="document", ref="2144734132711214", mime_type="application/pdf", filename="invoice-2025-06.pdf"
                ),
            ),
        ),
    ]


def test_statuses_are_not_messages() -> None:
    assert whatsapp.normalize(load("whatsapp_statuses")) == []


def test_statuses_next_to_messages_are_skipped_but_messages_kept() -> None:
    payload = load("whatsapp_text_message")
    payload["entry"][0]["changes"][0]["value"]["statuses"] = load("whatsapp_statuses")["entry"][0]["changes"][0][
        "value"
    ]["statuses"]
    assert [m.message_id for m in whatsapp.normalize(payload)] == [WAMID[1]]


@pytest.mark.parametrize("field", ["smb_app_state_sync", "account_update", "history"])
def test_fields_other_than_messages_and_echoes_are_ignored(field: str) -> None:
    payload = load("whatsapp_text_message")
    payload["entry"][0]["changes"][0]["field"] = field
    assert whatsapp.normalize(payload) == []


def test_field_other_than_messages_does_not_need_metadata() -> None:
    payload = load("whatsapp_text_message")
    payload["entry"][0]["changes"][0] = {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}
    assert whatsapp.normalize(payload) == []


@pytest.mark.parametrize(
    ("type_", "body"),
    [
        ("reaction", {"message_id": "wamid.X", "emoji": "\U0001f44d"}),
        ("reaction", {"message_id": "wamid.X"}),
        ("system", {"body": "changed number", "type": "user_changed_number", "wa_id": "1"}),
        ("unsupported", {}),
        ("request_welcome", {}),
    ],
)
def test_non_user_turns_are_ignored(type_: str, body: dict[str, Any]) -> None:
    assert whatsapp.normalize(with_messages(message(type_, **{type_: body}))) == []


def test_every_entry_and_change_is_read() -> None:
    payload = load("whatsapp_text_message")
    second_change = copy.deepcopy(payload["entry"][0]["changes"][0])
    second_change["value"]["metadata"]["phone_number_id"] = "200000000000001"
    second_change["value"]["messages"][0]["id"] = "wamid.SECOND"
    payload["entry"][0]["changes"].append(second_change)
    payload["entry"].append(copy.deepcopy(payload["entry"][0]))
    payload["entry"][1]["changes"][0]["value"]["messages"][0]["id"] = "wamid.THIRD"
    payload["entry"][1]["changes"].pop()
    result = whatsapp.normalize(payload)
    assert [(m.account_id, m.message_id) for m in result] == [
        (ACCOUNT, WAMID[1]),
        ("200000000000001", "wamid.SECOND"),
        (ACCOUNT, "wamid.THIRD"),
    ]
    assert result[1].conversation_key == f"whatsapp#200000000000001#{USER}"


@pytest.mark.parametrize(
    ("type_", "body", "kind", "text", "media"),
    [
        (
            "video",
            {"id": "v1", "mime_type": "video/mp4", "sha256": "x", "caption": "look"},
            "video",
            "look",
            MediaRef(kind="video", ref="v1", mime_type="video/mp4"),
        ),
        (
            "audio",
            {"id": "a1", "mime_type": "audio/mpeg", "voice": False},
            "audio",
            None,
            MediaRef(kind="audio", ref="a1", mime_type="audio/mpeg"),
        ),
        (
            "sticker",
            {"id": "s1", "mime_type": "image/webp", "animated": False},
            "sticker",
            None,
            MediaRef(kind="sticker", ref="s1", mime_type="image/webp"),
        ),
        # A type we do not model yet keeps its media id.
        (
            "ptv",
            {"id": "p1", "mime_type": "video/mp4"},
            "ptv",
            None,
            MediaRef(kind="ptv", ref="p1", mime_type="video/mp4"),
        ),
    ],
)
def test_media_types(type_: str, body: dict[str, Any], kind: str, text: str | None, media: MediaRef) -> None:
    [msg] = only_messages(whatsapp.normalize(with_messages(message(type_, **{type_: body}))))
    assert (msg.kind, msg.text, msg.media) == (kind, text, (media,))


def test_unknown_type_without_media_is_a_placeholder_not_dropped() -> None:
    order = {"catalog_id": "c1", "product_items": [{"product_retailer_id": "sku-1", "quantity": 2}]}
    [msg] = only_messages(whatsapp.normalize(with_messages(message("order", order=order))))
    assert (msg.kind, msg.text, msg.media) == ("order", None, ())
    assert msg.render() == "[order]"


def test_unknown_type_fields_of_the_wrong_type_are_not_trusted() -> None:
    [msg] = only_messages(whatsapp.normalize(with_messages(message("newtype", newtype={"id": 42, "caption": ["x"]}))))
    assert (msg.kind, msg.text, msg.media) == ("newtype", None, ())


def test_list_reply_and_button_text() -> None:
    list_reply = {"type": "list_reply", "list_reply": {"id": "r1", "title": "Tuesday", "description": "9-12"}}
    button = {"payload": "STOP", "text": "Stop promotions"}
    result = only_messages(
        whatsapp.normalize(
            with_messages(message("interactive", interactive=list_reply), message("button", button=button))
        )
    )
    assert [(m.kind, m.text) for m in result] == [("interactive", "Tuesday"), ("button", "Stop promotions")]


def test_contacts_message_renders_names_and_phones() -> None:
    cards = [
        {"name": {"formatted_name": "Barbara Johnson"}, "phones": [{"phone": "+1 650 555 0001"}]},
        {"name": {"formatted_name": "Ali"}, "phones": []},
    ]
    [msg] = only_messages(whatsapp.normalize(with_messages(message("contacts", contacts=cards))))
    assert (msg.kind, msg.text, msg.media) == (
        "contacts",
        "Barbara Johnson +1 650 555 0001; Ali",
        (MediaRef(kind="contacts"),),
    )


def test_location_without_name_is_just_coordinates() -> None:
    [msg] = only_messages(
        whatsapp.normalize(with_messages(message("location", location={"latitude": 1.5, "longitude": -2})))
    )
    assert msg.text == "1.5, -2"


def test_leading_plus_is_stripped_from_sender() -> None:
    [msg] = only_messages(
        whatsapp.normalize(with_messages(message("text", text={"body": "hi"}) | {"from": "+16505551234"}))
    )
    assert (msg.sender_id, msg.recipient_id, msg.conversation_key) == (USER, USER, KEY)
    assert msg.sender_name == "Sheena Nelson"


def test_username_user_without_phone_is_keyed_by_business_scoped_id() -> None:
    msg_ = {"from_user_id": "US.13491208655302741918", "id": "wamid.U", "timestamp": "1", "type": "text"}
    contacts = [{"profile": {"name": "Kim"}, "user_id": "US.13491208655302741918"}]
    [msg] = only_messages(whatsapp.normalize(with_messages(msg_ | {"text": {"body": "hi"}}, contacts=contacts)))
    assert msg.sender_id == "US.13491208655302741918"
    assert msg.conversation_key == f"whatsapp#{ACCOUNT}#US.13491208655302741918"
    assert msg.sender_name == "Kim"


def test_sender_falls_back_to_the_only_contacts_user_id() -> None:
    msg_ = {"id": "wamid.U", "timestamp": "1", "type": "text", "text": {"body": "hi"}}
    [msg] = only_messages(
        whatsapp.normalize(with_messages(msg_, contacts=[{"user_id": "BR.1", "profile": {"name": "Rui"}}]))
    )
    assert (msg.sender_id, msg.sender_name) == ("BR.1", "Rui")


def test_message_without_any_sender_is_skipped_and_the_rest_kept() -> None:
    msg_ = {"id": "wamid.U", "timestamp": "1", "type": "text", "text": {"body": "hi"}}
    items, reasons = skipped(with_messages(msg_, message("text", text={"body": "kept"}), contacts=[]))
    assert [m.text for m in only_messages(items)] == ["kept"]
    assert reasons == ["$.entry[0].changes[0].value.messages[0]: no sender (from, from_user_id or contact user_id)"]


def test_unknown_sender_has_no_name() -> None:
    [msg] = only_messages(
        whatsapp.normalize(with_messages(message("text", text={"body": "hi"}) | {"from": "4400000000"}))
    )
    assert msg.sender_name is None


def test_group_message_is_keyed_and_answered_by_group() -> None:
    [msg] = only_messages(
        whatsapp.normalize(with_messages(message("text", text={"body": "hi"}, group_id="120363000000000001")))
    )
    assert msg.conversation_key == f"whatsapp#{ACCOUNT}#120363000000000001"
    assert (msg.sender_id, msg.recipient_id) == (USER, "120363000000000001")


def test_text_over_the_model_cap_is_skipped_without_echoing_it() -> None:
    messages, reasons = skipped(with_messages(message("text", text={"body": "x" * (MAX_TEXT_CHARS + 1)})))
    assert messages == []
    assert reasons == ["$.entry[0].changes[0].value.messages[0]: whatsapp message: invalid text"]


def _set(path: list[str | int], value: Any) -> dict[str, Any]:
    payload = load("whatsapp_multi_message")
    target: Any = payload
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


_DELETE = object()
_MSGS: list[str | int] = ["entry", 0, "changes", 0, "value", "messages"]


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["object"], "instagram", "$.object"),
        (["entry"], {}, "$.entry"),
        (["entry", 0, "changes", 0, "value", "metadata"], _DELETE, "$.entry[0].changes[0].value.metadata"),
        (
            ["entry", 0, "changes", 0, "value", "metadata", "phone_number_id"],
            106540352242922,
            "$.entry[0].changes[0].value.metadata.phone_number_id",
        ),
        ([*_MSGS], {}, "$.entry[0].changes[0].value.messages"),
    ],
)
def test_a_body_that_is_not_the_envelope_fails_naming_the_field(path: list[str | int], value: Any, where: str) -> None:
    with pytest.raises(InvalidPayloadError) as caught:
        whatsapp.normalize(_set(path, value))
    assert f"whatsapp payload: {where}:" in str(caught.value)


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ([*_MSGS, 0, "timestamp"], 1749416390, "messages[0].timestamp: must be of type string"),
        ([*_MSGS, 0, "timestamp"], "2025-06-08", "messages[0].timestamp: must match ^[0-9]{1,12}$"),
        ([*_MSGS, 0, "id"], _DELETE, "messages[0].id: is required"),
        ([*_MSGS, 0, "id"], "", "messages[0].id: must be at least 1 characters"),
        ([*_MSGS, 0, "from"], 16505551234, "messages[0].from: must be of type string"),
        ([*_MSGS, 0], "not a message", "messages[0]: must be of type object"),
    ],
)
def test_a_message_that_cannot_be_used_is_skipped_naming_the_field(
    path: list[str | int], value: Any, reason: str
) -> None:
    # Inside a genuine envelope: answered 200, the other messages of the batch kept (Meta would redeliver a 4xx).
    messages, reasons = skipped(_set(path, value))
    assert [m.message_id for m in messages] == [WAMID[3], WAMID[4]]
    assert reasons == [f"$.entry[0].changes[0].value.{reason}"]


@pytest.mark.parametrize(
    ("path", "value", "kind", "reason"),
    [
        ([*_MSGS, 0, "text"], _DELETE, "text", "messages[0].text: is required"),
        ([*_MSGS, 0, "text", "body"], None, "text", "messages[0].text.body: must be of type string"),
        ([*_MSGS, 1, "image", "id"], _DELETE, "image", "messages[1].image.id: is required"),
        ([*_MSGS, 2, "audio", "voice"], "yes", "audio", "messages[2].audio.voice: must be of type boolean"),
    ],
)
def test_a_message_whose_content_cannot_be_read_is_a_typed_placeholder(
    path: list[str | int], value: Any, kind: str, reason: str
) -> None:
    items, reasons = skipped(_set(path, value))
    messages = only_messages(items)
    degraded = next(m for m in messages if m.kind == kind and m.text is None and m.media == ())
    assert degraded.render() == f"[{kind}]"
    assert len(messages) == 3
    assert reasons == [f"$.entry[0].changes[0].value.{reason}; kept as a [{kind}] placeholder"]


def test_degraded_interactive_without_its_object_is_a_placeholder_not_a_400() -> None:
    # channels.md §1.3b: Meta sends an interactive message without `interactive` when it had errors (issue 18).
    degraded = message("interactive", errors=[{"code": 131051, "title": "Message type unknown"}])
    [msg] = only_messages(whatsapp.normalize(with_messages(degraded)))
    assert (msg.kind, msg.text, msg.render()) == ("interactive", None, "[interactive]")


def test_identity_change_system_message_is_not_chat_input() -> None:
    body = {"body": "identity changed", "type": "customer_identity_changed", "identity": "x"}
    assert skipped(with_messages(message("system", system=body))) == ([], [])


def test_call_permission_reply_is_not_chat_input() -> None:
    reply = {"type": "call_permission_reply", "call_permission_reply": {"response": "accept", "is_permanent": False}}
    assert skipped(with_messages(message("interactive", interactive=reply))) == ([], [])


def test_malformed_contacts_are_not_trusted_but_do_not_cost_the_message() -> None:
    contacts: list[Any] = [
        {"wa_id": ["16505551234"], "profile": "Sheena"},
        "x",
        {"wa_id": USER, "profile": {"name": 5}},
    ]
    [msg] = only_messages(whatsapp.normalize(with_messages(message("text", text={"body": "hi"}), contacts=contacts)))
    assert (msg.sender_id, msg.sender_name) == (USER, None)


# Found by the webhook fuzzer (tests/fuzz): each was a 5xx, or a message accepted that could never be stored.


def test_lone_surrogate_in_a_media_id_is_skipped_not_a_crash() -> None:
    # json.loads turns the escape "\ud800" into a lone surrogate; only str fields with a length limit rejected it,
    # so it reached DynamoDB's serializer and the webhook answered 500.
    lone = with_messages(message("image", image={"id": "\ud800", "mime_type": "image/jpeg"}))
    messages, [reason] = skipped(lone)
    assert messages == [] and "lone surrogate" in reason


@pytest.mark.parametrize("field", ["type", "context"])
def test_lone_surrogate_in_kind_or_reply_to_is_skipped(field: str) -> None:
    msg = message("text", text={"body": "hi"})
    if field == "type":
        msg |= {"type": "order\udfff", "order\udfff": {}}
    else:
        msg["context"] = {"id": "wamid.\ud83d"}
    messages, [reason] = skipped(with_messages(msg))
    assert messages == [] and "lone surrogate" in reason


def test_sender_too_long_for_a_dynamodb_key_is_skipped_not_a_retry() -> None:
    # The conversation key is the partition key (2048 bytes at most): DynamoDB refused the write and the webhook
    # answered 503, so WhatsApp would have redelivered for a week.
    long_sender = "1" * 2100
    messages, [reason] = skipped(with_messages(message("text", text={"body": "hi"}) | {"from": long_sender}))
    assert messages == [] and "conversation_key is over 2048 bytes" in reason
    assert long_sender not in reason


def test_message_id_too_long_for_its_dedupe_record_is_skipped() -> None:
    # Accepted before, then the claim's "msg#<id>" sort key (1024 bytes at most) failed and the burst went to the DLQ.
    long_id = "wamid." + "é" * 500
    messages, [reason] = skipped(with_messages(message("text", text={"body": "hi"}) | {"id": long_id}))
    assert messages == [] and "message_id is over 1000 bytes" in reason
    [ok] = whatsapp.normalize(with_messages(message("text", text={"body": "hi"}) | {"id": "w" * 1000}))
    assert len(ok.message_id) == 1000


# --- edits, revokes and business-app echoes (channels.md §1.3b) -------------------------------------------------------

ECHO_ID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCMDAwMDAwMDAwMDAwMDAwNAA="


def wa_change(kind: Literal["edit", "delete"], text: str | None = None, **fields: Any) -> MessageChange:
    """A change the fixture user made to the fixture's first message (WAMID[1])."""
    base: dict[str, Any] = {
        "channel": "whatsapp",
        "account_id": ACCOUNT,
        "conversation_key": KEY,
        "message_id": WAMID[1],
        "change": kind,
        "text": text,
        "changed_at_ms": 1749416500000,
    }
    return MessageChange(**(base | fields))


def edit(original: str = "wamid.O", **new: Any) -> dict[str, Any]:
    """A messages[] edit of the user's message `original`; `new` is the inner message (default: a text)."""
    return message(
        "edit", edit={"original_message_id": original, "message": new or {"type": "text", "text": {"body": "x"}}}
    )


def echoes(*items: dict[str, Any]) -> dict[str, Any]:
    """The smb_message_echoes fixture with its echoes replaced."""
    payload = copy.deepcopy(load("whatsapp_smb_message_echoes"))
    payload["entry"][0]["changes"][0]["value"]["message_echoes"] = list(items)
    return payload


def echo(**fields: Any) -> dict[str, Any]:
    """One business-app text echo to the fixture user, with the given fields replaced (None removes one)."""
    base = {"from": "15550783881", "to": USER, "id": ECHO_ID, "timestamp": "1749416510", "type": "text"}
    item: dict[str, Any] = base | {"text": {"body": "on it"}} | fields
    return {k: v for k, v in item.items() if v is not None}


def test_edit_fixture_is_an_edit_of_the_message_it_names() -> None:
    assert whatsapp.normalize(load("whatsapp_edit")) == [wa_change("edit", "Hi, do you ship to Canada and the US?")]


def test_revoke_fixture_is_a_delete_of_the_message_it_names() -> None:
    assert whatsapp.normalize(load("whatsapp_revoke")) == [wa_change("delete")]


def test_smb_echo_fixture_is_a_human_echo_in_the_users_conversation() -> None:
    assert whatsapp.normalize(load("whatsapp_smb_message_echoes")) == [
        BusinessEcho(
            channel="whatsapp",
            account_id=ACCOUNT,
            conversation_key=KEY,
            recipient_id=USER,
            message_id=ECHO_ID,
            timestamp_ms=1749416510000,
            human=True,
        )
    ]


def test_edit_revoke_and_echo_key_the_conversation_of_the_message() -> None:
    user = "15550001234"
    [msg] = only_messages(
        whatsapp.normalize(builders.whatsapp(user, builders.wa_message(user, "wamid.M1", "at 5", ts=10)))
    )
    items = [
        *whatsapp.normalize(builders.whatsapp(user, builders.wa_edit(user, "wamid.E1", "wamid.M1", "at 6", ts=11))),
        *whatsapp.normalize(builders.whatsapp(user, builders.wa_revoke(user, "wamid.R1", "wamid.M1", ts=12))),
        *whatsapp.normalize(builders.whatsapp_smb_echo(user, "wamid.B1", "a colleague will call", ts=13)),
    ]
    assert {i.conversation_key for i in items} == {msg.conversation_key}
    assert [(type(i).__name__, i.message_id) for i in items] == [
        ("MessageChange", "wamid.M1"),
        ("MessageChange", "wamid.M1"),
        ("BusinessEcho", "wamid.B1"),
    ]
    assert [(i.change, i.text, i.changed_at_ms) for i in items if isinstance(i, MessageChange)] == [
        ("edit", "at 6", 11000),
        ("delete", None, 12000),
    ]


@pytest.mark.parametrize("media", ["image", "video", "document"])
def test_edit_of_a_media_message_carries_its_new_caption(media: str) -> None:
    user = "15550001234"
    [change] = whatsapp.normalize(
        builders.whatsapp(user, builders.wa_edit(user, "wamid.E1", "wamid.M1", "in blue?", caption_of=media))
    )
    assert isinstance(change, MessageChange)
    assert (change.change, change.message_id, change.text) == ("edit", "wamid.M1", "in blue?")


def test_edit_that_removed_a_caption_has_no_text() -> None:
    [change] = whatsapp.normalize(with_messages(edit(type="image", image={"id": "1", "mime_type": "image/jpeg"})))
    assert isinstance(change, MessageChange)
    assert (change.change, change.text) == ("edit", None)


def test_edit_in_a_group_and_by_a_username_user_key_like_their_messages() -> None:
    in_group = edit() | {"group_id": "120363000000000001"}
    by_bsuid = {k: v for k, v in edit().items() if k != "from"} | {"from_user_id": "US.13491208655302741918"}
    result = whatsapp.normalize(with_messages(in_group, by_bsuid))
    assert [i.conversation_key for i in result] == [
        f"whatsapp#{ACCOUNT}#120363000000000001",
        f"whatsapp#{ACCOUNT}#US.13491208655302741918",
    ]


def test_messages_edits_and_revokes_in_one_post_keep_their_order() -> None:
    batch = with_messages(
        message("text", text={"body": "a"}) | {"id": "wamid.A"},
        edit("wamid.A"),
        message("reaction", reaction={"message_id": "wamid.A", "emoji": "x"}),
        message("revoke", revoke={"original_message_id": "wamid.A"}),
    )
    assert [(type(i).__name__, i.message_id) for i in whatsapp.normalize(batch)] == [
        ("InboundMessage", "wamid.A"),
        ("MessageChange", "wamid.A"),
        ("MessageChange", "wamid.A"),
    ]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (message("edit"), "messages[0].edit: is required"),
        (message("revoke"), "messages[0].revoke: is required"),
        (
            message("edit", edit={"message": {"type": "text", "text": {"body": "x"}}}),
            "messages[0].edit.original_message_id: is",
        ),
        (message("edit", edit={"original_message_id": "wamid.O"}), "messages[0].edit.message: is required"),
        (message("revoke", revoke={"original_message_id": ""}), "messages[0].revoke.original_message_id: must be at"),
        (message("revoke", revoke="wamid.O"), "messages[0].revoke: must be of type object"),
        (edit(type="text"), "messages[0].edit.message.text: is required"),
        (edit(type="text", text={"body": 5}), "messages[0].edit.message.text.body: must be of type string"),
        (edit(type="image"), "messages[0].edit.message.image: is required"),
        (edit(type="video", video={"caption": 5}), "messages[0].edit.message.video.caption: must be of type string"),
        (edit(text={"body": "x"}), "messages[0].edit.message.type: is required"),
        (edit(type="location", location={}), "messages[0].edit.message.type: an edit of a type whose text is not read"),
        (edit() | {"timestamp": 1749416500}, "messages[0].timestamp: must be of type string"),
        ({k: v for k, v in edit().items() if k != "from"}, "messages[0]: no sender (from, from_user_id or contact"),
    ],
)
def test_an_edit_or_revoke_that_cannot_be_used_is_skipped_and_the_rest_kept(bad: dict[str, Any], reason: str) -> None:
    # Inside a genuine envelope: answered 200 (Meta would redeliver a 4xx for a week), the rest of the batch kept.
    items, [why] = skipped(with_messages(bad, message("text", text={"body": "kept"}), contacts=[]))
    assert [i.message_id for i in items] == ["wamid.TEST"]
    assert why.startswith(f"$.entry[0].changes[0].value.{reason}"), why


def test_edit_over_the_model_cap_is_skipped_without_echoing_it() -> None:
    items, reasons = skipped(with_messages(edit(type="text", text={"body": "k" * (MAX_TEXT_CHARS + 1)})))
    assert items == [] and reasons == ["$.entry[0].changes[0].value.messages[0]: whatsapp edit: invalid text"]


@pytest.mark.parametrize(
    "item",
    [
        echo(),
        echo(type="image", text=None, image={"id": "1", "mime_type": "image/jpeg"}),
        echo(type="edit", text=None, edit={"original_message_id": "wamid.O", "message": {"type": "text"}}),
        echo(type="revoke", text=None, revoke={"original_message_id": "wamid.O"}),
        echo(type=None, text=None),
    ],
    ids=["text", "image", "edit", "revoke", "untyped"],
)
def test_every_business_app_echo_is_a_human_at_work(item: dict[str, Any]) -> None:
    [result] = whatsapp.normalize(echoes(item))
    assert isinstance(result, BusinessEcho)
    assert (result.conversation_key, result.recipient_id, result.human) == (KEY, USER, True)


def test_echoes_key_like_the_users_messages() -> None:
    bsuid = "US.13491208655302741918"
    payload = echoes(
        echo(to="+" + USER),
        echo(to=None, to_user_id=bsuid),
        echo(group_id="120363000000000001"),
    )
    assert [i.conversation_key for i in whatsapp.normalize(payload)] == [
        KEY,
        f"whatsapp#{ACCOUNT}#{bsuid}",
        f"whatsapp#{ACCOUNT}#120363000000000001",
    ]


def test_echo_to_a_user_known_only_by_the_contact_bsuid() -> None:
    payload = echoes(echo(to=None))
    payload["entry"][0]["changes"][0]["value"]["contacts"] = [{"user_id": "BR.1", "profile": {"name": "Rui"}}]
    [result] = whatsapp.normalize(payload)
    assert isinstance(result, BusinessEcho)
    assert (result.conversation_key, result.recipient_id) == (f"whatsapp#{ACCOUNT}#BR.1", "BR.1")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (echo(id=None), "message_echoes[0].id: is required"),
        (echo(timestamp=1749416510), "message_echoes[0].timestamp: must be of type string"),
        (echo(to=15550001234), "message_echoes[0].to: must be of type string"),
        (echo(to=None), "message_echoes[0]: no recipient (to, to_user_id or contact user_id)"),
        ("not an echo", "message_echoes[0]: must be of type object"),
        (echo(to="1" * 2100), "message_echoes[0]: whatsapp echo: conversation_key is over 2048 bytes"),
    ],
)
def test_an_echo_that_cannot_be_used_is_skipped_and_the_rest_kept(bad: Any, reason: str) -> None:
    items, reasons = skipped(echoes(bad, echo(id="wamid.OK")))
    assert [i.message_id for i in items] == ["wamid.OK"]
    assert reasons == [f"$.entry[0].changes[0].value.{reason}"]


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["metadata"], None, "$.entry[0].changes[0].value.metadata"),
        (["metadata", "phone_number_id"], 106540352242922, "$.entry[0].changes[0].value.metadata.phone_number_id"),
        (["message_echoes"], {}, "$.entry[0].changes[0].value.message_echoes"),
    ],
)
def test_an_echoes_body_that_is_not_the_envelope_fails_naming_the_field(
    path: list[str], value: Any, where: str
) -> None:
    payload = load("whatsapp_smb_message_echoes")
    target = payload["entry"][0]["changes"][0]["value"]
    for part in path[:-1]:
        target = target[part]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    with pytest.raises(InvalidPayloadError) as caught:
        whatsapp.normalize(payload)
    assert f"whatsapp payload: {where}:" in str(caught.value)


# Issue 18: inside a signed envelope nothing is a 400 (Meta redelivers it for 7 days), and nothing a 500 either.


@pytest.mark.parametrize("contacts", [None, {}, "x", 7])
def test_contacts_that_are_no_list_cost_neither_the_envelope_nor_the_message(contacts: Any) -> None:
    payload = with_messages(message("text", text={"body": "hi"}))
    payload["entry"][0]["changes"][0]["value"]["contacts"] = contacts
    [msg] = only_messages(whatsapp.normalize(payload))
    assert (msg.sender_id, msg.text, msg.sender_name) == (USER, "hi", None)


@pytest.mark.parametrize("kind", [{"x": 1}, ["text"]])
def test_a_type_that_is_no_string_is_skipped_not_a_crash(kind: Any) -> None:
    bad = message("text", text={"body": "?"}) | {"type": kind}
    items, reasons = skipped(with_messages(bad, message("text", id="wamid.OK", text={"body": "hi"})))
    assert [i.message_id for i in items] == ["wamid.OK"]
    assert reasons == ["$.entry[0].changes[0].value.messages[0].type: must be of type string"]


def test_an_interactive_reply_type_that_is_no_string_is_a_placeholder_not_a_crash() -> None:
    items, reasons = skipped(with_messages(message("interactive", interactive={"type": {"x": 1}})))
    [msg] = only_messages(items)
    assert msg.render() == "[interactive]"
    assert reasons == [
        "$.entry[0].changes[0].value.messages[0].interactive.type: must be of type string; "
        "kept as a [interactive] placeholder"
    ]


def test_documented_unsupported_and_its_pre_v13_name_unknown_are_not_chat_input() -> None:
    errors = [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}]
    unsupported = message("unsupported", errors=errors, unsupported={"type": "poll_update"})
    unknown = message("unknown", id="wamid.OLD", errors=errors)
    assert skipped(with_messages(unsupported, unknown)) == ([], [])
