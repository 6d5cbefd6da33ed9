"""process_message bounds the AI by its own deadline: a hanging AI becomes an AI failure while there is time left."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from tests.builders import inbound

from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import AIRequest, Turn
from debouncer.usecases.processing import Processor

KEY = "whatsapp#1#2"
FALLBACK = "Sorry, we will answer shortly."


class Buffer:
    """Just what Processor.process touches, recording the writes."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str | None]] = []
        self.ai_failures: list[str] = []

    def claim(
        self,
        conversation_key: str,
        burst: int,
        claimer: str,
        now: float,
        *,
        supersede: bool = False,
        only_if_due: bool = False,
    ) -> Turn:
        return Turn(conversation_key, burst, (inbound("1", "hello"),), claimer)

    def record_answer(self, conversation_key: str, burst: int, answer: str, ai_failure: str | None = None) -> None:
        self.answers.append((answer, ai_failure))

    def record_ai_failure(self, conversation_key: str, burst: int, reason: str, now: float) -> bool:
        self.ai_failures.append(reason)
        return True


class HangingAI:
    """An AI that answers only once released (or never)."""

    uses_history = False

    def __init__(self) -> None:
        self.release = threading.Event()

    def answer(self, request: AIRequest) -> str:
        self.release.wait(30)
        return "late answer"


def _processor(buffer: Buffer, ai: Any, fallback: str = "") -> Processor:
    return Processor(buffer, ai, system_prompt="", history_turns=0, fallback_message=fallback)  # type: ignore[arg-type]


def test_an_ai_silent_until_the_deadline_fails_in_time_to_record_the_fallback() -> None:
    buffer, ai = Buffer(), HangingAI()
    started = time.monotonic()

    result = _processor(buffer, ai, FALLBACK).process(KEY, 1, "exec", deadline=time.time() + 2)

    # half of the 2 s left (the other half is kept to finish), well before the deadline
    assert 0.8 < time.monotonic() - started < 1.5
    assert result["ai_failed"] is True
    [(answer, failure)] = buffer.answers
    assert answer == FALLBACK
    assert failure is not None and failure.startswith("PermanentError: AI timed out")
    ai.release.set()


def test_without_a_fallback_the_timeout_is_recorded_and_raised_for_the_dead_letter_queue() -> None:
    buffer, ai = Buffer(), HangingAI()

    with pytest.raises(PermanentError, match="AI timed out") as raised:
        _processor(buffer, ai).process(KEY, 1, "exec", deadline=time.time() + 1)

    assert type(raised.value) is PermanentError  # the state machine matches the exact class name: no retry
    assert buffer.answers == [] and len(buffer.ai_failures) == 1
    ai.release.set()


def test_an_ai_answering_before_the_deadline_is_answered_and_its_errors_pass_through() -> None:
    buffer, ai = Buffer(), HangingAI()
    ai.release.set()
    assert _processor(buffer, ai).process(KEY, 1, "exec", deadline=time.time() + 10)["ai_failed"] is False
    assert buffer.answers == [("late answer", None)]

    class Refusing:
        uses_history = False

        def answer(self, request: AIRequest) -> str:
            raise PermanentError("HTTP 401 invalid_api_key, permanent")

    with pytest.raises(PermanentError, match="invalid_api_key"):
        _processor(Buffer(), Refusing()).process(KEY, 1, "exec", deadline=time.time() + 10)


def test_the_time_kept_to_finish_is_a_setting_of_the_processor() -> None:
    buffer, ai = Buffer(), HangingAI()
    processor = Processor(buffer, ai, system_prompt="", history_turns=0, finish_seconds=0.5)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(PermanentError, match=r"within 1\.[45] s"):
        processor.process(KEY, 1, "exec", deadline=time.time() + 2)
    assert 1.3 < time.monotonic() - started < 1.9
    ai.release.set()
