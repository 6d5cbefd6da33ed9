"""One text message as a channel would deliver it: the real webhook payload, signed with the running secrets.

The local console composes messages through this (POST /local/compose): the page names the channel, the sender and
the text; the server builds the payload in the channel's shape (docs/channels.md, as tests/builders.py does),
signs it with the secret the webhook checks (the tenant's own, else the deployment's: the page never holds one) and
posts it through the real webhook path.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from debouncer.config import Settings
from debouncer.domain.models import CHANNELS
from debouncer.tenants import SecretName, Tenant

# The accounts a message goes to when no tenant is named (the payloads must name one; any works without tenants).
LOCAL_PHONE_NUMBER_ID = "106540352242922"
LOCAL_INSTAGRAM_ACCOUNT = "17841400000000001"
SIGNING_SECRETS: dict[str, SecretName] = {
    "whatsapp": "meta_app_secret",
    "instagram": "meta_app_secret",
    "telegram": "telegram_secret_token",
    "generic": "generic_secret",
}
TELEGRAM_CHAT_ID = re.compile(r"^-?[0-9]{1,15}$")
USER_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Telegram numbers messages per chat: ids from the clock in milliseconds stay unique across server restarts.
_telegram_ids = itertools.count(int(time.time() * 1000))


class ComposeError(ValueError):
    """A compose request the server cannot turn into a message (answered 400)."""


@dataclass(frozen=True)
class Composed:
    """A webhook request ready to post: its path, its exact body and the headers that sign it."""

    path: str
    body: bytes
    headers: dict[str, str]


def parse_request(raw: bytes, tenants: Sequence[Tenant]) -> tuple[str, str, str, Tenant | None]:
    """(channel, user, text, tenant) of a body {"channel", "user", "text", "tenant"?}; ComposeError otherwise."""
    try:
        document = json.loads(raw or b"{}")
    except ValueError as error:
        raise ComposeError("the body must be a JSON object") from error
    if not isinstance(document, dict):
        raise ComposeError("the body must be a JSON object")
    channel, user, text = document.get("channel"), document.get("user"), document.get("text")
    if channel not in CHANNELS:
        raise ComposeError(f"channel must be one of {', '.join(CHANNELS)}")
    if not isinstance(user, str) or not USER_PATTERN.match(user):
        raise ComposeError("user must be the sender's id: 1 to 64 letters, digits or _.:-")
    if channel == "telegram" and not TELEGRAM_CHAT_ID.match(user):
        raise ComposeError("a Telegram user is a chat id: an integer")
    if not isinstance(text, str) or not text.strip():
        raise ComposeError("text must be a non-empty string")
    tenant_id = document.get("tenant")
    tenant = None
    if tenant_id is not None:
        tenant = next((t for t in tenants if t.id == tenant_id), None)
        if tenant is None or tenant.channel != channel:
            raise ComposeError(f"no {channel} tenant {tenant_id!r} is running")
    return channel, user, text, tenant


def compose(channel: str, user: str, text: str, tenant: Tenant | None, settings: Settings) -> Composed:
    """The signed webhook request of one text message from `user` to the tenant's account (or the deployment's)."""
    from debouncer.adapters.secrets import Secrets
    from debouncer.replay.rewrite import body, sign

    now = time.time()
    account = tenant.account if tenant is not None else None
    path = f"/webhook/{channel}"
    if channel == "whatsapp":
        payload = whatsapp(user, text, account or settings.whatsapp_phone_number_id or LOCAL_PHONE_NUMBER_ID, now)
    elif channel == "instagram":
        payload = instagram(user, text, account or LOCAL_INSTAGRAM_ACCOUNT, now)
    elif channel == "telegram":
        payload = telegram(int(user), text, now)
        if tenant is not None:
            path += f"/{tenant.id}"  # Telegram's updates do not name the bot: the tenant's path does
    else:
        payload = generic(user, text, account, now)
    raw = body(payload)
    secret = Secrets(settings, tenant.secrets if tenant is not None else None).get(SIGNING_SECRETS[channel])
    return Composed(path, raw, sign(channel, raw, secret))


def whatsapp(user: str, text: str, phone_number_id: str, now: float) -> dict[str, Any]:
    """A WhatsApp Cloud API notification with one text message."""
    message = {
        "from": user,
        "id": f"wamid.console.{uuid.uuid4().hex}",
        "timestamp": str(int(now)),
        "type": "text",
        "text": {"body": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Console"}, "wa_id": user}],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def telegram(chat_id: int, text: str, now: float) -> dict[str, Any]:
    """A Telegram Update with a private-chat text message."""
    message_id = next(_telegram_ids)
    person = {"id": chat_id, "is_bot": False, "first_name": "Console"}
    return {
        "update_id": message_id,
        "message": {
            "message_id": message_id,
            "from": person,
            "chat": {"id": chat_id, "first_name": "Console", "type": "private"},
            "date": int(now),
            "text": text,
        },
    }


def instagram(sender: str, text: str, account: str, now: float) -> dict[str, Any]:
    """An Instagram messaging webhook with one text DM."""
    ts_ms = int(now * 1000)
    event = {
        "sender": {"id": sender},
        "recipient": {"id": account},
        "timestamp": ts_ms,
        "message": {"mid": f"console-{uuid.uuid4().hex}", "text": text},
    }
    return {"object": "instagram", "entry": [{"id": account, "time": ts_ms, "messaging": [event]}]}


def generic(conversation_id: str, text: str, account: str | None, now: float) -> dict[str, Any]:
    """The generic channel's body for one text message (to `account` when given, else its default)."""
    payload: dict[str, Any] = {
        "conversation_id": conversation_id,
        "message_id": f"console-{uuid.uuid4().hex}",
        "text": text,
        "timestamp": round(now, 3),
    }
    if account is not None:
        payload["account"] = account
    return payload
