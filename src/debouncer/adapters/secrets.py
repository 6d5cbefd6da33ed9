"""Secrets: environment values locally, SSM Parameter Store (SecureString, cached) on AWS."""

from __future__ import annotations

from typing import Literal

from debouncer.config import Settings
from debouncer.errors import ConfigurationError

SecretName = Literal["meta_app_secret", "meta_verify_token", "telegram_secret_token", "generic_secret"]
CACHE_SECONDS = 300


class Secrets:
    """Resolves a secret by name when first needed; values never reach logs or Terraform."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def get(self, name: SecretName) -> str:
        """The secret's value, or ConfigurationError when it is not configured (fail closed)."""
        if self._settings.secrets_source == "env":
            value = getattr(self._settings, name)
            if value is None:
                raise ConfigurationError(f"{name.upper()} is not set")
            return str(value.get_secret_value())
        parameter: str = getattr(self._settings, f"{name}_param")
        if not parameter:
            raise ConfigurationError(f"{name.upper()}_PARAM is not set")
        # Imported here: only Lambdas reading SSM pay for it, and Powertools caches the value for CACHE_SECONDS.
        from aws_lambda_powertools.utilities import parameters

        return str(parameters.get_parameter(parameter, decrypt=True, max_age=CACHE_SECONDS))
