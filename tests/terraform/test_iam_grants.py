"""Least privilege, both ways: the IAM actions Terraform grants equal the AWS calls the integration tests observe.

Grants come from the root `local.lambda_permissions` (one list of statements per function) and from the
step_functions module's policy document. Observed calls come from tests/iam/observed_actions.json, which the
integration tests write and verify. A granted action never observed is excess privilege; an observed action not
granted would be AccessDenied in AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

REPO_ROOT = Path(__file__).resolve().parents[2]
ROOT_MAIN = REPO_ROOT / "main.tf"
STEP_FUNCTIONS_DIR = REPO_ROOT / "modules" / "step_functions"
OBSERVED = REPO_ROOT / "tests" / "iam" / "observed_actions.json"

# Every function writes its own logs and traces; the integration tests (moto) cannot observe these calls.
BASELINE = {"logs:createlogstream", "logs:putlogevents"}
BASELINE_PREFIXES = ("xray:",)
# Step Functions delivers execution logs through CloudWatch Logs' vended-log APIs, which AWS requires on the
# state machine's role (they support no resource-level scoping); no execution makes these calls itself.
STATE_MACHINE_LOG_DELIVERY = {
    "logs:createlogdelivery",
    "logs:getlogdelivery",
    "logs:updatelogdelivery",
    "logs:deletelogdelivery",
    "logs:listlogdeliveries",
    "logs:putresourcepolicy",
    "logs:describeresourcepolicies",
    "logs:describeloggroups",
}
# Granted only when configured (secrets in SSM or Secrets Manager and their KMS key; ai_provider = "bedrock", whose
# Converse call is authorised as InvokeModel; transcribe_provider = "aws"; a customer managed key for the media
# bucket, used through S3), so the integration tests (env secrets, echo AI, no transcription) never call them.
CONDITIONAL = {
    "kms:decrypt",
    "ssm:getparameter",
    "secretsmanager:getsecretvalue",
    "bedrock:invokemodel",
    "transcribe:starttranscriptionjob",
    "transcribe:gettranscriptionjob",
    "kms:generatedatakey",
}
# Granted to a role only when the deployment has tenants (the `tenants` variable): reply reads the tenants' items with a
# Query it never makes otherwise, and the integration tests' observed run has no tenants. Observed, it must be granted.
TENANT_CONDITIONAL = {"reply": {"dynamodb:query"}}
TRUST_ACTIONS = {"sts:assumerole"}

_HCL = SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=True)
_ACTIONS_IN_EXPRESSION = re.compile(r"actions\s*=\s*\[([^\]]*)\]")
_QUOTED_ACTION = re.compile(r'"([A-Za-z0-9-]+:[A-Za-z0-9*?]+)"')


def _is_ignored(action: str, role: str) -> bool:
    """True for baseline and configuration-dependent actions that the observed calls cannot contain."""
    key = action.lower()
    if key in BASELINE or key in CONDITIONAL or key.startswith(BASELINE_PREFIXES):
        return True
    return role == "state_machine" and key in STATE_MACHINE_LOG_DELIVERY


def _actions_in(value: Any) -> Iterator[str]:
    """Every action string under an `actions` key, in literals and inside `${...}` expressions (concat, ternary)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "actions":
                yield from _strings(item)
            else:
                yield from _actions_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _actions_in(item)
    elif isinstance(value, str):
        for group in _ACTIONS_IN_EXPRESSION.findall(value):
            yield from _QUOTED_ACTION.findall(group)


def _strings(value: Any) -> Iterator[str]:
    """Action names from an `actions` value: a literal list, or an expression holding quoted actions."""
    if isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        if value.startswith("${"):
            yield from _QUOTED_ACTION.findall(value)
        else:
            yield value


def lambda_grants(main_tf_text: str) -> dict[str, set[str]]:
    """Actions granted per function by `locals { lambda_permissions = { name = [statements] } }`."""
    doc = hcl2.loads(main_tf_text, serialization_options=_HCL)
    permissions: dict[str, Any] | None = None
    for block in doc.get("locals", []):
        if "lambda_permissions" in block:
            permissions = block["lambda_permissions"]
    assert isinstance(permissions, dict), "locals.lambda_permissions must be a literal map of function -> statements"
    return {name: set(_actions_in(statements)) for name, statements in permissions.items()}


def policy_document_grants(module_dir: Path) -> set[str]:
    """Actions of every `aws_iam_policy_document` in a module, trust policies (sts:AssumeRole) excluded."""
    actions: set[str] = set()
    for path in sorted(module_dir.glob("*.tf")):
        doc = hcl2.loads(path.read_text(), serialization_options=_HCL)
        for data in doc.get("data", []):
            for name, body in data.get("aws_iam_policy_document", {}).items():
                if name.startswith("__"):
                    continue
                actions |= {a for a in _actions_in(body) if a.lower() not in TRUST_ACTIONS}
    return actions


def compare(granted: dict[str, set[str]], observed: dict[str, list[str]]) -> list[str]:
    """Differences between grants and observed calls, per role, ignoring baseline and conditional actions."""
    problems: list[str] = []
    for role in sorted(granted.keys() | observed.keys()):
        if role not in granted:
            problems.append(f"{role}: observed calls but no grants found for this role")
            continue
        if role not in observed:
            problems.append(f"{role}: grants found but no observed calls recorded for this role")
            continue
        seen = {a.lower(): a for a in observed[role]}
        given = {
            a.lower(): a
            for a in granted[role]
            if not _is_ignored(a, role) and (a.lower() not in TENANT_CONDITIONAL.get(role, set()) or a.lower() in seen)
        }
        problems += [f"{role}: grants {given[k]} but it was never observed" for k in sorted(given.keys() - seen.keys())]
        problems += [f"{role}: calls {seen[k]} but it is not granted" for k in sorted(seen.keys() - given.keys())]
    return problems


def test_terraform_grants_equal_observed_calls() -> None:
    """Each role's grants (minus baseline) are exactly the actions its code was observed to call."""
    assert ROOT_MAIN.is_file(), "root main.tf is missing"
    granted = lambda_grants(ROOT_MAIN.read_text())
    granted["state_machine"] = policy_document_grants(STEP_FUNCTIONS_DIR)
    observed: dict[str, list[str]] = json.loads(OBSERVED.read_text())
    problems = compare(granted, observed)
    assert not problems, "\n".join(problems)


# --- self-tests --------------------------------------------------------------------------------------------------

MAIN_TF = """
locals {
  lambda_permissions = {
    post_message = [
      { sid = "Buffer", actions = ["dynamodb:UpdateItem"], resources = [module.table.arn] },
      { sid = "Timer", actions = ["states:StartExecution"], resources = [local.state_machine_arn] },
      { sid = "Logs", actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = ["x:*"] },
      { sid = "XRay", actions = ["xray:PutTraceSegments"], resources = ["*"] },
    ]
    reply = concat(
      [{ sid = "Turn", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [module.table.arn] }],
      var.kms_key_arn == null ? [] : [{ sid = "Kms", actions = ["kms:Decrypt"], resources = [var.kms_key_arn] }],
    )
  }
}
"""


def test_grants_are_read_from_literals_and_expressions() -> None:
    """Statements written as literals and inside concat()/conditional expressions are both found."""
    assert lambda_grants(MAIN_TF) == {
        "post_message": {
            "dynamodb:UpdateItem",
            "states:StartExecution",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "xray:PutTraceSegments",
        },
        "reply": {"dynamodb:GetItem", "dynamodb:UpdateItem", "kms:Decrypt"},
    }


def test_step_functions_policy_excludes_trust_policy(tmp_path: Path) -> None:
    """The role's permissions are read from its policy documents, including dynamic statements; AssumeRole is not."""
    (tmp_path / "main.tf").write_text(
        'data "aws_iam_policy_document" "assume" {\n  statement {\n    actions = ["sts:AssumeRole"]\n  }\n}\n'
        'data "aws_iam_policy_document" "this" {\n  statement {\n    actions = ["lambda:InvokeFunction"]\n  }\n'
        '  dynamic "statement" {\n    for_each = var.x\n    content {\n      actions = ["sqs:SendMessage"]\n'
        "    }\n  }\n}\n"
    )
    assert policy_document_grants(tmp_path) == {"lambda:InvokeFunction", "sqs:SendMessage"}


@pytest.mark.parametrize(
    ("granted", "observed", "expected"),
    [
        pytest.param(
            {"reply": {"dynamodb:GetItem", "dynamodb:DeleteItem"}},
            {"reply": ["dynamodb:GetItem"]},
            ["reply: grants dynamodb:DeleteItem but it was never observed"],
            id="granted-never-observed",
        ),
        pytest.param(
            {"reply": {"dynamodb:GetItem"}},
            {"reply": ["dynamodb:GetItem", "dynamodb:UpdateItem"]},
            ["reply: calls dynamodb:UpdateItem but it is not granted"],
            id="observed-not-granted",
        ),
        pytest.param(
            {"reply": {"dynamodb:getitem", "logs:PutLogEvents", "xray:PutTraceSegments", "kms:Decrypt"}},
            {"reply": ["dynamodb:GetItem"]},
            [],
            id="baseline-conditional-and-case-ignored",
        ),
        pytest.param(
            {"state_machine": {"logs:CreateLogDelivery"}, "reply": {"logs:CreateLogDelivery"}},
            {"state_machine": [], "reply": []},
            ["reply: grants logs:CreateLogDelivery but it was never observed"],
            id="log-delivery-only-for-the-state-machine",
        ),
        pytest.param(
            {"reply": {"dynamodb:GetItem", "dynamodb:Query"}, "post_message": {"dynamodb:GetItem"}},
            {"reply": ["dynamodb:GetItem"], "post_message": ["dynamodb:GetItem", "dynamodb:Query"]},
            ["post_message: calls dynamodb:Query but it is not granted"],
            id="tenant-query-optional-for-reply-only",
        ),
        pytest.param(
            {"reply": {"dynamodb:GetItem"}},
            {"reply": ["dynamodb:GetItem", "dynamodb:Query"]},
            ["reply: calls dynamodb:Query but it is not granted"],
            id="tenant-query-observed-must-be-granted",
        ),
        pytest.param(
            {"reply": {"dynamodb:GetItem"}},
            {"reply": ["dynamodb:GetItem"], "post_message": ["dynamodb:UpdateItem"]},
            ["post_message: observed calls but no grants found for this role"],
            id="role-missing-from-terraform",
        ),
    ],
)
def test_compare_fails_both_ways(
    granted: dict[str, set[str]], observed: dict[str, list[str]], expected: list[str]
) -> None:
    """An excess grant and a missing grant are each reported; ignorable actions are not."""
    assert compare(granted, observed) == expected
