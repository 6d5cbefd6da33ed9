"""Self-tests of the stand-in provider: real Terraform catches what the hcl2 schema check cannot, and planning works."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.xdist_group("terraform")

# Each seeded file passes tools/provider_schema.py (argument names are right) but is wrong Terraform.
SEEDED_ERRORS = {
    "bad_attribute_reference": (
        'output "seeded" {\n  value = module.dynamodb.table_nme\n}\n',
        "Unsupported attribute",
    ),
    "undeclared_variable": (
        'resource "aws_sqs_queue" "seeded" {\n  name = var.not_declared\n}\n',
        "Reference to undeclared input variable",
    ),
    "type_mismatch": (
        'resource "aws_sqs_queue" "seeded" {\n  name          = "seeded"\n  delay_seconds = { seconds = 5 }\n}\n',
        "Incorrect attribute value type",
    ),
    "for_each_over_list": (
        'resource "aws_sqs_queue" "seeded" {\n  for_each = ["a", "b"]\n  name     = each.value\n}\n',
        "Invalid for_each argument",
    ),
}


@pytest.mark.parametrize("case", list(SEEDED_ERRORS))
def test_terraform_rejects_what_hcl2_accepts(
    case: str, tf_workspace: Any, tmp_path: Path, schema_tool: ModuleType, aws_schema: dict[str, Any]
) -> None:
    """The seeded file is clean for the hcl2 check, and makes real `terraform validate` fail with the expected error."""
    text, expected = SEEDED_ERRORS[case]
    assert not schema_tool.validate_text(text, aws_schema, "seeded.tf", tf_workspace.root)
    seeded = tf_workspace.clone(tmp_path / "config", {"seeded.tf": text})
    result = seeded.validate()
    assert not result.ok, result.text()
    summaries = [d["summary"] for d in result.stdout["diagnostics"] if d["severity"] == "error"]
    assert expected in summaries, result.text()


def test_clone_without_seeded_error_validates(tf_workspace: Any, tmp_path: Path) -> None:
    """Control for the seeded tests: a clone with a correct extra file validates."""
    text = 'resource "aws_sqs_queue" "seeded" {\n  for_each = toset(["a"])\n  name     = each.value\n}\n'
    result = tf_workspace.clone(tmp_path / "config", {"seeded.tf": text}).validate()
    assert result.ok, result.text()


def test_plan_marks_computed_attributes_unknown(tf_harness: ModuleType) -> None:
    """Computed attributes the config leaves null become unknown, in nested blocks too; set ones stay as written."""
    import terraform_provider.schema as schema
    import terraform_provider.values as values

    block = schema.load_schema()["resource_schemas"]["aws_lambda_function"]["block"]
    proposed = {name: None for name in block["attributes"]} | {
        "function_name": "f",
        "role": "arn:aws:iam::123456789012:role/r",
        "logging_config": [{"log_format": "Text", "log_group": None, "application_log_level": None}],
        "ephemeral_storage": [{"size": None}],
    }
    planned = values.mark_computed_unknown(block, proposed)
    assert values.is_unknown(planned["arn"]) and values.is_unknown(planned["id"])
    assert planned["function_name"] == "f" and planned["description"] is None
    assert values.is_unknown(planned["logging_config"][0]["log_group"])
    assert planned["logging_config"][0]["application_log_level"] is None  # optional, not computed
    assert values.is_unknown(planned["ephemeral_storage"][0]["size"])


@pytest.mark.parametrize(
    ("region", "partition", "dns_suffix"),
    [
        ("eu-west-1", "aws", "amazonaws.com"),
        ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
        ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
    ],
)
def test_partition_follows_region(tf_harness: ModuleType, region: str, partition: str, dns_suffix: str) -> None:
    """aws_partition answers from the provider's Region."""
    import terraform_provider.data_sources as data_sources

    answer = data_sources.partition_data({"partition": None, "dns_suffix": None}, region)
    assert (answer["partition"], answer["dns_suffix"]) == (partition, dns_suffix)
