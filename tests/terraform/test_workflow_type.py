"""workflow_type in Terraform: validated, the same ASL file for both types, Express's 5 minutes enforced at plan."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.terraform.test_structure import (
    ASL_FILE,
    MODULES_DIR,
    REPO_ROOT,
    blocks,
    call_arguments,
    load,
    root_locals,
    split_arguments,
    state_machine_definition,
    top_level_keys,
)

from debouncer.workflow import EXPRESS_MAX_SECONDS, express_seconds_needed

TYPES_FILE = REPO_ROOT / "statemachines" / "workflow_types.json"
RESOURCE_PLACEHOLDERS = {
    "partition",
    "table_name",
    "process_message_function_arn",
    "reply_function_arn",
    "dead_letter_queue_url",
}
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def _types() -> dict[str, Any]:
    types: dict[str, Any] = json.loads(TYPES_FILE.read_text())
    return types


def _state_machine() -> dict[str, Any]:
    for resource in load(MODULES_DIR / "step_functions" / "main.tf").get("resource", []):
        for instance in resource.get("aws_sfn_state_machine", {}).values():
            if isinstance(instance, dict):
                return instance
    raise AssertionError("modules/step_functions declares no aws_sfn_state_machine")


def _preconditions(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for lifecycle in body.get("lifecycle", []) for p in lifecycle.get("precondition", [])]


def _root_settings_preconditions() -> list[dict[str, Any]]:
    for resource in load(REPO_ROOT / "main.tf").get("resource", []):
        settings = resource.get("terraform_data", {}).get("settings")
        if isinstance(settings, dict):
            return _preconditions(settings)
    raise AssertionError("main.tf declares no terraform_data.settings")


def test_workflow_type_is_a_validated_root_and_module_input() -> None:
    # The root defaults to what the benchmark favours (README: Choosing a workflow type); the module to AWS's own.
    defaults = {REPO_ROOT / "variables.tf": "EXPRESS", MODULES_DIR / "step_functions" / "variables.tf": "STANDARD"}
    for path, default in defaults.items():
        variable = blocks(load(path), "variable")["workflow_type"]
        assert variable["default"] == default, path
        [validation] = variable["validation"]
        assert 'contains(["STANDARD", "EXPRESS"], var.workflow_type)' in str(validation["condition"]), path


def test_the_state_machine_takes_its_type_from_the_input() -> None:
    assert _state_machine()["type"] == "${var.workflow_type}"
    module = blocks(load(REPO_ROOT / "main.tf"), "module")["step_functions"]
    assert module["workflow_type"] == "${var.workflow_type}"


def test_each_type_supplies_exactly_the_per_type_placeholders_of_the_one_definition() -> None:
    per_type = set(_PLACEHOLDER.findall(ASL_FILE.read_text())) - RESOURCE_PLACEHOLDERS
    assert per_type
    for workflow_type in ("STANDARD", "EXPRESS"):
        assert set(_types()[workflow_type]["template"]) == per_type, workflow_type
    arguments = split_arguments(call_arguments(state_machine_definition(), "templatefile"))
    assert per_type <= top_level_keys(arguments[1])


def test_the_root_reads_the_per_type_values_from_the_file_the_runtime_reads() -> None:
    workflow = root_locals()["workflow"]
    assert workflow == '${jsondecode(file("${path.module}/statemachines/workflow_types.json"))[var.workflow_type]}'
    transient_retry = blocks(load(REPO_ROOT / "main.tf"), "module")["step_functions"]["transient_retry"]
    assert transient_retry == {
        "max_attempts": "${local.workflow.template.transient_retry_max_attempts}",
        "max_delay_seconds": "${local.workflow.template.transient_retry_max_delay_seconds}",
    }


def test_express_five_minutes_are_enforced_at_plan() -> None:
    # GIVEN the sum Terraform checks against the type's time limit
    needed = str(root_locals()["execution_seconds_needed"]).removeprefix("${").removesuffix("}")
    terms = {t.strip() for t in needed.split("+")}
    assert terms == {
        "var.max_wait_seconds",
        "local.full_length_attempts_seconds",
        "local.reply_lease_wait_seconds",
        "local.workflow.retry_budget_seconds",
        "local.workflow.overhead_seconds",
    }
    conditions = [str(p["condition"]) for p in _root_settings_preconditions()]
    assert "${local.execution_seconds_needed <= local.workflow.max_execution_seconds}" in conditions

    # AND each tenant's window is held to the same sum, with its own max_wait_seconds where it sets one
    tenant_needed = str(root_locals()["tenant_execution_seconds_needed"])
    tenant_terms = {t.strip() for t in tenant_needed.split("=>", 1)[1].rstrip("}").strip().split("+")}
    assert tenant_terms == terms - {"var.max_wait_seconds"} | {"w.max_wait_seconds"}
    windows = str(root_locals()["tenant_windows"])
    assert "coalesce(t.settings.max_wait_seconds, var.max_wait_seconds)" in windows
    over = str(root_locals()["tenants_over_execution_limit"])
    assert "s > local.workflow.max_execution_seconds" in over
    assert "${length(local.tenants_over_execution_limit) == 0}" in conditions
    # (tests/terraform/test_terraform_plan.py plans the Express edge for real: the largest window the code's
    # express_seconds_needed allows passes, one second more fails)

    # THEN with Express's figures, the example's Express suggestion fits and the code's rule agrees
    express = _types()["EXPRESS"]
    assert express["max_execution_seconds"] == EXPRESS_MAX_SECONDS
    overhead = express["reply_lease_wait_extra_seconds"] + express["retry_budget_seconds"] + express["overhead_seconds"]
    assert 60 + 60 + 2 * 30 + overhead == express_seconds_needed(60, 60, 30) <= EXPRESS_MAX_SECONDS
    assert f"+ {overhead} s" in (REPO_ROOT / "examples" / "terraform.tfvars.example").read_text()


def test_execution_logging_is_configured_for_either_type() -> None:
    state_machine = _state_machine()
    [logging] = state_machine["logging_configuration"]
    assert logging["level"] == "${var.log_level}"
    assert logging["include_execution_data"] == "${var.log_include_execution_data}"
    conditions = [str(p["condition"]) for p in _preconditions(state_machine)]
    assert '${var.workflow_type != "EXPRESS" || var.log_level != "OFF"}' in conditions
    module = blocks(load(REPO_ROOT / "main.tf"), "module")["step_functions"]
    assert module["log_include_execution_data"] == "${var.state_machine_log_execution_data}"
    variable = blocks(load(REPO_ROOT / "variables.tf"), "variable")["state_machine_log_execution_data"]
    assert variable["default"] is False  # message text is personal data


def test_outputs_name_the_workflow_type() -> None:
    assert "workflow_type" in blocks(load(REPO_ROOT / "outputs.tf"), "output")
    assert "workflow_type" in blocks(load(MODULES_DIR / "step_functions" / "outputs.tf"), "output")
