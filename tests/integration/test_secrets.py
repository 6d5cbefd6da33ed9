"""Secrets on AWS: SSM SecureString parameters or Secrets Manager secrets, read with botocore and cached (moto)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from debouncer.adapters.secrets import Secrets, clear_cache
from debouncer.config import Settings
from debouncer.domain.errors import ConfigurationError


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    clear_cache()
    with mock_aws():
        yield
    clear_cache()


def test_ssm_parameters_and_secrets_manager_arns_are_both_read(aws: None) -> None:
    boto3.client("ssm").put_parameter(Name="/cd/wa", Value="wa-token", Type="SecureString")
    arn = boto3.client("secretsmanager").create_secret(Name="cd/tg", SecretString="tg-token")["ARN"]
    secrets = Secrets(
        Settings(secrets_source="ssm", whatsapp_access_token_param="/cd/wa", telegram_bot_token_param=arn)
    )
    assert secrets.configured("whatsapp_access_token") and secrets.configured("telegram_bot_token")
    assert not secrets.configured("instagram_access_token")
    assert secrets.getter("whatsapp_access_token")() == "wa-token"
    assert secrets.get("telegram_bot_token") == "tg-token"
    with pytest.raises(ConfigurationError, match="INSTAGRAM_ACCESS_TOKEN_PARAM"):
        secrets.get("instagram_access_token")


def test_values_are_cached_then_refreshed_after_rotation(aws: None) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/cd/key", Value="old", Type="SecureString")
    read = Secrets(Settings(secrets_source="ssm", openai_api_key_param="/cd/key")).getter("openai_api_key")
    assert read() == "old"
    ssm.put_parameter(Name="/cd/key", Value="new", Type="SecureString", Overwrite=True)
    assert read() == "old", "cached for CACHE_SECONDS: no SSM call per message"
    clear_cache()  # what the cache's expiry does
    assert read() == "new"


def test_env_secrets_never_reach_the_settings_repr() -> None:
    settings = Settings(whatsapp_access_token="EAAG-secret-value", openai_api_key="sk-secret-value")
    assert "secret-value" not in repr(settings) and "secret-value" not in str(settings.model_dump())
