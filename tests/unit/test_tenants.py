"""Tenants: the file's checks name the tenant and the key; a tenant's settings sit over the deployment's; the
catalog reads the table once per cache age; a tenant's secrets are references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from jsonschema import Draft202012Validator
from moto import mock_aws

from debouncer import schemas
from debouncer.adapters.secrets import Secrets
from debouncer.adapters.tenant_catalog import DynamoDbTenantCatalog, tenant_item
from debouncer.config import Settings
from debouncer.domain.errors import ConfigurationError
from debouncer.local.runtime import create_table
from debouncer.tenants import Tenancy, Tenant, check_tenants, load_tenants_file, settings_for, tenants_schema

BASE = Settings(debounce_seconds=10, max_wait_seconds=60, workflow_type="STANDARD")


def _tenant(**overrides: Any) -> dict[str, Any]:
    return {"id": "clinic", "channel": "whatsapp", "account": "1065", **overrides}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_tenant(settings={"debounce": 3}), r"tenant 'clinic' \(tenants\[0\]\) settings.debounce: Extra inputs"),
        (
            _tenant(settings={"debounce_seconds": 0}),
            r"tenant 'clinic' \(tenants\[0\]\) settings.debounce_seconds: .*greater than or equal to 1",
        ),
        (_tenant(id="Clinic A"), r"tenant 'Clinic A' \(tenants\[0\]\) id: String should match"),
        (_tenant(secrets={"whatsapp_token": "env:X"}), r"tenant 'clinic' \(tenants\[0\]\) secrets.whatsapp_token"),
        (_tenant(secrets={"openai_api_key": "sk live value!"}), r"secrets.openai_api_key: String should match"),
        (
            _tenant(settings={"debounce_seconds": 90}),
            r"tenant 'clinic': .*max_wait_seconds must be >= debounce_seconds",
        ),
        (_tenant(channel="sms"), r"tenant 'clinic' \(tenants\[0\]\) channel: Input should be"),
    ],
)
def test_a_mistake_names_the_tenant_and_the_key(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        check_tenants({"tenants": [entry]}, BASE)


def test_ids_and_accounts_are_unique() -> None:
    with pytest.raises(ConfigurationError, match="tenant id 'clinic' appears twice"):
        check_tenants({"tenants": [_tenant(), _tenant(account="2")]}, BASE)
    with pytest.raises(ConfigurationError, match="tenants 'clinic' and 'sales' share whatsapp account 1065"):
        check_tenants({"tenants": [_tenant(), _tenant(id="sales")]}, BASE)


def test_a_tenants_window_must_fit_express_too() -> None:
    express = Settings(workflow_type="EXPRESS", max_wait_seconds=60)
    with pytest.raises(ConfigurationError, match=r"tenant 'clinic': .*more than Express's 300 s"):
        check_tenants({"tenants": [_tenant(settings={"max_wait_seconds": 290})]}, express)


def test_the_file_is_read_and_its_own_errors_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    with pytest.raises(ConfigurationError, match=r"TENANTS_FILE .*: No such file"):
        load_tenants_file(path, BASE)
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_tenants_file(path, BASE)
    path.write_text(json.dumps({"tenants": [_tenant()]}))
    assert [t.id for t in load_tenants_file(path, BASE).tenants] == ["clinic"]


def test_a_tenants_settings_sit_over_the_deployments() -> None:
    tenant = Tenant.model_validate(
        _tenant(settings={"debounce_seconds": 4, "ai_system_prompt": "Clinic.", "transcribe_model": "whisper-large"})
    )
    own = settings_for(BASE, tenant)
    assert (own.debounce_seconds, own.max_wait_seconds, own.ai_system_prompt) == (4, 60, "Clinic.")
    assert own.transcribe_model == "whisper-large"
    assert own.whatsapp_phone_number_id == "1065"
    bot = settings_for(BASE, Tenant.model_validate(_tenant(channel="telegram", account="7000000101")))
    assert bot.telegram_bot_id == "7000000101"  # its conversations are keyed by its own bot


def test_tenants_are_found_by_channel_account_and_by_id() -> None:
    tenancy = Tenancy(check_tenants({"tenants": [_tenant(), _tenant(id="bot", channel="telegram")]}, BASE).tenants)
    assert tenancy.for_account("whatsapp", "1065").id == "clinic"  # type: ignore[union-attr]
    assert tenancy.for_account("telegram", "1065").id == "bot"  # type: ignore[union-attr]
    assert tenancy.for_account("whatsapp", "9999") is None
    assert tenancy.by_id("bot") is not None and tenancy.by_id("nobody") is None


def test_a_tenants_secret_is_a_reference_it_resolves_and_others_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(whatsapp_access_token="deployment-token", secrets_source="env")
    secrets = Secrets(settings, {"telegram_bot_token": "env:CLINIC_BOT_TOKEN"})
    with pytest.raises(ConfigurationError, match="TELEGRAM_BOT_TOKEN: CLINIC_BOT_TOKEN is not set"):
        secrets.get("telegram_bot_token")
    monkeypatch.setenv("CLINIC_BOT_TOKEN", "123:abc")
    assert secrets.get("telegram_bot_token") == "123:abc"
    assert secrets.get("whatsapp_access_token") == "deployment-token"


@mock_aws
def test_the_catalog_reads_the_table_once_per_cache_age() -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(dynamodb, "t")
    first = Tenant.model_validate(_tenant(settings={"debounce_seconds": 4}))
    dynamodb.put_item(TableName="t", Item=tenant_item(first))
    now = [0.0]
    catalog = DynamoDbTenantCatalog(dynamodb, "t", max_age=60, clock=lambda: now[0])
    assert catalog.tenancy().by_id("clinic") == first
    changed = Tenant.model_validate(_tenant(settings={"debounce_seconds": 9}))
    dynamodb.put_item(TableName="t", Item=tenant_item(changed))
    now[0] = 59.0
    assert catalog.tenancy().by_id("clinic") == first  # cached
    now[0] = 60.0
    assert catalog.tenancy().by_id("clinic") == changed  # seen within the cache's age, no restart
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "tenants"}, "sk": {"S": "bad"}, "tenant": {"S": "{}"}})
    now[0] = 120.0
    with pytest.raises(ConfigurationError, match="tenant item 'bad' is not valid"):
        catalog.tenancy()


def test_the_schema_file_is_generated_from_the_model_and_refuses_what_the_model_refuses() -> None:
    assert schemas.load_schema("tenants") == tenants_schema(), (
        "schemas/tenants.schema.json is stale; regenerate it with: .venv/bin/python -c "
        "'import json; from debouncer.tenants import tenants_schema as s; print(json.dumps(s(), indent=2))' "
        "> schemas/tenants.schema.json"
    )
    validator = Draft202012Validator(schemas.load_schema("tenants"))
    assert validator.is_valid({"tenants": [_tenant(secrets={"openai_api_key": "/chat/openai-key"})]})
    for bad in (_tenant(settings={"debounce": 3}), _tenant(id="Clinic A"), _tenant(secrets={"x": "env:X"})):
        assert not validator.is_valid({"tenants": [bad]})
