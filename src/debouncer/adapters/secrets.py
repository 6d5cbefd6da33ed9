"""Secrets: environment values locally; SSM Parameter Store (SecureString) or Secrets Manager on AWS, cached."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping

from debouncer.config import SecretName, Settings
from debouncer.domain.errors import ConfigurationError

__all__ = ["CACHE_SECONDS", "SecretName", "Secrets"]

CACHE_SECONDS = 300


class Secrets:
    """Resolves a secret by name when first needed; values never reach logs or Terraform."""

    def __init__(self, settings: Settings, references: Mapping[SecretName, str] | None = None) -> None:
        self._settings = settings
        # A tenant's own secrets, by reference (debouncer.tenants.REFERENCE_PATTERN); the others are the deployment's.
        self._references = dict(references or {})

    def configured(self, name: SecretName) -> bool:
        """Whether the secret has a value (env) or a parameter name (ssm), without fetching it."""
        if name in self._references:
            return True
        if self._settings.secrets_source == "env":
            return getattr(self._settings, name) is not None
        return bool(getattr(self._settings, f"{name}_param"))

    def getter(self, name: SecretName) -> Callable[[], str]:
        """A function reading the secret on each use, so a rotated value is picked up once the cache expires."""
        return functools.partial(self.get, name)

    def get(self, name: SecretName) -> str:
        """The secret's value, or ConfigurationError when it is not configured (fail closed)."""
        if (reference := self._references.get(name)) is not None:
            return _resolve(reference, name)
        if self._settings.secrets_source == "env":
            value = getattr(self._settings, name)
            if value is None:
                raise ConfigurationError(f"{name.upper()} is not set")
            return str(value.get_secret_value())
        parameter: str = getattr(self._settings, f"{name}_param")
        if not parameter:
            raise ConfigurationError(f"{name.upper()}_PARAM is not set")
        return _resolve(parameter, name)


def _resolve(parameter: str, name: SecretName) -> str:
    """A reference's value: `env:NAME` (local tenants files), a Secrets Manager ARN, or an SSM parameter name."""
    if parameter.startswith("env:"):
        value = os.environ.get(parameter.removeprefix("env:"))
        if value is None:
            raise ConfigurationError(f"{name.upper()}: {parameter.removeprefix('env:')} is not set")
        return value
    # Imported here: only Lambdas reading secrets pay for it, and Powertools caches the value for CACHE_SECONDS.
    from aws_lambda_powertools.utilities import parameters

    if parameter.startswith("arn:") and ":secretsmanager:" in parameter:
        return str(parameters.get_secret(parameter, max_age=CACHE_SECONDS))
    return str(parameters.get_parameter(parameter, decrypt=True, max_age=CACHE_SECONDS))
