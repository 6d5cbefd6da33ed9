"""Webhook authenticity: Meta and generic HMAC signatures, Telegram's secret token, Meta's GET handshake."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from tests.payloads import GENERIC_SECRET, META_APP_SECRET, TELEGRAM_SECRET_TOKEN, raw, signed_headers

from debouncer.channels.signatures import (
    meta_signature,
    verify_generic_signature,
    verify_meta_signature,
    verify_subscription,
    verify_telegram_secret,
)
from debouncer.domain.errors import ConfigurationError, SignatureError, VerificationError

FIXTURES = {
    "whatsapp": ["whatsapp_text_message", "whatsapp_multi_message", "whatsapp_other_types", "whatsapp_statuses"],
    "instagram": [
        "instagram_text_dm",
        "instagram_image_and_story_reply",
        "instagram_echo",
        "instagram_read_and_reaction",
    ],
    "generic": ["generic_text_message"],
}
SIGNED = [(channel, name) for channel, names in FIXTURES.items() for name in names]

# RFC 4231-style known answer: HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog").
FOX = b"The quick brown fox jumps over the lazy dog"
FOX_HMAC = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


def verify(channel: str, secret: str, body: bytes, header: str | None) -> None:
    """The verifier the webhook route uses for `channel`."""
    if channel == "generic":
        verify_generic_signature(secret, body, header)
    else:
        verify_meta_signature(secret, body, header)


def secret_for(channel: str) -> str:
    """The local dev secret that signs `channel`."""
    return GENERIC_SECRET if channel == "generic" else META_APP_SECRET


def signature_of(channel: str, body: bytes) -> str:
    """The signature header value tests.payloads produces for `channel`."""
    headers = signed_headers(channel, body)
    return headers["X-Signature-256" if channel == "generic" else "X-Hub-Signature-256"]


def test_meta_signature_known_answer() -> None:
    assert meta_signature("key", FOX) == FOX_HMAC


@pytest.mark.parametrize(("channel", "name"), SIGNED)
def test_signed_fixture_verifies(channel: str, name: str) -> None:
    body = raw(name)
    verify(channel, secret_for(channel), body, signature_of(channel, body))


@pytest.mark.parametrize(("channel", "name"), SIGNED)
def test_wrong_secret_is_rejected(channel: str, name: str) -> None:
    body = raw(name)
    with pytest.raises(SignatureError, match="wrong"):
        verify(channel, "another-secret", body, signature_of(channel, body))


@pytest.mark.parametrize(("channel", "name"), SIGNED)
def test_tampered_body_is_rejected(channel: str, name: str) -> None:
    body = raw(name)
    header = signature_of(channel, body)
    with pytest.raises(SignatureError, match="wrong"):
        verify(channel, secret_for(channel), body.replace(b"}", b" }", 1), header)


def test_meta_secret_does_not_sign_the_generic_channel() -> None:
    body = raw("generic_text_message")
    with pytest.raises(SignatureError, match="wrong X-Signature-256 signature"):
        verify_generic_signature(GENERIC_SECRET, body, meta_signature(META_APP_SECRET, body))


@pytest.mark.parametrize("channel", ["whatsapp", "generic"])
@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_rejected_with_its_name(channel: str, header: str | None) -> None:
    name = "X-Signature-256" if channel == "generic" else "X-Hub-Signature-256"
    with pytest.raises(SignatureError, match=f"missing {name} header"):
        verify(channel, secret_for(channel), b"{}", header)


@pytest.mark.parametrize(
    "header",
    [
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
        "sha1=f7bc83f430538424b13298e6aa6fb143ef4d59a1",
        "sha256",
    ],
)
def test_malformed_header_is_rejected(header: str) -> None:
    with pytest.raises(SignatureError, match="malformed"):
        verify_meta_signature("key", FOX, header)


def test_truncated_signature_is_rejected() -> None:
    with pytest.raises(SignatureError, match="wrong"):
        verify_meta_signature("key", FOX, FOX_HMAC[:-2])


def test_header_case_and_surrounding_space_are_tolerated() -> None:
    verify_meta_signature("key", FOX, f"  {FOX_HMAC.upper()} ")


def test_non_ascii_header_is_a_signature_error_not_a_crash() -> None:
    with pytest.raises(SignatureError):
        verify_meta_signature("key", FOX, "sha256=" + "\u00e4" * 64)


def test_escaped_unicode_body_is_verified_over_the_raw_bytes() -> None:
    # GIVEN a body as Meta sends it: non-ASCII text escaped as \uXXXX, signed over those exact bytes
    body = rb'{"text":"\u00e4\u00f6\u00e5 \ud83d\udc4d"}'
    header = meta_signature(META_APP_SECRET, body)
    # WHEN it is verified as received THEN it passes
    verify_meta_signature(META_APP_SECRET, body, header)
    # WHEN it is re-serialised after parsing THEN the same header no longer matches
    reserialised = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(reserialised) == json.loads(body)
    with pytest.raises(SignatureError):
        verify_meta_signature(META_APP_SECRET, reserialised, header)


def test_fixture_with_escaped_emoji_is_signed_over_its_raw_bytes() -> None:
    body = raw("instagram_read_and_reaction")
    assert rb"\u2764\ufe0f" in body
    verify_meta_signature(META_APP_SECRET, body, signed_headers("instagram", body)["X-Hub-Signature-256"])


@pytest.mark.parametrize("verifier", [verify_meta_signature, verify_generic_signature])
def test_empty_secret_is_a_configuration_error_not_an_open_door(
    verifier: Callable[[str, bytes, str | None], None],
) -> None:
    body = b"{}"
    with pytest.raises(ConfigurationError):
        verifier("", body, meta_signature("", body))


def test_telegram_secret_token() -> None:
    header = signed_headers("telegram", raw("telegram_text_message"))["X-Telegram-Bot-Api-Secret-Token"]
    verify_telegram_secret(TELEGRAM_SECRET_TOKEN, header)


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (None, "missing X-Telegram-Bot-Api-Secret-Token header"),
        ("", "missing X-Telegram-Bot-Api-Secret-Token header"),
        ("local-telegram-secre", "wrong"),
        ("local-telegram-secret ", "wrong"),
        ("LOCAL-TELEGRAM-SECRET", "wrong"),
        ("l\u00f6cal-telegram-secret", "wrong"),
    ],
)
def test_telegram_wrong_or_missing_token_is_rejected(header: str | None, match: str) -> None:
    with pytest.raises(SignatureError, match=match):
        verify_telegram_secret(TELEGRAM_SECRET_TOKEN, header)


def test_telegram_unset_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        verify_telegram_secret("", "")


HANDSHAKE = {"hub.mode": "subscribe", "hub.verify_token": "local-verify-token", "hub.challenge": "1158201444"}


def test_subscription_echoes_the_challenge_verbatim() -> None:
    assert verify_subscription(HANDSHAKE, "local-verify-token") == "1158201444"
    assert verify_subscription(HANDSHAKE | {"hub.challenge": "a b+c"}, "local-verify-token") == "a b+c"


@pytest.mark.parametrize(
    ("query", "match"),
    [
        (HANDSHAKE | {"hub.mode": "unsubscribe"}, "hub.mode"),
        ({k: v for k, v in HANDSHAKE.items() if k != "hub.mode"}, "hub.mode"),
        (HANDSHAKE | {"hub.verify_token": "guess"}, "hub.verify_token"),
        ({k: v for k, v in HANDSHAKE.items() if k != "hub.verify_token"}, "hub.verify_token"),
        (HANDSHAKE | {"hub.verify_token": "t\u00f6ken"}, "hub.verify_token"),
        (HANDSHAKE | {"hub.challenge": ""}, "hub.challenge"),
        ({k: v for k, v in HANDSHAKE.items() if k != "hub.challenge"}, "hub.challenge"),
        ({"hub_mode": "subscribe", "hub_verify_token": "local-verify-token", "hub_challenge": "1"}, "hub.mode"),
    ],
)
def test_subscription_failures(query: dict[str, str], match: str) -> None:
    with pytest.raises(VerificationError, match=match):
        verify_subscription(query, "local-verify-token")


def test_subscription_with_no_configured_token_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        verify_subscription(HANDSHAKE | {"hub.verify_token": ""}, "")


def test_signed_headers_rejects_unknown_channels() -> None:
    with pytest.raises(ValueError, match="sms"):
        signed_headers("sms", b"{}")
