"""Realistic answers for the data sources this repository reads, computed offline."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

ACCOUNT_ID = "123456789012"


def partition_of(region: str) -> tuple[str, str]:
    """(partition, DNS suffix) of a Region, as the AWS provider's endpoint data says."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def caller_identity(config: dict[str, Any], region: str) -> dict[str, Any]:
    """aws_caller_identity: a fixed account and an IAM user ARN in the Region's partition."""
    partition, _ = partition_of(region)
    return {
        **config,
        "id": ACCOUNT_ID,
        "account_id": ACCOUNT_ID,
        "arn": f"arn:{partition}:iam::{ACCOUNT_ID}:user/terraform-standin",
        "user_id": "AIDASTANDIN0000000000",
    }


def region_data(config: dict[str, Any], region: str) -> dict[str, Any]:
    """aws_region: the provider's configured Region unless the data block names one (`region` or `name`)."""
    chosen = config.get("region") or config.get("name") or region
    _, dns_suffix = partition_of(chosen)
    return {
        **config,
        "id": chosen,
        "region": chosen,
        "name": chosen,
        "endpoint": f"ec2.{chosen}.{dns_suffix}",
        "description": chosen,
    }


def partition_data(config: dict[str, Any], region: str) -> dict[str, Any]:
    """aws_partition: partition and DNS suffix derived from the provider's Region."""
    partition, dns_suffix = partition_of(region)
    return {
        **config,
        "id": partition,
        "partition": partition,
        "dns_suffix": dns_suffix,
        "reverse_dns_prefix": ".".join(reversed(dns_suffix.split("."))),
    }


def _string_or_list(values: list[str]) -> Any:
    """One value as a string, several as a list sorted the way the AWS provider sorts set members (descending)."""
    if len(values) == 1:
        return values[0]
    return sorted(values, reverse=True)


def _principals(blocks: list[dict[str, Any]] | None) -> Any:
    """Principal/NotPrincipal element: {"Service": ...}, or "*" for the anonymous wildcard."""
    if not blocks:
        return None
    if len(blocks) == 1 and blocks[0]["type"] == "*" and list(blocks[0]["identifiers"]) == ["*"]:
        return "*"
    merged: dict[str, list[str]] = {}
    for block in blocks:
        merged.setdefault(block["type"], []).extend(block["identifiers"] or [])
    return {kind: _string_or_list(sorted(set(ids))) for kind, ids in merged.items()}


def _conditions(blocks: list[dict[str, Any]] | None) -> Any:
    """Condition element: {test: {variable: value or [values]}}."""
    if not blocks:
        return None
    out: dict[str, dict[str, Any]] = {}
    for block in blocks:
        values = list(block["values"] or [])
        out.setdefault(block["test"], {})[block["variable"]] = values[0] if len(values) == 1 else values
    return out


def policy_document(config: dict[str, Any], region: str) -> dict[str, Any]:
    """aws_iam_policy_document: the policy JSON built from the statement blocks, as the provider renders it."""
    statements = []
    for block in config.get("statement") or []:
        statement: dict[str, Any] = {}
        if block.get("sid"):
            statement["Sid"] = block["sid"]
        statement["Effect"] = block.get("effect") or "Allow"
        for key, element in (
            ("actions", "Action"),
            ("not_actions", "NotAction"),
            ("resources", "Resource"),
            ("not_resources", "NotResource"),
        ):
            if block.get(key):
                statement[element] = _string_or_list(list(block[key]))
        for key, element, render in (
            ("principals", "Principal", _principals),
            ("not_principals", "NotPrincipal", _principals),
            ("condition", "Condition", _conditions),
        ):
            rendered = render(block.get(key))
            if rendered is not None:
                statement[element] = rendered
        statements.append(statement)
    document: dict[str, Any] = {"Version": config.get("version") or "2012-10-17"}
    if config.get("policy_id"):
        document["Id"] = config["policy_id"]
    document["Statement"] = statements
    pretty = json.dumps(document, indent=2)
    return {
        **config,
        "id": str(zlib.crc32(pretty.encode())),
        "json": pretty,
        "minified_json": json.dumps(document, separators=(",", ":")),
    }


READERS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "aws_caller_identity": caller_identity,
    "aws_region": region_data,
    "aws_partition": partition_data,
    "aws_iam_policy_document": policy_document,
}
