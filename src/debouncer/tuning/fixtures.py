"""Timings from replay scenarios (docs/replay.md): each accepted event's messages arrive at the event's offset."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from debouncer.channels import generic, instagram, telegram, whatsapp
from debouncer.domain.models import InboundMessage
from debouncer.replay.fixture import Event, Fixture, FixtureError, load
from debouncer.tuning.trace import TimedMessage, TraceError

DEFAULT_TELEGRAM_BOT = "bot"


def read_fixtures(paths: Collection[Path], keywords: Collection[str] = ()) -> list[TimedMessage]:
    """The messages of every scenario file; each fixture's conversations are its own (named after the fixture).

    Redeliveries, and events the webhook refuses (a bad signature, a status other than 200), bring no message.
    """
    messages: list[TimedMessage] = []
    for path in paths:
        try:
            fixture = load(path)
        except FixtureError as e:
            raise TraceError(str(e)) from e
        messages += _timings(fixture, {k.strip().lower() for k in keywords})
    return messages


def _timings(fixture: Fixture, keywords: set[str]) -> list[TimedMessage]:
    tenants = {(t.channel, t.account): t.id for t in fixture.settings.tenants}
    seen: set[tuple[str, str]] = set()
    found = []
    for event in fixture.events:
        if event.payload is None or event.redeliver is not None or event.signature != "valid" or event.status != 200:
            continue
        for message in _inbound(fixture, event):
            if (message.conversation_key, message.message_id) in seen:
                continue
            seen.add((message.conversation_key, message.message_id))
            text = (message.text or "").strip().lower()
            found.append(
                TimedMessage(
                    conversation=f"{fixture.name}/{message.conversation_key}",
                    at=event.at,
                    tenant=tenants.get((message.channel, message.account_id)),
                    channel=message.channel,
                    size=len(message.document.encode()) + len(message.message_id.encode()),
                    keyword=text if text in keywords else None,
                )
            )
    return found


def _inbound(fixture: Fixture, event: Event) -> list[InboundMessage]:
    payload = event.payload or {}
    if event.channel == "whatsapp":
        items = whatsapp.normalize(payload)
    elif event.channel == "instagram":
        items = instagram.normalize(payload)
    elif event.channel == "telegram":
        tenant = fixture.settings.tenant(event.tenant) if event.tenant else None
        items = telegram.normalize(payload, bot_id=tenant.account if tenant else DEFAULT_TELEGRAM_BOT)
    else:
        items = generic.normalize(payload, now_ms=round(event.at * 1000))
    return [item for item in items if isinstance(item, InboundMessage)]
