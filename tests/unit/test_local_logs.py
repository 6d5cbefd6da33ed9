"""The local server's console log: which of moto's records are designed behaviour, and a dead letter's one line."""

from __future__ import annotations

import json
import logging

import pytest

from debouncer.domain.privacy import conversation_ref
from debouncer.local import logs

DEFINITION = json.dumps(
    {
        "States": {
            "Process": {
                "Type": "Task",
                "Retry": [{"ErrorEquals": ["BurstNotDueError"]}, {"ErrorEquals": ["States.ALL"]}],
                "Catch": [{"ErrorEquals": ["PermanentError"], "Next": "DeadLetter"}],
            },
            "Failed": {"Type": "Fail", "Error": "BurstDeadLettered", "Cause": "on the dead-letter queue"},
        }
    }
)


def _moto_record(summary: str) -> logging.LogRecord:
    """A record as moto's eval_component writes it: the summary, then the component's repr."""
    args = (summary, "(Component| …)")
    return logging.LogRecord(logs.MOTO_EVALUATION_LOGGER, logging.ERROR, __file__, 1, "%s at '%s'", args, None)


def test_the_handled_errors_are_the_definitions_retries_catches_and_fail_states() -> None:
    assert logs.handled_errors(DEFINITION) == {"BurstNotDueError", "PermanentError", "BurstDeadLettered"}


@pytest.mark.parametrize(
    ("summary", "kept"),
    [
        ("Exception=NoSuchJsonPathError, Details=None-Available", False),
        ('Exception=FailureEventException, Error=PermanentError, Details={"cause": "…"}', False),
        ('Exception=FailureEventException, Error=BurstDeadLettered, Details={"cause": "…"}', False),
        ('Exception=FailureEventException, Error=States.Runtime, Details={"cause": "…"}', True),
        ("Exception=KeyError, Details=['pk']", True),
    ],
)
def test_only_moto_records_of_designed_failures_are_dropped(summary: str, kept: bool) -> None:
    designed = logs.DesignedFailures(logs.handled_errors(DEFINITION))
    assert designed.filter(_moto_record(summary)) is kept


def test_a_dead_letter_is_one_line_with_the_channels_reason_and_the_conversation_hashed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "whatsapp#123#+15551234567"
    cause = json.dumps(
        {
            "errorType": "PermanentError",
            "errorMessage": "whatsapp: HTTP 400: (#131026) Message undeliverable",
            "stackTrace": ['  File "replying.py", line 108, in _deliver\n' * 40],
        }
    )
    record = {"conversation_key": key, "burst": "17", "error": "PermanentError", "cause": cause}
    with caplog.at_level(logging.INFO, logger=logs.BURSTS.name):
        logs._dead_lettered(json.dumps({"QueueUrl": "q", "MessageBody": json.dumps(record)}))
    [line] = [r.getMessage() for r in caplog.records if r.name == logs.BURSTS.name]
    assert line == (
        f"burst 17 of {conversation_ref(key)} dead-lettered: PermanentError: whatsapp: HTTP 400: (#131026) "
        "Message undeliverable"
    )
    assert "5551234567" not in caplog.text
