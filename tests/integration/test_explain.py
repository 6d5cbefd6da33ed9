"""`debouncer explain --table`: a deployment's table and Standard execution history, here the emulator's."""

from __future__ import annotations

import json
import uuid

import pytest

from debouncer.cli import main
from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import AIRequest
from debouncer.local.runtime import REGION
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, wait_for


@pytest.mark.workflow_types("STANDARD")
def test_a_dead_lettered_burst_is_explained_from_the_table_and_the_execution_history(
    start_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a burst whose AI fails for good, with no fallback message: dead-lettered
    runtime = start_runtime()
    user = "1555" + uuid.uuid4().hex[:8]

    def refuse(request: AIRequest) -> str:
        raise PermanentError("model refused")

    runtime.handlers["process_message"].processors.default._ai.answer = refuse
    assert (
        post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}", "hi")))[0] == 200
    )
    wait_for(lambda: runtime.executions() and executions_settled(runtime), timeout=30)
    capsys.readouterr()

    # WHEN an operator explains the conversation from the table and the state machine, as JSON
    args = ["explain", "--table", runtime.table_name, "--region", REGION, "--channel", "whatsapp"]
    with runtime.emulator.running_as("operator"):
        status = main([*args, "--recipient", user, "--state-machine-arn", runtime.state_machine_arn, "--json"])
        missing = main([*args, "--recipient", "1555" + uuid.uuid4().hex[:8]])

    # THEN it shows the claim, the AI's failure and the dead letter with its reason, and the failed execution
    assert status == 0 and missing == 1
    [conversation] = json.loads(capsys.readouterr().out)["conversations"]
    events = conversation["events"]
    kinds = [e["kind"] for e in events]
    assert (
        kinds.index("timer_started") < kinds.index("claimed") < kinds.index("ai_failed") < kinds.index("dead_lettered")
    )
    assert next(e for e in events if e["kind"] == "dead_lettered")["details"] == {"reason": "model refused"}
    assert next(e for e in events if e["kind"] == "timer_started")["details"]["status"] == "FAILED"
    assert next(e for e in events if e["kind"] == "ai_failed")["details"]["ai_latency"] >= 0
