"""Per-run ids and signing: every replay rewrites ids, users and timestamps, then signs the exact bytes it sends.

The server deduplicates message ids for days, so a fixture replayed twice against one server would be swallowed
as a redelivery. Each run (and each fixture within it) therefore gets a nonce of six digits that is appended to
every message id and every user id, consistently, so a conversation stays one conversation and a redelivery in
the fixture stays a redelivery. Account ids (our side) are left alone. Timestamps move by one constant so the
earliest one is the moment the replay starts; their differences, which decide the order inside a burst, are kept.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from debouncer.channels import generic
from debouncer.channels.signatures import GENERIC_HEADER, META_HEADER, TELEGRAM_HEADER, meta_signature
from debouncer.replay.fixture import Conversation, Event, Fixture

SECRET_VARIABLES = {
    "whatsapp": "META_APP_SECRET",
    "instagram": "META_APP_SECRET",
    "telegram": "TELEGRAM_SECRET_TOKEN",
    "generic": "GENERIC_SECRET",
}
# The local runtime's development defaults (debouncer.local.runtime.DEV_DEFAULTS, a test keeps them equal).
# Copied rather than imported: that module loads the AWS emulator, seconds of start-up a replay does not need.
DEV_SECRETS = {
    "META_APP_SECRET": "local-app-secret",
    "TELEGRAM_SECRET_TOKEN": "local-telegram-secret",
    "GENERIC_SECRET": "local-generic-secret",
}
TELEGRAM_PARTIES = ("chat", "from", "sender_chat")
TELEGRAM_TIMES = ("date", "edit_date", "forward_date")
INSTAGRAM_MIDS = ("message", "postback", "read", "reaction")


def new_nonce() -> str:
    """Six random digits: digits only, so phone numbers and Telegram's integer ids stay what they were."""
    return f"{secrets.randbelow(900_000) + 100_000}"


@dataclass
class RunIds:
    """Rewrites one fixture's payloads for one run, and remembers which users and accounts they name."""

    nonce: str
    shift: int = 0
    users: dict[Conversation, Conversation] = field(default_factory=dict)  # as sent -> as the fixture names it
    accounts: dict[str, set[str]] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    touched: set[Conversation] = field(default_factory=set)  # the users named by the last rewritten payload

    def user(self, channel: str, user: str) -> str:
        """The run's id for a user named in the fixture (also how expectations find their conversation)."""
        if channel == "telegram":
            try:
                return str(self._telegram_id(int(user)))
            except ValueError:
                pass
        return f"{user}{self.nonce}" if user.isdigit() else f"{user}-{self.nonce}"

    def message_id(self, message_id: str) -> str:
        """The run's id for a message id."""
        return f"{message_id}-{self.nonce}"

    def rewrite(self, channel: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A rewritten deep copy of one webhook payload."""
        out = copy.deepcopy(payload)
        self.touched = set()
        walkers = {
            "whatsapp": self._whatsapp,
            "telegram": self._telegram,
            "instagram": self._instagram,
            "generic": self._generic,
        }
        walkers[channel](out)
        return out

    def _seen(self, sent: Conversation, named: Conversation) -> None:
        self.users[sent] = named
        self.touched.add(sent)

    def _telegram_id(self, value: int) -> int:
        # Group chats have negative ids: keep the sign, append the nonce to the digits.
        return (-1 if value < 0 else 1) * int(f"{abs(value)}{self.nonce}")

    def _seconds(self, value: float) -> float:
        self.times.append(value)
        return value + self.shift

    def _account(self, channel: str, account: Any) -> None:
        if isinstance(account, str) and account:
            self.accounts.setdefault(channel, set()).add(account)

    def _user_in(self, channel: str, obj: Any, key: str) -> None:
        if isinstance(obj, dict) and isinstance(obj.get(key), str) and obj[key]:
            original = obj[key]
            obj[key] = self.user(channel, original)
            self._seen(Conversation(channel, obj[key]), Conversation(channel, original))

    def _id_in(self, obj: Any, key: str) -> None:
        if isinstance(obj, dict) and isinstance(obj.get(key), str) and obj[key]:
            obj[key] = self.message_id(obj[key])

    def _time_in(self, obj: Any, key: str, unit: int = 1, as_text: bool = False) -> None:
        if not isinstance(obj, dict):
            return
        value = obj.get(key)
        if as_text and isinstance(value, str) and value.isdigit():
            obj[key] = str(int(self._seconds(int(value))))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            shifted = self._seconds(value / unit) * unit
            obj[key] = round(shifted) if isinstance(value, int) else shifted

    def _whatsapp(self, payload: dict[str, Any]) -> None:
        for entry in _dicts(payload.get("entry")):
            for change in _dicts(entry.get("changes")):
                value = change.get("value")
                if not isinstance(value, dict):
                    continue
                metadata = value.get("metadata")
                self._account("whatsapp", metadata.get("phone_number_id") if isinstance(metadata, dict) else None)
                for contact in _dicts(value.get("contacts")):
                    self._user_in("whatsapp", contact, "wa_id")
                    self._user_in("whatsapp", contact, "user_id")
                for message in _dicts(value.get("messages")):
                    self._id_in(message, "id")
                    for key in ("from", "from_user_id", "group_id"):
                        self._user_in("whatsapp", message, key)
                    self._time_in(message, "timestamp", as_text=True)
                    self._id_in(message.get("context"), "id")
                    self._id_in(message.get("reaction"), "message_id")
                for status in _dicts(value.get("statuses")):
                    self._id_in(status, "id")
                    self._user_in("whatsapp", status, "recipient_id")
                    self._time_in(status, "timestamp", as_text=True)

    def _telegram(self, update: dict[str, Any]) -> None:
        if isinstance(update.get("update_id"), int):
            update["update_id"] = self._telegram_id(update["update_id"])
        self._telegram_node(update)

    def _telegram_node(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self._telegram_node(item)
            return
        if not isinstance(node, dict):
            return
        for key, value in list(node.items()):
            if key in TELEGRAM_PARTIES and isinstance(value, dict) and isinstance(value.get("id"), int):
                original = value["id"]
                value["id"] = self._telegram_id(original)
                self._seen(Conversation("telegram", str(value["id"])), Conversation("telegram", str(original)))
            elif key in TELEGRAM_TIMES:
                self._time_in(node, key)
            self._telegram_node(value)

    def _instagram(self, payload: dict[str, Any]) -> None:
        for entry in _dicts(payload.get("entry")):
            account = entry.get("id")
            self._account("instagram", account)
            self._time_in(entry, "time", unit=1000)
            for event in [*_dicts(entry.get("messaging")), *_dicts(entry.get("standby"))]:
                for party in ("sender", "recipient"):
                    # Our own account stays as it is: an echo is recognised by sender.id == entry.id.
                    holder = event.get(party)
                    if isinstance(holder, dict) and holder.get("id") != account:
                        self._user_in("instagram", holder, "id")
                self._time_in(event, "timestamp", unit=1000)
                for kind in INSTAGRAM_MIDS:
                    self._id_in(event.get(kind), "mid")
                message = event.get("message")
                if isinstance(message, dict):
                    self._id_in(message.get("reply_to"), "mid")

    def _generic(self, payload: dict[str, Any]) -> None:
        # A generic tenant is named by the body's account field (README, Many bots in one deployment).
        account = payload.get("account")
        self._account("generic", account if isinstance(account, str) and account else generic.ACCOUNT_ID)
        self._user_in("generic", payload, "conversation_id")
        self._id_in(payload, "message_id")
        self._time_in(payload, "timestamp")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def timestamp_origin(events: tuple[Event, ...]) -> int | None:
    """The earliest channel timestamp in the events, in whole seconds (None when they carry none)."""
    probe = RunIds(nonce="0")
    for event in events:
        if event.payload is not None:
            probe.rewrite(event.channel, event.payload)
    return int(min(probe.times)) if probe.times else None


def payload_accounts(fixture: Fixture) -> set[tuple[str, str]]:
    """The (channel, account) pairs a fixture's events are for: the accounts its payloads name, and the declared
    Telegram tenant of each event posted to a tenant's path."""
    probe = RunIds(nonce="0")
    for event in fixture.events:
        if event.payload is not None:
            probe.rewrite(event.channel, event.payload)
    found = {(channel, account) for channel, named in probe.accounts.items() for account in named}
    for event in fixture.events:
        tenant = fixture.settings.tenant(event.tenant) if event.tenant else None
        if tenant is not None:
            found.add((tenant.channel, tenant.account))
    return found


def body(payload: dict[str, Any]) -> bytes:
    """Serialized once, with non-ASCII escaped as Meta sends it; the signature is over exactly these bytes."""
    return json.dumps(payload, separators=(",", ":")).encode()


def channel_secrets(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each channel's secret: the environment variable the server reads, else the local development default."""
    env = os.environ if environ is None else environ
    return {channel: env.get(variable) or DEV_SECRETS[variable] for channel, variable in SECRET_VARIABLES.items()}


def sign(channel: str, raw: bytes, secret: str, mode: str = "valid") -> dict[str, str]:
    """The headers `channel` sends with `raw`; mode 'invalid' signs with a wrong secret, 'missing' signs not at all."""
    headers = {"Content-Type": "application/json"}
    if mode == "missing":
        return headers
    if mode == "invalid":
        secret = f"not-{secret}"
    if channel == "telegram":
        headers[TELEGRAM_HEADER] = secret
    else:
        headers[GENERIC_HEADER if channel == "generic" else META_HEADER] = meta_signature(secret, raw)
    return headers
