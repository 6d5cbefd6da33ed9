"""Tenants: many bots in one deployment. A tenant is the channel account a message arrives for, with its own
settings and secrets, each falling back to the deployment's (README, Many bots in one deployment).

The tenants file (TENANTS_FILE locally; Terraform's `tenants` variable on AWS) is `{"tenants": [...]}`, checked
against schemas/tenants.schema.json, which is generated from the models below. On AWS and in the local runtime alike,
each tenant is one DynamoDB item the functions read with a short cache (debouncer.adapters.tenant_catalog): changing
one tenant's window changes one item, and no function restarts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from debouncer.config import SecretName as SecretName  # its home; named here too, where tenants set secrets
from debouncer.config import Settings
from debouncer.domain.errors import ConfigurationError
from debouncer.domain.models import Channel

# A reference, never a value: `env:NAME` locally; an SSM parameter name or a Secrets Manager ARN on AWS.
REFERENCE_PATTERN = (
    r"^(env:[A-Za-z_][A-Za-z0-9_]*"
    r"|/?[A-Za-z0-9_.\-/]{1,1011}"
    r"|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+)$"
)
TENANT_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class TenantSettings(BaseModel):
    """What a tenant may set for itself; anything unset is the deployment's value. The ranges are Settings' own,
    checked again on the merged settings (so a tenant's window must also fit Express's 5 minutes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    debounce_seconds: int | None = Field(default=None, ge=1, le=3600)
    max_wait_seconds: int | None = Field(default=None, ge=1, le=86_400)
    max_messages: int | None = Field(default=None, ge=1, le=95)
    flush_keywords: tuple[str, ...] | None = None
    supersede_stale_answers: bool | None = None
    handoff_seconds: int | None = Field(default=None, ge=0, le=30 * 86_400)
    ai_system_prompt: str | None = Field(default=None, min_length=1, max_length=16_384)
    ai_history_turns: int | None = Field(default=None, ge=0, le=100)
    ai_fallback_message: str | None = Field(default=None, max_length=4096)
    ai_media: bool | None = None
    openai_model: str | None = Field(default=None, min_length=1, max_length=256)
    bedrock_model_id: str | None = Field(default=None, min_length=1, max_length=2048)
    transcribe_model: str | None = Field(default=None, min_length=1, max_length=200)
    show_typing: bool | None = None


class Tenant(BaseModel):
    """One bot: the channel account its messages arrive for, and what it sets for itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=TENANT_ID, description="names the tenant in logs, metrics and Telegram's webhook path")
    channel: Channel
    account: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="WhatsApp phone_number_id, Instagram business account id, Telegram bot id, generic account",
    )
    settings: TenantSettings = TenantSettings()
    secrets: dict[SecretName, Annotated[str, Field(pattern=REFERENCE_PATTERN)]] = Field(default_factory=dict)


class TenantsFile(BaseModel):
    """The tenants file: `{"tenants": [...]}`; ids and (channel, account) pairs are unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenants: tuple[Tenant, ...] = Field(max_length=1000)

    @model_validator(mode="after")
    def _unique(self) -> TenantsFile:
        seen_ids: set[str] = set()
        seen_accounts: dict[tuple[str, str], str] = {}
        for tenant in self.tenants:
            if tenant.id in seen_ids:
                raise ValueError(f"tenant id {tenant.id!r} appears twice")
            seen_ids.add(tenant.id)
            owner = seen_accounts.setdefault((tenant.channel, tenant.account), tenant.id)
            if owner != tenant.id:
                raise ValueError(f"tenants {owner!r} and {tenant.id!r} share {tenant.channel} account {tenant.account}")
        return self


def tenants_schema() -> dict[str, Any]:
    """The JSON Schema committed as schemas/tenants.schema.json."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:chat-debouncer:schema:tenants"} | (
        TenantsFile.model_json_schema()
    )


def settings_for(settings: Settings, tenant: Tenant) -> Settings:
    """The deployment's settings with the tenant's own on top, checked as a whole (ConfigurationError if not)."""
    own = tenant.settings.model_dump(exclude_none=True)
    # The account is the tenant's identity: it names the Telegram bot in conversation keys and the WhatsApp number.
    account = {
        "telegram": {"telegram_bot_id": tenant.account},
        "whatsapp": {"whatsapp_phone_number_id": tenant.account},
    }
    merged = settings.model_dump(by_alias=True) | own | account.get(tenant.channel, {})
    try:
        return Settings.model_validate(merged)
    except ValidationError as e:
        raise ConfigurationError(f"tenant {tenant.id!r}: {_first_error(e)}") from None


def check_tenants(document: Any, settings: Settings) -> TenantsFile:
    """The tenants of a parsed tenants file, each checked against the deployment's settings; ConfigurationError
    naming the tenant and the key otherwise."""
    try:
        parsed = TenantsFile.model_validate(document)
    except ValidationError as e:
        raise ConfigurationError(f"tenants file: {_first_error(e, document)}") from None
    for tenant in parsed.tenants:
        settings_for(settings, tenant)
    return parsed


def load_tenants_file(path: Path, settings: Settings) -> TenantsFile:
    """Read and check TENANTS_FILE."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigurationError(f"TENANTS_FILE {path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigurationError(f"TENANTS_FILE {path}: not valid JSON: {e}") from None
    return check_tenants(document, settings)


class Tenancy:
    """The tenants of one deployment, found by the channel account a message arrives for, or by id."""

    def __init__(self, tenants: Iterable[Tenant] = ()) -> None:
        self._by_account: dict[tuple[str, str], Tenant] = {(t.channel, t.account): t for t in tenants}
        self._by_id = {t.id: t for t in self._by_account.values()}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Tenant]:
        return iter(self._by_id.values())

    def for_account(self, channel: str, account: str) -> Tenant | None:
        """The tenant of this channel account; None: the deployment's own settings and secrets."""
        return self._by_account.get((channel, account))

    def by_id(self, tenant_id: str) -> Tenant | None:
        """The tenant with this id."""
        return self._by_id.get(tenant_id)


def _first_error(error: ValidationError, document: Any = None) -> str:
    first = error.errors()[0]
    location = list(first["loc"])
    where = ""
    # Name the tenant by its id where it has one: "tenant 'clinic-a' (tenants[0]) settings.debounce_seconds".
    if len(location) >= 2 and location[0] == "tenants" and isinstance(location[1], int):
        index = location[1]
        entries = document.get("tenants") if isinstance(document, dict) else None
        entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
        tenant_id = entry.get("id") if isinstance(entry, dict) else None
        where = f"tenant {tenant_id!r} (tenants[{index}])" if tenant_id else f"tenants[{index}]"
        location = location[2:]
    path = ".".join(str(part) for part in location)
    message = first["msg"].removeprefix("Value error, ")
    return " ".join(part for part in (where, f"{path}:" if path else "", message) if part)
