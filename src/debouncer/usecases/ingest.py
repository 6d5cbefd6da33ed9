"""Use case: accept normalized messages into their conversation buffers and start timers for new bursts."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from aws_lambda_powertools import Logger

from debouncer.domain.burst import is_flush_keyword, iso_second, ordered, should_flush
from debouncer.domain.errors import RetryableError
from debouncer.domain.models import BusinessEcho, Inbound, InboundMessage, MessageChange
from debouncer.domain.ports import ConversationControl, MessageBuffer, Timer
from debouncer.domain.privacy import conversation_ref

logger = Logger(child=True)


@dataclass(frozen=True)
class IngestResult:
    """Counts for the webhook's 200 answer and the logs."""

    accepted: int
    duplicates: int
    changes: int = 0  # edits and deletes applied to a waiting message
    handoffs: int = 0  # human answers from the business inbox that paused the bot
    # Early flushes started, by reason: a flush keyword, max_messages reached, max_buffer_bytes reached.
    flushes_keyword: int = 0
    flushes_max_messages: int = 0
    flushes_max_bytes: int = 0

    def __add__(self, other: IngestResult) -> IngestResult:
        """Both counts together (one POST may hold messages for several tenants)."""
        return IngestResult(
            self.accepted + other.accepted,
            self.duplicates + other.duplicates,
            self.changes + other.changes,
            self.handoffs + other.handoffs,
            self.flushes_keyword + other.flushes_keyword,
            self.flushes_max_messages + other.flushes_max_messages,
            self.flushes_max_bytes + other.flushes_max_bytes,
        )


class Ingest:
    """One buffer write per message; a Step Functions call only when a burst opens or must flush."""

    def __init__(
        self,
        buffer: MessageBuffer,
        timer: Timer,
        *,
        max_messages: int,
        max_buffer_bytes: int,
        flush_keywords: Sequence[str] = (),
        control: ConversationControl | None = None,
        handoff_seconds: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._buffer = buffer
        self._control = control
        self._handoff_seconds = handoff_seconds
        self._timer = timer
        self._max_messages = max_messages
        self._max_bytes = max_buffer_bytes
        self._keywords = tuple(flush_keywords)
        self._clock = clock

    def accept(self, items: Sequence[Inbound]) -> IngestResult:
        """Buffer each message, then apply edits and deletes and take echoes in; raises RetryableError when a retry
        (the channel's redelivery) can succeed."""
        messages = [item for item in items if isinstance(item, InboundMessage)]
        result = self._buffer_messages(messages)
        # After the messages: a notification that carries a message and its edit applies the edit to it.
        changes = sum(self._change(item) for item in items if isinstance(item, MessageChange))
        handoffs = sum(self._echo(item) for item in items if isinstance(item, BusinessEcho))
        return replace(result, changes=changes, handoffs=handoffs)

    def _change(self, change: MessageChange) -> bool:
        if self._control is None:
            return False
        outcome = self._control.apply_change(change, self._clock())
        # An edit or delete of a message already answered (or not received) changes nothing: said, never refused.
        log = logger.info if outcome == "applied" else logger.warning
        log(
            f"{change.change} {outcome}",
            channel=change.channel,
            conversation_ref=conversation_ref(change.conversation_key),
            outcome=outcome,
        )
        return outcome == "applied"

    def _echo(self, echo: BusinessEcho) -> bool:
        """A human answering from the business inbox pauses the bot for handoff_seconds (never shortening a pause)."""
        if self._control is None or self._handoff_seconds == 0:
            return False
        now = self._clock()
        if not echo.human and self._control.is_own_echo(echo, now):
            return False
        until = self._control.pause(echo.conversation_key, now + self._handoff_seconds, now, extend_only=True)
        logger.info(
            "human took the conversation over: bot paused",
            channel=echo.channel,
            conversation_ref=conversation_ref(echo.conversation_key),
            paused_seconds=round(until - now),
        )
        return True

    def _buffer_messages(self, messages: Sequence[InboundMessage]) -> IngestResult:
        accepted = duplicates = 0
        flushes: Counter[str] = Counter()
        for message in ordered(messages):
            now = self._clock()
            result = self._buffer.append(message, now)
            # The execution sleeps until the burst could be due before its first read; a flush looks at once
            # (a whole second that has already begun: iso_second rounds up).
            at_once = iso_second(now - 1)
            due = result.quiet_deadline or at_once
            keyword = is_flush_keyword(message, self._keywords)
            if result.full:
                # The open burst cannot take this message and still be answered within one DynamoDB item: flush it
                # now; the channel's redelivery (after the 503) then opens the next burst with this message.
                self._timer.start(message.conversation_key, result.burst, wake_at=at_once, flush=True)
                raise RetryableError(f"the open burst of {result.size} bytes has no room for one more message yet")
            if result.duplicate:
                flush = keyword or should_flush(result.count, result.size, self._max_messages, self._max_bytes)
                duplicates += 1
                # A redelivery of the message that opened the burst: its first delivery may have failed between the
                # buffer write and StartExecution. Starting again is idempotent on Standard (on Express it costs an
                # execution that finds the burst claimed), so the burst always has a timer. Later messages never
                # started one, so their redeliveries need none.
                if result.opened_burst:
                    self._timer.start(message.conversation_key, result.burst, wake_at=due)
                if flush:
                    self._timer.start(message.conversation_key, result.burst, wake_at=at_once, flush=True)
                continue
            accepted += 1
            # Only the message that crosses max_messages flushes; later arrivals ride along with that flush.
            flush = keyword or result.count == self._max_messages or result.size >= self._max_bytes
            if result.opened_burst:
                self._timer.start(message.conversation_key, result.burst, wake_at=due)
            if flush:
                self._timer.start(message.conversation_key, result.burst, wake_at=at_once, flush=True)
                reason = "keyword" if keyword else "max_messages" if result.count == self._max_messages else "bytes"
                flushes[reason] += 1
        return IngestResult(
            accepted=accepted,
            duplicates=duplicates,
            flushes_keyword=flushes["keyword"],
            flushes_max_messages=flushes["max_messages"],
            flushes_max_bytes=flushes["bytes"],
        )
