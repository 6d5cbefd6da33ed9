"""Offline `terraform validate`: every .tf file against the AWS provider schema derived from the cdktf bindings."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# The first run derives the schema (~60 MB wheel, a few seconds); one worker does it, the others reuse the cache.
pytestmark = pytest.mark.xdist_group("provider_schema")

REPO_ROOT = Path(__file__).resolve().parents[2]


def _problems(schema_tool: ModuleType, schema: dict[str, Any], hcl: str, module_dir: Path | None = None) -> list[str]:
    """Validate an inline HCL snippet and return its problems as strings."""
    return [str(p) for p in schema_tool.validate_text(hcl, schema, "snippet.tf", module_dir)]


def test_schema_is_the_pinned_provider(aws_schema: dict[str, Any]) -> None:
    """The cached schema is derived from cdktf-provider-aws 21.22.1, which wraps hashicorp/aws 6.25.0."""
    assert (aws_schema["cdktf_version"], aws_schema["provider_version"]) == ("21.22.1", "6.25.0")
    assert {"aws_dynamodb_table", "aws_lambda_function", "aws_sfn_state_machine"} <= aws_schema["resource"].keys()
    assert "aws_iam_policy_document" in aws_schema["data"]


def test_tf_file_matches_provider_schema(tf_file: Path, schema_tool: ModuleType, aws_schema: dict[str, Any]) -> None:
    """Known resource/data types, known arguments and blocks, every required argument set, module inputs declared."""
    problems = schema_tool.validate_file(tf_file, aws_schema)
    assert not problems, "\n".join(map(str, problems))


# --- self-tests: the validator rejects what `terraform validate` would reject, and only that --------------------

VALID = """
resource "aws_dynamodb_table" "this" {
  name         = var.name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  count        = 1
  depends_on   = [aws_sqs_queue.dlq]
  attribute {
    name = "pk"
    type = "S"
  }
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
  dynamic "global_secondary_index" {
    for_each = var.indexes
    content {
      name            = global_secondary_index.key
      hash_key        = global_secondary_index.value
      projection_type = "ALL"
    }
  }
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_sqs_queue" "dlq" {
  for_each = toset(["a"])
  name     = each.key
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

provider "aws" {
  region = "eu-west-1"
  default_tags {
    tags = { project = "chat-debouncer" }
  }
}

resource "terraform_data" "marker" {
  input = 1
}
"""


def test_valid_snippet_passes(schema_tool: ModuleType, aws_schema: dict[str, Any]) -> None:
    """Meta-arguments, dynamic blocks, nested blocks, the provider block and built-ins are all accepted."""
    assert _problems(schema_tool, aws_schema, VALID) == []


@pytest.mark.parametrize(
    ("hcl", "expected"),
    [
        pytest.param(
            'resource "aws_sqs_queue" "q" {\n  name = "q"\n  visibility_timeout = 30\n  colour = "red"\n}\n',
            'aws_sqs_queue.q.colour: unsupported argument "colour"',
            id="unknown-argument",
        ),
        pytest.param(
            'resource "aws_dynamodb_table" "t" {\n  name = "t"\n  atribute {\n    name = "pk"\n  }\n}\n',
            'aws_dynamodb_table.t.atribute: unsupported block type "atribute"',
            id="misspelt-block",
        ),
        pytest.param(
            'resource "aws_lambda_function" "f" {\n  function_name = "f"\n}\n',
            'aws_lambda_function.f: missing required argument "role"',
            id="missing-required-argument",
        ),
        pytest.param(
            'resource "aws_dynamodb_table" "t" {\n  name = "t"\n  attribute {\n    name = "pk"\n  }\n}\n',
            'aws_dynamodb_table.t.attribute: missing required argument "type"',
            id="missing-required-in-nested-block",
        ),
        pytest.param(
            'resource "aws_api_gateway_method_settings" "s" {\n  rest_api_id = "a"\n  stage_name = "b"\n'
            '  method_path = "*/*"\n}\n',
            'aws_api_gateway_method_settings.s: missing required block "settings"',
            id="missing-required-block",
        ),
        pytest.param(
            'data "aws_iam_policy_document" "p" {\n  statement {\n    actions = ["s3:GetObject"]\n'
            '    principal {\n      type = "AWS"\n      identifiers = ["*"]\n    }\n  }\n}\n',
            'data.aws_iam_policy_document.p.statement.principal: unsupported block type "principal"',
            id="misspelt-nested-block",
        ),
        pytest.param(
            'resource "aws_dynamodb_table" "t" {\n  name = "t"\n  dynamic "atribute" {\n    for_each = var.a\n'
            "    content {\n      name = atribute.value\n    }\n  }\n}\n",
            'aws_dynamodb_table.t.dynamic.atribute: dynamic block for unsupported block type "atribute"',
            id="dynamic-misspelt-block",
        ),
        pytest.param(
            'resource "aws_dynamodb_table" "t" {\n  name = "t"\n  dynamic "attribute" {\n    for_each = var.a\n'
            '    content {\n      name = attribute.value\n      typ = "S"\n    }\n  }\n}\n',
            'aws_dynamodb_table.t.dynamic.attribute.content.typ: unsupported argument "typ"',
            id="dynamic-content-checked",
        ),
        pytest.param(
            'resource "aws_dynamodb_table" "t" {\n  name = "t"\n  ttl = { attribute_name = "x" }\n}\n',
            'aws_dynamodb_table.t.ttl: "ttl" is a block: write `ttl { ... }`, not `ttl = ...`',
            id="block-written-as-argument",
        ),
        pytest.param(
            'resource "aws_dynamodb_table" "t" {\n  name = "t"\n  ttl {\n    enabled = true\n  }\n'
            "  ttl {\n    enabled = false\n  }\n}\n",
            'aws_dynamodb_table.t.ttl: at most one "ttl" block is allowed, found 2',
            id="too-many-single-blocks",
        ),
        pytest.param(
            'resource "aws_dynamodb_tabel" "t" {\n  name = "t"\n}\n',
            "aws_dynamodb_tabel.t: unknown resource type 'aws_dynamodb_tabel' in aws 6.25.0",
            id="unknown-resource-type",
        ),
        pytest.param(
            'data "aws_iam_policy" "p" {\n  arn = "x"\n  statement {}\n}\n',
            'data.aws_iam_policy.p.statement: unsupported block type "statement"',
            id="data-source-block",
        ),
        pytest.param(
            'provider "aws" {\n  regoin = "eu-west-1"\n}\n',
            'provider.aws.regoin: unsupported argument "regoin"',
            id="provider-argument",
        ),
    ],
)
def test_invalid_snippet_fails(hcl: str, expected: str, schema_tool: ModuleType, aws_schema: dict[str, Any]) -> None:
    """Each seeded mistake is reported, with its address."""
    assert f"snippet.tf: {expected}" in _problems(schema_tool, aws_schema, hcl)


def test_module_inputs_are_checked(tmp_path: Path, schema_tool: ModuleType, aws_schema: dict[str, Any]) -> None:
    """A module call with an undeclared input, or without a required one, fails; defaults make inputs optional."""
    # GIVEN a local module with one required and one optional variable
    module = tmp_path / "modules" / "queue"
    module.mkdir(parents=True)
    (module / "variables.tf").write_text(
        'variable "name" {\n  type = string\n}\nvariable "retention" {\n  type    = number\n  default = 60\n}\n'
    )
    ok = 'module "q" {\n  source = "./modules/queue"\n  name   = "q"\n}\n'
    bad = 'module "q" {\n  source    = "./modules/queue"\n  retention = 1\n  colour    = "red"\n}\n'
    # WHEN the calls are validated from the root
    # THEN the good call passes and the bad one reports both mistakes
    assert _problems(schema_tool, aws_schema, ok, tmp_path) == []
    assert sorted(_problems(schema_tool, aws_schema, bad, tmp_path)) == [
        'snippet.tf: module.q.colour: unsupported argument "colour"',
        'snippet.tf: module.q: missing required argument "name"',
    ]
