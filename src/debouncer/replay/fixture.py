"""Replay scenarios: loaded, checked against schemas/scenario.schema.json and the channel schemas, and compared
with a server's settings."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from debouncer import schemas
from debouncer.domain.errors import InvalidPayloadError


class ReplayError(Exception):
    """Base of the errors that stop a replay before anything is sent (exit status 2)."""


class FixtureError(ReplayError):
    """A fixture file that is not a valid scenario."""


class SettingsMismatchError(ReplayError):
    """The server runs with other settings than the fixtures' expectations assume."""


@dataclass(frozen=True)
class Conversation:
    """One conversation as the fixture names it: the channel and the user as written in the payloads."""

    channel: str
    user: str

    @classmethod
    def parse(cls, text: str) -> Conversation:
        """'whatsapp:15550001001' -> Conversation('whatsapp', '15550001001')."""
        channel, _, user = text.partition(":")
        return cls(channel, user)

    def __str__(self) -> str:
        return f"{self.channel}:{self.user}"


TIMING = ("debounce_seconds", "max_wait_seconds", "max_messages")
TENANTS_FILE_NAME = "tenants.json"  # what the refusal's advice calls the tenants file it shows


@dataclass(frozen=True)
class ScenarioTenant:
    """A tenant the server must run, with the timing the fixture's expectations assume for its conversations."""

    id: str
    channel: str
    account: str
    debounce_seconds: int
    max_wait_seconds: int
    max_messages: int

    def entry(self) -> dict[str, Any]:
        """This tenant as a TENANTS_FILE entry (README, Many bots in one deployment)."""
        timing = {key: getattr(self, key) for key in TIMING}
        return {"id": self.id, "channel": self.channel, "account": self.account, "settings": timing}

    def describe(self) -> str:
        """'clinic (whatsapp 106540352200001: debounce 1s, max wait 4s, max messages 10)'."""
        return (
            f"{self.id} ({self.channel} {self.account}: debounce {self.debounce_seconds}s, "
            f"max wait {self.max_wait_seconds}s, max messages {self.max_messages})"
        )


@dataclass(frozen=True)
class ScenarioSettings:
    """The server settings a fixture's expectations assume: the deployment's, and each declared tenant's."""

    debounce_seconds: int
    max_wait_seconds: int
    max_messages: int
    flush_keywords: tuple[str, ...] | None = None
    tenants: tuple[ScenarioTenant, ...] = ()

    def env(self) -> str:
        """The environment that starts a server with these settings (the tenants, if any, go in TENANTS_FILE)."""
        words = f"DEBOUNCE_SECONDS={self.debounce_seconds} MAX_WAIT_SECONDS={self.max_wait_seconds} "
        words += f"MAX_MESSAGES={self.max_messages}"
        if self.flush_keywords:
            words += f" FLUSH_KEYWORDS={','.join(self.flush_keywords)}"
        return words

    def tenant(self, tenant_id: str) -> ScenarioTenant | None:
        """The declared tenant with this id."""
        return next((t for t in self.tenants if t.id == tenant_id), None)

    @property
    def longest_debounce(self) -> int:
        """The longest quiet window any of the fixture's conversations has."""
        return max([self.debounce_seconds, *(t.debounce_seconds for t in self.tenants)])

    @property
    def longest_max_wait(self) -> int:
        """The longest cap any of the fixture's conversations has."""
        return max([self.max_wait_seconds, *(t.max_wait_seconds for t in self.tenants)])


@dataclass(frozen=True)
class Event:
    """One POST of the timeline, due `at` seconds after the start and, with `after`, that long after the previous
    answer; `redeliver` is the index of an earlier event whose exact request is sent again."""

    index: int
    at: float
    channel: str
    after: float | None = None
    payload: dict[str, Any] | None = None
    redeliver: int | None = None
    signature: str = "valid"
    headers: Mapping[str, str | None] = field(default_factory=dict)
    status: int = 200
    ack: Mapping[str, int] | None = None  # the exact body of the 200 answer
    tenant: str | None = None  # a Telegram tenant's id: posted to /webhook/telegram/<tenant>

    @property
    def path(self) -> str:
        """The webhook route this event is posted to."""
        return f"/webhook/{self.channel}" + (f"/{self.tenant}" if self.tenant else "")

    def label(self) -> str:
        """How a failure line names the event."""
        return f"event {self.index} (at {self.at:g}s, {self.channel})"


@dataclass(frozen=True)
class ExpectedBurst:
    """One reply the conversation must get: exactly these messages, in this order."""

    name: str
    conversation: Conversation
    messages: tuple[str, ...]
    absent: tuple[str, ...] = ()
    by: float | None = None
    parts: int | None = None


@dataclass(frozen=True)
class ExpectedSilence:
    """A conversation that must get no reply at all (ignored statuses, echoes, receipts, rejected requests)."""

    name: str
    conversation: Conversation


@dataclass(frozen=True)
class Fixture:
    """A parsed, checked scenario."""

    path: Path
    name: str
    description: str
    settings: ScenarioSettings
    events: tuple[Event, ...]
    bursts: tuple[ExpectedBurst, ...]
    silences: tuple[ExpectedSilence, ...]

    @property
    def duration(self) -> float:
        """Offset of the last event, in seconds at speed 1."""
        return max(event.at for event in self.events)

    def conversations(self) -> list[Conversation]:
        """Every conversation named by an expectation, in fixture order."""
        named = [b.conversation for b in self.bursts] + [s.conversation for s in self.silences]
        return list(dict.fromkeys(named))


@cache
def _validator() -> Draft202012Validator:
    schema = schemas.load_scenario_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _where(path: Iterable[Any]) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate_document(document: Any) -> None:
    """Raise FixtureError naming the first failing path when `document` is not a scenario."""
    error = best_match(_validator().iter_errors(document))
    if error is not None:
        raise FixtureError(f"{_where(error.absolute_path)}: {error.message}")


def parse(document: dict[str, Any], path: Path) -> Fixture:
    """A Fixture from a document that passed the schema; raises FixtureError on cross-field mistakes."""
    raw_settings = document["settings"]
    keywords = raw_settings.get("flush_keywords")
    settings = ScenarioSettings(
        debounce_seconds=raw_settings["debounce_seconds"],
        max_wait_seconds=raw_settings["max_wait_seconds"],
        max_messages=raw_settings["max_messages"],
        flush_keywords=None if keywords is None else tuple(k.strip().lower() for k in keywords),
        tenants=_tenants(raw_settings.get("tenants", [])),
    )
    if settings.max_wait_seconds < settings.debounce_seconds:
        raise FixtureError("$.settings: max_wait_seconds must be >= debounce_seconds")
    events = _events(document["events"], settings)
    bursts = tuple(
        ExpectedBurst(
            name=b["burst"],
            conversation=Conversation.parse(b["conversation"]),
            messages=tuple(b["messages"]),
            absent=tuple(b.get("absent", ())),
            by=b.get("by"),
            parts=b.get("parts"),
        )
        for b in document["expect"]
    )
    silences = tuple(
        ExpectedSilence(name=s["name"], conversation=Conversation.parse(s["conversation"]))
        for s in document.get("no_reply", [])
    )
    names = [b.name for b in bursts] + [s.name for s in silences]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise FixtureError(f"$.expect: names must be unique, repeated: {', '.join(duplicates)}")
    silent = {s.conversation for s in silences}
    if clash := sorted(str(b.conversation) for b in bursts if b.conversation in silent):
        raise FixtureError(f"$.no_reply: {clash[0]} also expects a burst")
    return Fixture(
        path=path,
        name=document["name"],
        description=document.get("description", ""),
        settings=settings,
        events=events,
        bursts=bursts,
        silences=silences,
    )


def _tenants(raw_tenants: list[dict[str, Any]]) -> tuple[ScenarioTenant, ...]:
    tenants: list[ScenarioTenant] = []
    owners: dict[tuple[str, str], str] = {}
    for index, raw in enumerate(raw_tenants):
        where = f"$.settings.tenants[{index}]"
        tenant = ScenarioTenant(**{key: raw[key] for key in ("id", "channel", "account", *TIMING)})
        if tenant.max_wait_seconds < tenant.debounce_seconds:
            raise FixtureError(f"{where}: tenant {tenant.id!r}: max_wait_seconds must be >= debounce_seconds")
        if any(t.id == tenant.id for t in tenants):
            raise FixtureError(f"{where}.id: tenant id {tenant.id!r} appears twice")
        owner = owners.setdefault((tenant.channel, tenant.account), tenant.id)
        if owner != tenant.id:
            raise FixtureError(
                f"{where}.account: tenants {owner!r} and {tenant.id!r} share {tenant.channel} account {tenant.account}"
            )
        tenants.append(tenant)
    return tuple(tenants)


def _events(raw_events: list[dict[str, Any]], settings: ScenarioSettings) -> tuple[Event, ...]:
    ids: dict[str, int] = {}
    events: list[Event] = []
    for index, raw in enumerate(raw_events, 1):
        where = f"$.events[{index - 1}]"
        redeliver = None
        tenant: str | None = raw.get("tenant")
        if "redeliver" in raw:
            target = ids.get(raw["redeliver"])
            if target is None:
                raise FixtureError(f"{where}.redeliver: no earlier event has id {raw['redeliver']!r}")
            original = events[target - 1]
            if raw["at"] < original.at:
                raise FixtureError(f"{where}.at: a redelivery cannot come before event {target}")
            channel, redeliver, tenant = original.channel, target, original.tenant
        else:
            channel = raw["channel"]
            if tenant is not None:
                declared = settings.tenant(tenant)
                if channel != "telegram":
                    raise FixtureError(
                        f"{where}.tenant: only a Telegram event names its tenant (its webhook path); a {channel} "
                        "tenant is found by the payload's account"
                    )
                if declared is None or declared.channel != "telegram":
                    raise FixtureError(f"{where}.tenant: {tenant!r} is not a Telegram tenant of $.settings.tenants")
        ack = raw.get("ack")
        event = Event(
            index=index,
            at=float(raw["at"]),
            channel=channel,
            after=raw.get("after"),
            payload=raw.get("payload"),
            redeliver=redeliver,
            signature=raw.get("signature", "valid"),
            headers=raw.get("headers", {}),
            status=raw.get("status", 200),
            ack=None if ack is None else dict(ack),
            tenant=tenant,
        )
        if event.payload is not None and event.signature == "valid" and event.status == 200:
            # A payload meant to be accepted must be one the channel could really send.
            try:
                schemas.validate(channel, event.payload)
            except InvalidPayloadError as e:
                raise FixtureError(f"{where}.payload: {e}") from e
        if event_id := raw.get("id"):
            if event_id in ids:
                raise FixtureError(f"{where}.id: {event_id!r} is already used by event {ids[event_id]}")
            ids[event_id] = index
        events.append(event)
    return tuple(events)


def load(path: Path) -> Fixture:
    """Read, validate and parse one fixture file; FixtureError names the file and the failing path."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise FixtureError(f"{path}: {e}") from e
    try:
        validate_document(document)
        return parse(document, path)
    except FixtureError as e:
        raise FixtureError(f"{path}: {e}") from e


def settings_mismatch(
    fixture: Fixture, server: Mapping[str, Any], accounts: Collection[tuple[str, str]] = ()
) -> list[str]:
    """What differs between the settings a fixture assumes and a server's GET /local/settings ([] when none).

    `accounts` are the (channel, account) pairs the fixture's payloads name: a tenant the server runs for one of
    them, undeclared by the fixture, must have the timing the fixture assumes for the deployment.
    """
    problems = [
        f"{key}={getattr(fixture.settings, key)} (server: {server.get(key)})"
        for key in TIMING
        if server.get(key) != getattr(fixture.settings, key)
    ]
    active = {str(k).strip().lower() for k in server.get("flush_keywords") or ()}
    if fixture.settings.flush_keywords is not None:
        if set(fixture.settings.flush_keywords) != active:
            wanted = ",".join(fixture.settings.flush_keywords) or "(none)"
            problems.append(f"flush_keywords={wanted} (server: {','.join(sorted(active)) or '(none)'})")
    else:
        # Not relying on keywords: fine with any, as long as none of the fixture's texts is one.
        texts = {t.strip().lower() for b in fixture.bursts for t in (*b.messages, *b.absent)}
        if hit := sorted(texts & active):
            problems.append(f"no flush keywords among its texts (server flushes on: {', '.join(hit)})")
    return problems + _tenant_mismatch(fixture.settings, server, accounts)


def _tenant_mismatch(
    settings: ScenarioSettings, server: Mapping[str, Any], accounts: Collection[tuple[str, str]]
) -> list[str]:
    reported = server.get("tenants")
    if not isinstance(reported, list):
        # A server from before tenants: it cannot say whether it runs them.
        return [f"tenant {t.id!r} (server: does not report its tenants)" for t in settings.tenants]
    running = {str(t.get("id")): t for t in reported if isinstance(t, Mapping)}
    problems = []
    for tenant in settings.tenants:
        theirs = running.get(tenant.id)
        if theirs is None:
            names = ", ".join(sorted(running)) or "none"
            on = f"{tenant.channel} {tenant.account}"
            problems.append(f"tenant {tenant.id!r} on {on} (server runs no such tenant; its tenants: {names})")
            continue
        differences = [
            f"{key}={getattr(tenant, key)} (server: {theirs.get(key)})"
            for key in ("channel", "account", *TIMING)
            if theirs.get(key) != getattr(tenant, key)
        ]
        if differences:
            problems.append(f"tenant {tenant.id!r} with {', '.join(differences)}")
    declared = {t.id for t in settings.tenants}
    for tenant_id, theirs in sorted(running.items()):
        where = (str(theirs.get("channel")), str(theirs.get("account")))
        if tenant_id in declared or where not in accounts:
            continue
        # The fixture's payloads reach this tenant, but its expectations assume the deployment's timing.
        differences = [
            f"{key}={getattr(settings, key)} (server: {theirs.get(key)})"
            for key in TIMING
            if theirs.get(key) != getattr(settings, key)
        ]
        if differences:
            problems.append(
                f"{where[0]} account {where[1]} with {', '.join(differences)}, as the server's tenant {tenant_id!r} "
                "answers it (declare that tenant in settings.tenants, or run the server without it)"
            )
    return problems
