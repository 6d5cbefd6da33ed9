"""The one state machine definition: placeholders, rendering, and the shape the timer relies on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from debouncer.statemachine import PLACEHOLDER, placeholders, render, render_file

ROOT = Path(__file__).parents[2]
ASL = ROOT / "statemachines" / "debounce.asl.json.tftpl"
VALUES = {
    "partition": "aws",
    "table_name": "t",
    "process_message_function_arn": "arn:p",
    "reply_function_arn": "arn:r",
    "dead_letter_queue_url": "https://q",
    "transient_retry_max_attempts": "6",
    "transient_retry_max_delay_seconds": "60",
    "timeout_retry_max_attempts": "1",
}


def test_template_is_valid_json_with_exactly_the_expected_placeholders() -> None:
    template = ASL.read_text()
    # Valid once any value stands in: the numeric placeholders (retry budgets per workflow type) are bare numbers.
    json.loads(PLACEHOLDER.sub("0", template))
    assert placeholders(template) == set(VALUES)


def test_render_refuses_a_missing_or_unused_value() -> None:
    template = ASL.read_text()
    with pytest.raises(ValueError, match="missing"):
        render(template, {k: v for k, v in VALUES.items() if k != "table_name"})
    with pytest.raises(ValueError, match="unused"):
        render(template, {**VALUES, "extra": "x"})


def test_context_paths_are_not_mistaken_for_placeholders() -> None:
    definition = json.loads(render(ASL.read_text(), VALUES))
    selector = definition["States"]["ReadBuffer"]["ResultSelector"]["now.$"]
    assert "$$.State.EnteredTime" in selector


def test_every_task_retries_with_backoff_and_catches_to_the_dead_letter_queue() -> None:
    states = json.loads(render(ASL.read_text(), VALUES))["States"]
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        assert state["Retry"], name
        assert all(r.get("MaxAttempts", 3) == 0 or r.get("BackoffRate", 0) >= 2 for r in state["Retry"]), name
        if name != "DeadLetter":
            assert state["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DeadLetter"}


def test_an_answered_burst_costs_only_the_transitions_it_needs() -> None:
    # Wait, read and route until due, then Process and Reply: Reply ends the execution, with no state after it.
    states = json.loads(render(ASL.read_text(), VALUES))["States"]
    assert states["Process"]["Next"] == "Reply"
    assert states["Reply"].get("End") is True
    # A held reply lease is the only other way out of Reply besides the DLQ: a wait, then Reply again.
    assert [c["Next"] for c in states["Reply"]["Catch"]] == ["WaitForReplyLease", "DeadLetter"]
    assert states["WaitForReplyLease"]["Next"] == "Reply"


def _templatefile_keys(main_tf: str) -> set[str]:
    """The names modules/step_functions passes to templatefile(var.definition_path, {...})."""
    block = re.search(r"templatefile\(var\.definition_path, \{(.*?)\n\s*\}\)", main_tf, re.DOTALL)
    assert block is not None, "modules/step_functions renders no definition with templatefile()"
    return set(re.findall(r"^\s*([a-z_][a-z0-9_]*)\s*=", block.group(1), re.MULTILINE))


def test_terraform_and_the_local_runtime_supply_every_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    from debouncer.local import runtime as runtime_module

    needed = placeholders(ASL.read_text())
    assert _templatefile_keys((ROOT / "modules" / "step_functions" / "main.tf").read_text()) == needed
    rendered: list[dict[str, str]] = []

    def spy(path: Path, values: dict[str, str]) -> str:
        rendered.append(dict(values))
        return render_file(path, values)

    monkeypatch.setattr(runtime_module, "render_file", spy)
    for workflow_type in ("STANDARD", "EXPRESS"):
        runtime = runtime_module.LocalRuntime({"WORKFLOW_TYPE": workflow_type}, name=f"placeholders-{workflow_type}")
        runtime.start()
        runtime.stop()
    assert [set(values) for values in rendered] == [needed, needed]


def test_service_integrations_name_the_partition_and_never_hard_code_aws() -> None:
    template = ASL.read_text()
    assert "arn:aws:" not in template
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        states = json.loads(render(template, {**VALUES, "partition": partition}))["States"]
        resources = [s["Resource"] for s in states.values() if s["Type"] == "Task"]
        assert resources and all(r.startswith(f"arn:{partition}:states:::") for r in resources), resources


def test_a_lambda_timeout_is_retried_by_its_own_bounded_retrier_not_by_states_all() -> None:
    states = json.loads(render(ASL.read_text(), {**VALUES, "timeout_retry_max_attempts": "0"}))["States"]
    for name in ("Process", "Reply"):
        retriers = states[name]["Retry"]
        timeouts = [r for r in retriers if "Lambda.Unknown" in r["ErrorEquals"]]
        assert len(timeouts) == 1, name
        assert set(timeouts[0]["ErrorEquals"]) == {"Lambda.Unknown", "Sandbox.Timedout", "States.Timeout"}
        assert timeouts[0]["MaxAttempts"] == 0
        # The first retrier naming an error wins: the timeout one comes before the catch-all.
        assert retriers.index(timeouts[0]) < len(retriers) - 1
        assert retriers[-1]["ErrorEquals"] == ["States.ALL"]
