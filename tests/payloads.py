"""Channel payload fixtures (tests/fixtures/payloads), and headers that sign them with the local dev secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from debouncer.channels.signatures import GENERIC_HEADER, META_HEADER, TELEGRAM_HEADER, meta_signature

PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"

# The documented local development defaults; never used anywhere but a laptop or CI.
META_APP_SECRET = "local-app-secret"
TELEGRAM_SECRET_TOKEN = "local-telegram-secret"
GENERIC_SECRET = "local-generic-secret"


def raw(name: str) -> bytes:
    """The fixture's bytes exactly as stored: sign and post these, never a re-serialisation."""
    return (PAYLOADS / f"{name.removesuffix('.json')}.json").read_bytes()


def load(name: str) -> dict[str, Any]:
    """The fixture parsed, e.g. load("whatsapp_text_message")."""
    payload: dict[str, Any] = json.loads(raw(name))
    return payload


def signed_headers(channel: str, body: bytes) -> dict[str, str]:
    """Request headers that authenticate `body` on `channel` with the local dev secrets."""
    headers = {"Content-Type": "application/json"}
    if channel in ("whatsapp", "instagram"):
        headers[META_HEADER] = meta_signature(META_APP_SECRET, body)
    elif channel == "telegram":
        headers[TELEGRAM_HEADER] = TELEGRAM_SECRET_TOKEN
    elif channel == "generic":
        headers[GENERIC_HEADER] = meta_signature(GENERIC_SECRET, body)
    else:
        raise ValueError(f"unknown channel {channel!r}")
    return headers
