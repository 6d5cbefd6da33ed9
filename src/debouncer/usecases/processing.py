"""Use case: claim a due burst exactly once, record the turn and get the AI's answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger

from debouncer.domain.burst import concatenate
from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import (
    AIProvider,
    AIRequest,
    ChannelSender,
    HistoryEntry,
    MessageBuffer,
    OutboundMessage,
    Turn,
)
from debouncer.media.model import Part
from debouncer.media.parts import burst_parts
from debouncer.media.resolve import MediaResolver

logger = Logger(child=True)

# Kept back from the function's deadline for what follows a failed AI call: recording the fallback or the failure
# (a DynamoDB write or two) and returning, so that a hanging AI ends as an AI failure rather than a Lambda timeout.
FINISH_SECONDS = 5.0


class Processor:
    """What process_message does: claim (conditional on the burst number), call the AI once, store its answer."""

    def __init__(
        self,
        buffer: MessageBuffer,
        ai: AIProvider,
        *,
        system_prompt: str,
        history_turns: int,
        fallback_message: str = "",
        presence: Mapping[str, ChannelSender] | None = None,
        media: MediaResolver | None = None,
        supersede: bool = True,
        clock: Callable[[], float] = time.time,
        finish_seconds: float = FINISH_SECONDS,
    ) -> None:
        self._buffer = buffer
        self._ai = ai
        self._system_prompt = system_prompt
        self._history_turns = history_turns
        self._fallback_message = fallback_message
        self._presence = presence or {}
        self._media = media
        self._supersede = supersede
        self._clock = clock
        self._finish_seconds = finish_seconds

    def process(
        self,
        conversation_key: str,
        burst: int,
        claimer: str,
        *,
        deadline: float | None = None,
        only_if_due: bool = False,
    ) -> dict[str, Any]:
        """{"claimed": False} when another execution owns the burst or nothing is left to answer.

        "ai_failed" is true when the answer is the fallback message recorded because the AI failed for good: the state
        machine sends it, then reply dead-letters the burst with the AI's error (once, whichever run gets there).
        `deadline` (on the clock's scale) is when the function is stopped: an AI still silent shortly before it has
        failed for good, and takes the same path as any other AI failure while there is time to record it.
        `only_if_due`: raise BurstNotDueError when a later message moved the burst's deadline past now.
        """
        now = self._clock()
        turn = self._buffer.claim(
            conversation_key, burst, claimer, now, supersede=self._supersede, only_if_due=only_if_due
        )
        if turn is not None and turn.carried:
            logger.info("burst carries superseded turns", carried=len(turn.carried), messages=len(turn.messages))
        # Nothing to answer: every message deleted, or written while a human had the conversation (history only); or
        # a later burst superseded this one, and answers its messages.
        if turn is None or not turn.to_answer or turn.failed or turn.superseded or turn.withheld:
            return {"claimed": False, "ai_failed": False}
        # A retry after a crash, or a duplicate run, finds the answer (or the fallback) already recorded.
        ai_failed = turn.ai_failure is not None
        ai_latency_ms: float | None = None
        if turn.answer is None:
            self._show_typing(turn)
            request = AIRequest(
                self._system_prompt, turn.to_answer, self._history(turn), parts=self._media_parts(turn, deadline)
            )
            asked = self._clock()
            try:
                answer = self._ask(request, deadline)
            except PermanentError as error:
                ai_latency_ms = (self._clock() - asked) * 1000
                if not self._fallback_message:
                    # Only the run that marks the turn failed dead-letters it; a duplicate run (Express runs at
                    # least once) that lost the race leaves it to that one, or replies with its answer.
                    if self._buffer.record_ai_failure(conversation_key, burst, str(error), self._clock()):
                        raise
                    return self._claimed(turn, ai_failed=False, ai_latency_ms=ai_latency_ms)
                logger.warning("AI failed for good; recording the fallback reply", extra={"error": str(error)})
                failure = f"{type(error).__name__}: {error}"
                self._buffer.record_answer(conversation_key, burst, self._fallback_message, ai_failure=failure)
                ai_failed = True  # if another run recorded its answer first, reply finds no failure to report
            else:
                ai_latency_ms = (self._clock() - asked) * 1000
                self._buffer.record_answer(conversation_key, burst, answer)
        return self._claimed(turn, ai_failed, ai_latency_ms=ai_latency_ms)

    def _media_parts(self, turn: Turn, deadline: float | None) -> tuple[Part, ...]:
        """The burst as one multimodal turn: its media read once (a retry or a duplicate run finds them recorded on
        the turn, and stored), and placeholders for what could not be read. Empty without media or a media bucket."""
        messages = turn.to_answer
        if self._media is None or not any(m.media for m in messages):
            return ()
        resolved = turn.media
        if resolved is None:
            resolved = self._media.resolve(turn.conversation_key, turn.burst, messages, deadline=deadline)
            self._buffer.record_media(turn.conversation_key, turn.burst, resolved)
        return burst_parts(messages, resolved, self._media.load)

    def _ask(self, request: AIRequest, deadline: float | None) -> str:
        """The AI's answer, or PermanentError once it has not come by the deadline less the time to finish."""
        if deadline is None:
            return self._ai.answer(request)
        remaining = deadline - self._clock()
        # On a function given only a few seconds, the AI still gets at least half of them.
        budget = max(0.0, remaining - min(self._finish_seconds, remaining / 2))
        outcome: list[str | BaseException] = []
        done = threading.Event()

        def ask() -> None:
            try:
                outcome.append(self._ai.answer(request))
            except BaseException as error:  # handed to the caller's thread, which raises it
                outcome.append(error)
            finally:
                done.set()

        # A daemon thread: an AI call past the deadline cannot be interrupted, only abandoned (its answer is dropped).
        threading.Thread(target=ask, name="ai-answer", daemon=True).start()
        if not done.wait(budget):
            raise PermanentError(
                f"AI timed out: no answer within {budget:.1f} s, the time process_message had left before its own "
                "timeout"
            )
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    @staticmethod
    def _claimed(turn: Turn, ai_failed: bool, *, ai_latency_ms: float | None) -> dict[str, Any]:
        """The result, with what the handler's metrics take from it: the burst's size, its media, the AI's latency
        (None when this run did not ask the AI), and whether the burst was claimed at its cap while still written to.
        """
        return {
            "claimed": True,
            "messages": len(turn.to_answer),
            "media_items": sum(len(m.media) for m in turn.to_answer),
            "duplicates_dropped": len(turn.dropped_duplicates),
            "ai_failed": ai_failed,
            "ai_latency_ms": ai_latency_ms,
            "claimed_at_max_wait": turn.claim_reason == "max_wait",
        }

    def _history(self, turn: Turn) -> tuple[HistoryEntry, ...]:
        if not self._ai.uses_history or self._history_turns == 0:
            return ()
        history = self._buffer.history(turn.conversation_key, turn.burst, self._history_turns)
        held = [m for m in turn.messages if m.message_id in turn.held]
        if held:
            # Written while a human had the conversation, and claimed with messages after it: context, not a question.
            history.append(HistoryEntry(user=concatenate(held), assistant=None))
        return tuple(history)

    def _show_typing(self, turn: Turn) -> None:
        """Presence is a courtesy: its failure never costs the user their answer."""
        sender = self._presence.get(turn.to_answer[0].channel)
        if sender is None:
            return
        try:
            sender.show_typing(OutboundMessage.answering(turn.to_answer, ""))
        except Exception:  # any failure of a courtesy call is logged and ignored
            logger.warning("could not show typing", exc_info=True)
