"""The JSON Schemas: every fixture validates, errors name the field, the normalized schema tracks the model."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from tests import builders
from tests.payloads import PAYLOADS, load

from debouncer import schemas
from debouncer.channels import generic, instagram, problem, telegram, whatsapp
from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import MAX_TEXT_CHARS, BusinessEcho, Inbound, InboundMessage, MessageChange

INBOUND = {
    "whatsapp": [
        "whatsapp_text_message",
        "whatsapp_multi_message",
        "whatsapp_other_types",
        "whatsapp_statuses",
        "whatsapp_button",
        "whatsapp_interactive_degraded",
        "whatsapp_unsupported",
        "whatsapp_edit",
        "whatsapp_revoke",
        "whatsapp_system",
        "whatsapp_call_permission_reply",
        "whatsapp_smb_message_echoes",
        "whatsapp_calls",
        "whatsapp_account_update",
        "whatsapp_template_status_update",
        "whatsapp_template_category_update",
        "whatsapp_user_preferences",
        "whatsapp_more_types",
        "whatsapp_unsupported_types",
        "whatsapp_value_errors",
        "whatsapp_other_fields",
        "whatsapp_smb_echo_edit_and_media",
    ],
    "telegram": [
        "telegram_text_message",
        "telegram_photo_album",
        "telegram_edited_message",
        "telegram_group_message",
        "telegram_channel_post",
        "telegram_edited_channel_post",
        "telegram_callback_query",
        "telegram_my_chat_member",
        "telegram_chat_member",
        "telegram_service_message",
        "telegram_message_reaction",
        "telegram_business_message",
        "telegram_voice_message",
        "telegram_inline_query",
        "telegram_chosen_inline_result",
        "telegram_shipping_query",
        "telegram_pre_checkout_query",
        "telegram_poll",
        "telegram_poll_answer",
        "telegram_chat_join_request_update",
        "telegram_message_reaction_count",
        "telegram_chat_boost",
        "telegram_removed_chat_boost",
        "telegram_business_connection",
        "telegram_edited_business_message",
        "telegram_deleted_business_messages",
        "telegram_purchased_paid_media",
    ],
    "instagram": [
        "instagram_text_dm",
        "instagram_image_and_story_reply",
        "instagram_echo",
        "instagram_read_and_reaction",
        "instagram_postback",
        "instagram_referral",
        "instagram_message_edit",
        "instagram_deleted",
        "instagram_unsupported",
        "instagram_quick_reply_share_and_mention",
        "instagram_standby_and_handover",
        "instagram_comment_and_dashboard_test",
    ],
    "generic": ["generic_text_message"],
}
INBOUND_CASES = [(channel, name) for channel, names in INBOUND.items() for name in names]
DROP = object()


def normalize(channel: str, payload: dict[str, Any]) -> list[Inbound]:
    """Dispatch to the channel's normalizer."""
    if channel == "telegram":
        return telegram.normalize(payload, "7000000001")
    if channel == "generic":
        return generic.normalize(payload, now_ms=0)
    return {"whatsapp": whatsapp.normalize, "instagram": instagram.normalize}[channel](payload)


def test_schemas_come_from_the_repository_in_a_source_checkout() -> None:
    assert PAYLOADS.parents[2] / "schemas" == schemas.SCHEMA_DIR


@pytest.mark.parametrize("name", sorted(schemas.SCHEMA_FILES))
def test_every_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = schemas.load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(("channel", "name"), INBOUND_CASES)
def test_every_inbound_fixture_validates(channel: str, name: str) -> None:
    schemas.validate(channel, load(name))


def test_every_inbound_fixture_is_covered() -> None:
    on_disk = {
        path.stem for path in PAYLOADS.glob("*.json") if not re.search(r"_(request|response|error_.*)$", path.stem)
    }
    assert on_disk == {name for _, name in INBOUND_CASES}


@pytest.mark.parametrize(("channel", "name"), INBOUND_CASES)
def test_normalized_fixtures_validate_against_the_normalized_schema(channel: str, name: str) -> None:
    # The normalized-message schema is the buffer's message document; changes and echoes are not stored as one.
    for item in normalize(channel, load(name)):
        if isinstance(item, InboundMessage):
            schemas.validate("normalized-message", item.model_dump(mode="json"))


# What each fixture of an edit, a delete or an echo normalizes to (every other fixture: messages only, or nothing).
CHANGES_AND_ECHOES = {
    "whatsapp_edit": [MessageChange],
    "whatsapp_revoke": [MessageChange],
    "whatsapp_smb_message_echoes": [BusinessEcho],
    "whatsapp_smb_echo_edit_and_media": [BusinessEcho, BusinessEcho],
    "telegram_edited_message": [MessageChange],
    "instagram_message_edit": [MessageChange],
    "instagram_deleted": [MessageChange],
    "instagram_echo": [BusinessEcho],
}


@pytest.mark.parametrize(("channel", "name"), INBOUND_CASES)
def test_only_edit_delete_and_echo_fixtures_yield_changes_and_echoes(channel: str, name: str) -> None:
    kinds = [type(item) for item in normalize(channel, load(name))]
    assert [k for k in kinds if k is not InboundMessage] == CHANGES_AND_ECHOES.get(name, [])


def test_normalized_schema_file_is_generated_from_the_model() -> None:
    committed = schemas.load_schema("normalized-message")
    assert committed == schemas.normalized_message_schema(), (
        "schemas/normalized-message.schema.json is stale; regenerate it with: .venv/bin/python -c "
        "'import json; from debouncer.schemas import normalized_message_schema as s; "
        "print(json.dumps(s(), indent=2))' > schemas/normalized-message.schema.json"
    )


def test_normalized_schema_requires_what_the_model_requires() -> None:
    committed = schemas.load_schema("normalized-message")
    assert set(committed["required"]) == {
        "channel",
        "account_id",
        "conversation_key",
        "sender_id",
        "recipient_id",
        "message_id",
        "timestamp_ms",
    }
    assert committed["additionalProperties"] is False


@pytest.mark.parametrize(
    ("instance", "where"),
    [
        ({"channel": DROP}, "$.channel: is required"),
        ({"channel": "sms"}, "$.channel: must be one of"),
        ({"timestamp_ms": -1}, "$.timestamp_ms: must be >= 0"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, f"$.text: must be at most {MAX_TEXT_CHARS} characters"),
        ({"media": [{"ref": "x"}]}, "$.media[0].kind: is required"),
        ({"surprise": 1}, "$: has unexpected properties"),
    ],
)
def test_normalized_schema_rejects_what_the_model_rejects(instance: dict[str, Any], where: str) -> None:
    [message] = normalize("generic", load("generic_text_message"))
    valid = message.model_dump(mode="json")
    with pytest.raises(InvalidPayloadError, match=re.escape(where)):
        schemas.validate("normalized-message", {k: v for k, v in (valid | instance).items() if v is not DROP})


def test_generic_text_limit_is_the_model_cap() -> None:
    assert schemas.load_schema("generic")["properties"]["text"]["maxLength"] == MAX_TEXT_CHARS


def test_error_names_the_nested_path_and_keeps_the_value_out() -> None:
    payload = load("whatsapp_other_types")
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = ["secret"]
    with pytest.raises(InvalidPayloadError) as caught:
        schemas.validate("whatsapp", payload)
    assert str(caught.value) == (
        "whatsapp payload: $.entry[0].changes[0].value.metadata.phone_number_id: must be of type string"
    )


def test_an_item_problem_names_its_path_and_keeps_the_value_out() -> None:
    location = {"latitude": "secret place", "longitude": 1}
    reason = problem("whatsapp", "content", {"location": location}, "$.entry[0].changes[0].value.messages[2]")
    assert reason == "$.entry[0].changes[0].value.messages[2].location.latitude: must be of type number"


def test_a_payload_posted_to_the_wrong_channel_is_rejected() -> None:
    with pytest.raises(
        InvalidPayloadError, match=re.escape('whatsapp payload: $.object: must be "whatsapp_business_account"')
    ):
        schemas.validate("whatsapp", load("instagram_text_dm"))


def test_non_object_body_is_rejected() -> None:
    with pytest.raises(InvalidPayloadError, match=re.escape("telegram payload: $: must be of type object")):
        schemas.validate("telegram", [1, 2])


def test_unknown_schema_name_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown schema 'sms'"):
        schemas.validate("sms", {})


def test_validators_are_built_once() -> None:
    schemas.validate("generic", load("generic_text_message"))
    before = schemas.validator.cache_info()
    schemas.validate("generic", load("generic_text_message"))
    after = schemas.validator.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


def test_schema_files_are_json_with_a_trailing_newline() -> None:
    for filename in schemas.SCHEMA_FILES.values():
        text = (schemas.SCHEMA_DIR / filename).read_text(encoding="utf-8")
        assert text.endswith("}\n"), filename
        json.loads(text)


GENERIC_WITH_MEDIA = {
    "conversation_id": "customer-42",
    "message_id": "msg-0002",
    "timestamp": 1749416390,
    "text": "Do you have it in blue?",
    "media": [
        {"url": "https://cdn.example.com/u/42/photo.jpg", "mime_type": "image/jpeg"},
        {"url": "https://cdn.example.com/u/42/voice.ogg", "mime_type": "audio/ogg; codecs=opus"},
        {"url": "https://files.example.com/invoice.pdf", "mime_type": "application/pdf", "filename": "invoice.pdf"},
    ],
}


def test_generic_media_validates_and_normalizes_to_the_normalized_schema() -> None:
    schemas.validate("generic", GENERIC_WITH_MEDIA)
    [message] = normalize("generic", GENERIC_WITH_MEDIA)
    assert isinstance(message, InboundMessage)
    schemas.validate("normalized-message", message.model_dump(mode="json"))
    assert [m.kind for m in message.media] == ["image", "audio", "document"]


def test_generic_media_without_text_validates() -> None:
    schemas.validate("generic", {k: v for k, v in GENERIC_WITH_MEDIA.items() if k != "text"})


def test_generic_needs_text_or_media() -> None:
    with pytest.raises(InvalidPayloadError, match=re.escape("generic payload: $.text: is required")):
        schemas.validate("generic", {"conversation_id": "c", "message_id": "m"})


def test_generic_media_items_allow_extra_fields_like_the_body() -> None:
    item = {"url": "https://cdn.example.com/a.png", "mime_type": "image/png", "width": 640}
    schemas.validate("generic", {"conversation_id": "c", "message_id": "m", "media": [item]})


# The shapes of edits, deletes and echoes, as tests/builders.py builds them for the e2e suites.
CHANGE_SHAPES = [
    ("telegram", builders.telegram_edit(-1005, 2, 7, "fixed", thread_id=40)),
    ("telegram", builders.telegram_topic_message(-1005, 40, 1, 7, "in topic")),
    ("instagram", builders.instagram_edit("1059000000000042", "m1", "fixed", num_edit=2)),
    ("instagram", builders.instagram_unsend("1059000000000042", "m1")),
    ("instagram", builders.instagram_echo("1059000000000042", "m2", "hi")),
    ("whatsapp", builders.whatsapp("16505551234", builders.wa_edit("16505551234", "wamid.E", "wamid.M", "fixed"))),
    ("whatsapp", builders.whatsapp("1", builders.wa_edit("1", "wamid.E", "wamid.M", "new", caption_of="video"))),
    ("whatsapp", builders.whatsapp("16505551234", builders.wa_revoke("16505551234", "wamid.R", "wamid.M"))),
    ("whatsapp", builders.whatsapp_smb_echo("16505551234", "wamid.B", "on it")),
    ("generic", builders.generic_edit("c", "m", "fixed", ts=1)),
    ("generic", builders.generic_delete("c", "m")),
    ("generic", builders.generic_agent_reply("c", "a1", "hello")),
]


@pytest.mark.parametrize(("channel", "payload"), CHANGE_SHAPES)
def test_builder_shapes_of_changes_and_echoes_validate_and_normalize_to_one_item(
    channel: str, payload: dict[str, Any]
) -> None:
    schemas.validate(channel, payload)
    reasons: list[str] = []
    if channel in ("whatsapp", "instagram"):
        module = whatsapp if channel == "whatsapp" else instagram
        items: list[Inbound] = module.normalize(payload, on_skip=reasons.append)
    else:
        items = normalize(channel, payload)
    assert len(items) == 1 and reasons == []


@pytest.mark.parametrize(
    ("part", "instance", "reason"),
    [
        ("edit", {"original_message_id": "w", "message": {"type": "text", "text": {"body": "x"}}}, None),
        ("edit", {"original_message_id": "w", "message": {"type": "sticker"}}, None),
        ("edit", {"original_message_id": "w", "message": {"type": "image"}}, "$.message.image: is required"),
        ("revoke", {"original_message_id": "w"}, None),
        ("revoke", {}, "$.original_message_id: is required"),
        ("echo", {"id": "w", "timestamp": "1", "to": "1"}, None),
        ("echo", {"id": "w", "timestamp": "1.5"}, "$.timestamp: must match ^[0-9]{1,12}$"),
    ],
)
def test_whatsapp_change_and_echo_parts(part: str, instance: dict[str, Any], reason: str | None) -> None:
    assert problem("whatsapp", part, instance, "$") == reason


def test_whatsapp_echoes_envelope_needs_the_phone_number_id_as_messages_do() -> None:
    payload = builders.whatsapp_smb_echo("16505551234", "wamid.B", "on it")
    del payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]
    with pytest.raises(
        InvalidPayloadError, match=re.escape("$.entry[0].changes[0].value.metadata.phone_number_id: is required")
    ):
        schemas.validate("whatsapp", payload)


def test_other_whatsapp_fields_stay_unchecked() -> None:
    payload = load("whatsapp_account_update")
    payload["entry"][0]["changes"][0]["value"] = {"anything": ["at", "all"]}
    schemas.validate("whatsapp", payload)


def test_generic_type_is_one_of_the_four_and_message_by_default() -> None:
    prop = schemas.load_schema("generic")["properties"]["type"]
    assert (prop["enum"], prop["default"]) == (["message", "edit", "delete", "agent_reply"], "message")
    with pytest.raises(InvalidPayloadError, match=re.escape("generic payload: $.type: must be one of")):
        schemas.validate("generic", {"conversation_id": "c", "message_id": "m", "text": "x", "type": "Edit"})


def test_generic_edit_needs_text_and_a_delete_or_agent_reply_needs_neither_text_nor_media() -> None:
    with pytest.raises(InvalidPayloadError, match=re.escape("generic payload: $.text: is required")):
        schemas.validate("generic", {"conversation_id": "c", "message_id": "m", "type": "edit"})
    for kind in ("delete", "agent_reply"):
        schemas.validate("generic", {"conversation_id": "c", "message_id": "m", "type": kind})


def test_telegram_edit_date_is_checked_like_date() -> None:
    assert problem(
        "telegram",
        "message",
        {"message_id": 1, "chat": {"id": 1, "type": "private"}, "date": 1, "edit_date": "2"},
        "$.edited_message",
    ) == ("$.edited_message.edit_date: must be of type integer")


def test_instagram_message_edit_part() -> None:
    event = {"sender": {"id": "u"}, "recipient": {"id": "a"}, "timestamp": 1, "message_edit": {"mid": "m"}}
    assert problem("instagram", "event", event, "$") == "$.message_edit.text: is required"
