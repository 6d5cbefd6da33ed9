"""JSON Schema validation of inbound payloads (Draft 2020-12); validators are built once per process."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from debouncer.domain.errors import InvalidPayloadError
from debouncer.domain.models import InboundMessage

# The Lambda package ships the schemas inside the package; a source checkout keeps them at the repo root.
_PACKAGED = Path(__file__).parent / "schemas"
SCHEMA_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "schemas"

SCHEMA_FILES: dict[str, str] = {
    "whatsapp": "whatsapp.webhook.schema.json",
    "telegram": "telegram.update.schema.json",
    "instagram": "instagram.webhook.schema.json",
    "generic": "generic.message.schema.json",
    "normalized-message": "normalized-message.schema.json",
    "tenants": "tenants.schema.json",
}

# Not in SCHEMA_FILES: `validate` is for inbound payloads; replay fixtures are checked by debouncer.replay.
SCENARIO_SCHEMA_FILE = "scenario.schema.json"

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema registered under `name`."""
    try:
        filename = SCHEMA_FILES[name]
    except KeyError:
        raise ValueError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_FILES)}") from None
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / filename).read_text(encoding="utf-8"))
    return schema


@cache
def schema(name: str) -> dict[str, Any]:
    """Schema `name`, parsed once per process and shared: read it, never change it."""
    return load_schema(name)


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator of schema `name`, built once per process.

    The schemas' own validity is checked by the unit tests, not here: `check_schema` costs about 0.1 s of CPU per
    schema, which a Lambda would spend inside its first invocation's timeout, once per channel."""
    return Draft202012Validator(schema(name))


def validate(name: str, instance: Any) -> None:
    """Raise InvalidPayloadError naming the first failing field path when `instance` fails schema `name`."""
    error = best_match(validator(name).iter_errors(instance))
    if error is not None:
        raise InvalidPayloadError(f"{name} payload: {_describe(error)}")


def load_scenario_schema() -> dict[str, Any]:
    """The replay fixture format, schemas/scenario.schema.json (a file format, not a webhook payload)."""
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / SCENARIO_SCHEMA_FILE).read_text(encoding="utf-8"))
    return schema


def normalized_message_schema() -> dict[str, Any]:
    """The schema committed as schemas/normalized-message.schema.json, generated from InboundMessage."""
    return {"$schema": _DIALECT, "$id": "urn:chat-debouncer:schema:normalized-message"} | (
        InboundMessage.model_json_schema()
    )


def _describe(error: ValidationError) -> str:
    # jsonschema's own messages embed the offending value, which may be a whole message text (personal data).
    path = list(error.absolute_path)
    kind, expected = error.validator, error.validator_value
    if kind == "required" and isinstance(error.instance, dict) and isinstance(expected, list):
        missing = [p for p in expected if p not in error.instance]
        return f"{_path(path + missing[:1])}: is required"
    reasons = {
        "type": f"must be of type {expected}",
        "const": f"must be {json.dumps(expected)}",
        "enum": f"must be one of {json.dumps(expected)}",
        "minLength": f"must be at least {expected} characters",
        "maxLength": f"must be at most {expected} characters",
        "minItems": f"must have at least {expected} items",
        "minimum": f"must be >= {expected}",
        "maximum": f"must be <= {expected}",
        "pattern": f"must match {expected}",
        "additionalProperties": "has unexpected properties",
    }
    return f"{_path(path)}: {reasons.get(str(kind), f'fails {kind}')}"


def _path(parts: list[str | int]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
