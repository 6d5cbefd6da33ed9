"""Use case: claim a due burst exactly once, record the turn and get the AI's answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from debouncer.ports import AIProvider, AIRequest, MessageBuffer


class Processor:
    """What process_message does: claim (conditional on the burst number), call the AI once, store its answer."""

    def __init__(
        self,
        buffer: MessageBuffer,
        ai: AIProvider,
        *,
        system_prompt: str,
        history_turns: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._buffer = buffer
        self._ai = ai
        self._system_prompt = system_prompt
        self._history_turns = history_turns
        self._clock = clock

    def process(self, conversation_key: str, burst: int, claimer: str) -> dict[str, Any]:
        """Returns {"claimed": False} when another execution owns the burst or nothing is left to answer."""
        turn = self._buffer.claim(conversation_key, burst, claimer, self._clock())
        if turn is None or not turn.messages:
            return {"claimed": False}
        if turn.answer is None:
            history = (
                self._buffer.history(conversation_key, burst, self._history_turns) if self._ai.uses_history else []
            )
            answer = self._ai.answer(AIRequest(self._system_prompt, turn.messages, tuple(history)))
            self._buffer.record_answer(conversation_key, burst, answer)
        return {"claimed": True, "messages": len(turn.messages), "duplicates_dropped": len(turn.dropped_duplicates)}
