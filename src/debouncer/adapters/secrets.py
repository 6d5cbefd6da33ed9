"""Secrets: environment values locally; SSM Parameter Store (SecureString) or Secrets Manager on AWS, cached."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from debouncer.config import SecretName, Settings
from debouncer.domain.errors import ConfigurationError

__all__ = ["CACHE_SECONDS", "SecretName", "Secrets", "clear_cache"]

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
    now = time.monotonic()
    with _LOCK:
        cached = _CACHE.get(parameter)
    if cached is not None and cached[0] > now:
        return cached[1]
    value = _fetch(parameter)
    with _LOCK:
        _CACHE[parameter] = (now + CACHE_SECONDS, value)
    return value


def _fetch(parameter: str) -> str:
    """One read of SSM (decrypted) or Secrets Manager, with a client made once per execution environment."""
    if parameter.startswith("arn:") and ":secretsmanager:" in parameter:
        response = _client("secretsmanager").get_secret_value(SecretId=parameter)
        return str(response["SecretString"])
    response = _client("ssm").get_parameter(Name=parameter, WithDecryption=True)
    return str(response["Parameter"]["Value"])


def _client(service: str) -> Any:
    # Imported here: only functions reading secrets from AWS pay for botocore's session (post_message has one already:
    # a second session costs a few milliseconds, where Powertools Parameters built a boto3 one, 100-200 ms, on the
    # first message of every cold start).
    import botocore.session

    global _session
    with _LOCK:
        if service not in _CLIENTS:
            if _session is None:
                _session = botocore.session.get_session()
            _CLIENTS[service] = _session.create_client(service)
        return _CLIENTS[service]


def clear_cache() -> None:
    """Forget every value read (what CACHE_SECONDS passing does), so the next read asks AWS again."""
    with _LOCK:
        _CACHE.clear()
        _CLIENTS.clear()


# Per execution environment: a value is read from AWS at most once per CACHE_SECONDS (a rotated secret is picked up
# within that), never once per message.
_LOCK = threading.Lock()
_CACHE: dict[str, tuple[float, str]] = {}
_CLIENTS: dict[str, Any] = {}
_session: Any = None
