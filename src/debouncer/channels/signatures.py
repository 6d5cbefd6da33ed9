"""Authenticity of inbound webhooks: Meta and generic HMAC signatures, Telegram's secret token, Meta's handshake."""

from __future__ import annotations

import hashlib
import hmac

from debouncer.domain.errors import ConfigurationError, SignatureError, VerificationError

META_HEADER = "X-Hub-Signature-256"
TELEGRAM_HEADER = "X-Telegram-Bot-Api-Secret-Token"
GENERIC_HEADER = "X-Signature-256"
_PREFIX = "sha256="


def meta_signature(secret: str, body: bytes) -> str:
    """The `sha256=<hex>` HMAC-SHA256 of the raw body, as Meta (and the generic channel) send it."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_meta_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raise SignatureError unless `header` is the X-Hub-Signature-256 of the raw body under `secret`."""
    _verify_hmac(secret, body, header, META_HEADER)


def verify_generic_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raise SignatureError unless `header` is the X-Signature-256 of the raw body under `secret`."""
    _verify_hmac(secret, body, header, GENERIC_HEADER)


def verify_telegram_secret(expected: str, header: str | None) -> None:
    """Raise SignatureError unless `header` equals the secret_token given to setWebhook."""
    _require_secret(expected, TELEGRAM_HEADER)
    if not header:
        raise SignatureError(f"missing {TELEGRAM_HEADER} header")
    if not hmac.compare_digest(expected.encode(), header.encode()):
        raise SignatureError(f"wrong {TELEGRAM_HEADER} header")


def verify_subscription(query: dict[str, str], verify_token: str) -> str:
    """The hub.challenge to echo back when Meta's GET handshake is genuine; VerificationError otherwise."""
    _require_secret(verify_token, "hub.verify_token")
    if query.get("hub.mode") != "subscribe":
        raise VerificationError("hub.mode must be 'subscribe'")
    if not hmac.compare_digest(verify_token.encode(), query.get("hub.verify_token", "").encode()):
        raise VerificationError("hub.verify_token does not match")
    challenge = query.get("hub.challenge")
    if not challenge:
        raise VerificationError("missing hub.challenge")
    return challenge


def _verify_hmac(secret: str, body: bytes, header: str | None, name: str) -> None:
    _require_secret(secret, name)
    if not header:
        raise SignatureError(f"missing {name} header")
    given = header.strip().lower()
    if not given.startswith(_PREFIX):
        raise SignatureError(f"malformed {name} header: expected 'sha256=<hex>'")
    # Bytes, because compare_digest rejects non-ASCII str with TypeError, and a header is attacker-controlled.
    if not hmac.compare_digest(meta_signature(secret, body).encode(), given.encode()):
        raise SignatureError(f"wrong {name} signature")


def _require_secret(secret: str, name: str) -> None:
    # With an empty key anyone can forge the signature, so an unset secret must fail loudly, not open the door.
    if not secret:
        raise ConfigurationError(f"no secret configured for {name}")
